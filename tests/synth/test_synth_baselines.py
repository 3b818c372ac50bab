"""Synthesis and place-and-route of the real core against committed baselines (synth tier).

Each baseline in ``tests/synth/baselines/`` is a report written by the flow itself (``evoconn hw synth
--json`` / ``evoconn hw bitstream --target ecp5 --json``); the measured report must lie within
:data:`evoconn.hw.synth.TOLERANCES` of it, so an accidental blow-up (or block RAM lost to LUTs)
fails. CI runs the xc7z020 synthesis at N = 64 and 256 and the ECP5 flow at N = 16 (lanes 4);
the ECP5 N = 64 and 256 baselines are the committed table of docs/hardware.md.
To re-baseline after an intended change, run the command in the baseline's ``command`` field and
commit its output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evoconn.hw import toolchain
from evoconn.hw.synth import compare_to_baseline
from evoconn.spec import Spec

pytestmark = pytest.mark.synth

BASELINES = Path(__file__).with_name("baselines")
#: Where synth-tier builds are cached between runs (build/ is ignored by git).
BUILD = Path(os.environ.get("EVOCONN_SYNTH_BUILD", Path(__file__).resolve().parents[2] / "build" / "synth-tier"))


def _need(tool: str) -> None:
    try:
        toolchain.find_tool(tool)
    except toolchain.ToolError as e:
        pytest.skip(str(e))


def _baseline(name: str) -> dict:
    return json.loads((BASELINES / name).read_text())


@pytest.mark.parametrize("name", ["xc7z020_n64_l16.json", "xc7z020_n256_l16.json"])
def test_synth_xilinx_within_baseline(name):
    _need("yosys")
    from evoconn.hw.synth import synthesize

    base = _baseline(name)
    spec = Spec.from_dict(base["spec"])
    build = synthesize(spec, base["lanes"], part=base["part"], mask_ram=base["mask_ram"], build_root=BUILD)
    rep = build["report"]
    assert rep["spec_hash"] == spec.hash
    bad = compare_to_baseline(rep, base)
    assert not bad, f"{name}: " + "; ".join(bad) + f" (report {build.path / 'report.json'})"
    # the mask memories are in block RAM (ram_style block): mask_h at least one RAMB36E1
    assert rep["detail"]["ramb36e1"] + rep["detail"]["ramb18e1"] >= 1
    again = synthesize(spec, base["lanes"], part=base["part"], mask_ram=base["mask_ram"], build_root=BUILD)
    assert again.cached and again.path == build.path


@pytest.mark.parametrize("name", ["ecp5_n16_l4.json"])
def test_ecp5_bitstream_within_baseline(name):
    for tool in ("yosys", "nextpnr-ecp5", "ecppack"):
        _need(tool)
    from evoconn.hw.ecp5 import bitstream_ecp5

    base = _baseline(name)
    spec = Spec.from_dict(base["spec"])
    build = bitstream_ecp5(spec, base["lanes"], device=base["device"], package=base["package"],
                           freq_mhz=base["target_mhz"], mask_ram=base["mask_ram"], build_root=BUILD)
    summary = json.loads((build.path / "summary.json").read_text())
    bit = build.path / build["bitstream"]
    assert bit.stat().st_size > 10_000
    (clock,) = summary["fmax"]
    got, want = summary["fmax"][clock]["achieved_mhz"], base["fmax"][clock]["achieved_mhz"]
    assert got >= 0.85 * want, f"Fmax {got} MHz fell below 85% of the baseline {want} MHz"
    for cell in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD"):
        u, b = summary["utilization"].get(cell, {"used": 0}), base["utilization"].get(cell, {"used": 0})
        assert abs(u["used"] - b["used"]) <= max(0.1 * b["used"], 20), f"{cell}: {u['used']} vs {b['used']}"


def test_vivado_wrapper_elaborates_with_yosys(tmp_path, monkeypatch):
    """The generated evoconn_axil.v and core.v parse and link (every port of the core connected)."""
    _need("yosys")
    from evoconn.hw.vivado import VivadoMissing, vivado_project

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(VivadoMissing):
        vivado_project(Spec(n_neurons=32, obs_dim=3, act_dim=2, substeps=5), 8, build_root=tmp_path)
    (folder,) = tmp_path.glob("pynq-z2-*")
    yosys = toolchain.find_tool("yosys")
    (folder / "check.ys").write_text("read_verilog core.v evoconn_axil.v\nhierarchy -check -top evoconn_axil\n"
                                     "tee -o ports.txt select -list evoconn_axil/i:* evoconn_axil/o:*\n")
    yosys.run(["-q", "check.ys"], folder, folder / "check.log")
    ports = {p.split("/")[-1] for p in (folder / "ports.txt").read_text().split()}
    assert {"clk", "rst", "s_axi_awaddr", "s_axi_rdata", "s_axi_bresp"} <= ports
    assert not any(p.startswith("s_axil_") for p in ports)
