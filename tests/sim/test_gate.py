"""The rtl tier at gate level (issue 11): the ECP5 flow's post-synthesis netlist, simulated with
Yosys's own cell models (and our DP16KD, :mod:`evoconn.sim.gate`) under the same cocotb bench and
scoreboard, equals the JAX model bit for bit, so a synthesis or memory-inference mismatch cannot
hide behind the RTL simulation.

One synthesis serves the module (N = 16, lanes 4: 11-22 s of Yosys here, cached under
``build/sim/netlist/`` for the rest of the run). The gate-level simulation runs about 20-35 times
slower than the RTL's (docs/hardware.md, "Gate-level simulation"), so the run is a few env steps:
every case kind, two steps each, and the bus-protocol test (refused accesses, ERR_ADDR, the busy
checks, the masks read back out of the block RAM).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from evoconn.hw import toolchain
from evoconn.sim.cases import KINDS, expected_compared, make_cases
from evoconn.sim.gate import DP16KD_MODEL, NETLIST_FAULTS, gate_netlist
from evoconn.sim.runner import BUILD_ROOT
from evoconn.sim.verify import verify
from evoconn.spec import Spec

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=3, substeps=8)
LANES = 4


def _need_yosys() -> None:
    try:
        toolchain.find_tool("yosys")
    except toolchain.ToolError as e:
        pytest.skip(str(e))


def test_ecp5_netlist_equals_jax_model():
    _need_yosys()
    cases, steps = len(KINDS), 2
    rep = verify(SPEC, LANES, cases=cases, steps=steps, seed=0, state_every=1, gate="ecp5", protocol=True)
    print(rep.text())
    assert rep.passed, rep.text()
    assert rep.mismatches == [] and rep.failed == {}
    assert (rep.cases, rep.steps) == (cases, cases * steps)
    want = expected_compared(SPEC, make_cases(SPEC, 0, cases, steps, 1))
    assert rep.compared == want, f"the scoreboard compared {rep.compared} integers, the plan has {want}"
    # what ran was the mapped netlist: ECP5 cells only, no behavioural process or memory left
    net = gate_netlist(SPEC, LANES, "ecp5", build_root=BUILD_ROOT / "netlist")
    assert rep.gate == "ecp5" and rep.build_dir.name.endswith("-gate-ecp5")
    assert net.cells.get("DP16KD") == 4, net.cells  # the three mask memories and rho in block RAM (ram_style)
    assert {"TRELLIS_DPR16X4", "TRELLIS_FF", "LUT4", "CCU2C"} <= set(net.cells), net.cells
    text = net.netlist.read_text()
    assert "always" not in text and "\n  reg " not in text


def test_gate_level_check_fails_on_a_broken_netlist():
    """The check can fail where the RTL simulation cannot look: ``bram_dout_swapped`` exchanges two
    read-data pins of MASK_IN's block RAM in the correct core's netlist, so neurons 0 and 1 take
    each other's input connections; their I_in (and v) come out exchanged."""
    _need_yosys()
    fault = "bram_dout_swapped"
    rep = verify(SPEC, LANES, cases=1, steps=1, seed=0, state_every=1, gate="ecp5", fault=fault)
    print(rep.text())
    assert not rep.passed
    assert set(rep.failed) == {"test_model"}, rep.failed
    assert {r.get("neuron") for r in rep.mismatches} == {0, 1}, rep.summary
    i_in = {r["neuron"]: (r["expected"], r["actual"]) for r in rep.mismatches if r.get("field") == "i_in"}
    assert i_in[0] == i_in[1][::-1] and i_in[0][0] != i_in[0][1]
    assert rep.summary.startswith("ecp5 netlist != JAX model")
    assert f"--gate ecp5 --fault {fault} --case 0 --waves" in rep.summary


def test_a_netlist_fault_needs_a_gate_level_run():
    with pytest.raises(ValueError, match="gate-level"):
        verify(SPEC, LANES, cases=1, steps=1, fault=next(iter(NETLIST_FAULTS)))


def _dp16kd_bench(tmp_path, name: str) -> str:
    """Our DP16KD model on the directed bench ``name`` (beside this file), under Icarus: its output."""
    vvp = tmp_path / "tb.vvp"
    bench = Path(__file__).with_name(name)
    subprocess.run([shutil.which("iverilog"), "-g2012", "-o", str(vvp), str(bench), str(DP16KD_MODEL)], check=True)
    return subprocess.run([shutil.which("vvp"), "-n", str(vvp)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("bench", "checks"), [("dp16kd_tb.v", 13), ("dp16kd_x18_tb.v", 12)])
def test_dp16kd_model(tmp_path, bench, checks):
    """Our DP16KD model (Yosys has none) does what its header says, on a directed bench per mode.
    x36 (the masks): INITVAL layout, a full and a byte-enabled write, CEB and chip select holding
    the output, a collision read as X on exactly the written bytes, a synchronous reset. x18 (rho,
    core 1.2): INITVAL words, a full and a byte-enabled write, READBEFOREWRITE's old word on DOA,
    port A reading back, CEB holding DOB, a collision read as X on exactly the written byte, RSTB."""
    out = _dp16kd_bench(tmp_path, bench)
    assert "FAIL" not in out, out
    assert f"DONE {checks}" in out, out
