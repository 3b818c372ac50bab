"""cocotb: the synchronous reset (``rst``) of the exported core in the middle of its work.

Run by :func:`evoconn.sim.verify.verify` with ``reset=True``. The testbench drives the top's ``rst``
port (active high, synchronous: :mod:`evoconn.hw.export`) while

- an env step runs (STATUS reads BUSY), once early in the step and once late;
- an AXI4-Lite write is half taken: AW held and W not given; W held and AW not given; both taken and
  the B response pending (BREADY low);
- an AXI4-Lite read is half taken: AR taken and not answered yet; the R response pending (RREADY low).

After each, the documented reset state (hw/core.py, docs/spec.md, :class:`evoconn.spec.RegisterMap`)
is checked: every readable register reads its reset value (STATUS 0: not BUSY, DONE or LOADED, no
error), the memories keep their contents (the masks; the neuron state where the core was idle), a
half-taken write wrote nothing and a write whose response was pending was done. Then the host's
recovery runs, RESET_STATE and the masks reloaded (:meth:`EvoconnTB.run_case`), and the next
episode must equal the JAX model exactly. The AXI master (cocotbext-axi) watches the same ``rst``:
it flushes the interrupted operation (its ``write``/``read`` returns None) and starts clean.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer

from evoconn.spec import STATE_FIELDS, Access, Control, Status, pack_rows
from evoconn.spec import mask_rows as spec_mask_rows

from .cases import INTERRUPTIONS, Case, load_cases
from .tb import CLOCK_NS, EvoconnTB

__all__ = ["INTERRUPTIONS", "test_reset"]

#: Cycles ``rst`` is held (it is synchronous: one edge would do).
RST_CYCLES = 2
#: Cycles a half-taken transaction may take to reach the state the test interrupts.
REACH = 200


def _port(tb: EvoconnTB, name: str) -> int:
    return int(getattr(tb.dut, "s_axil_" + name).value)


async def _pulse_rst(tb: EvoconnTB) -> None:
    """``rst`` high for RST_CYCLES rising edges, set and released between edges (at a falling edge)."""
    tb.dut.rst.value = 1
    await ClockCycles(tb.clk, RST_CYCLES, rising=True)
    await FallingEdge(tb.clk)
    tb.dut.rst.value = 0
    await ClockCycles(tb.clk, 2)


async def _reset_when(tb: EvoconnTB, what: str, cond) -> None:
    """At the first falling edge where ``cond()`` holds on the AXI ports, assert ``rst`` (sampled at
    the next rising edge, where the registered ports still hold ``cond``), then release it."""
    for _ in range(REACH):
        await FallingEdge(tb.clk)
        if cond():
            await _pulse_rst(tb)
            return
    raise AssertionError(f"{what}: the transaction never reached the state to interrupt")


class _Held:
    """One channel of the master held (valid or ready low) for as long as the block runs."""

    def __init__(self, tb: EvoconnTB, channel: str):
        self.tb, self.channel = tb, channel

    def __enter__(self):
        self.tb.bus.hold(self.channel, True)

    def __exit__(self, *exc):
        self.tb.bus.hold(self.channel, False)


async def _interrupt(tb: EvoconnTB, kind: str, case: Case, probe: tuple[int, int]) -> dict:
    """Interrupt ``kind`` with ``rst``; returns what the memories must hold afterwards.

    ``probe`` is (byte address, new value) of a MASK_H word that the interrupted writes aim at.
    """
    master = tb.bus.master
    addr, value = probe
    data = int(value).to_bytes(4, "little")
    written = None  # the probe word's value after the reset, if a write reached it
    if kind in ("step_early", "step_late"):
        # the case's episode again from its start (its first step's cycles are the model's), its
        # first env step interrupted
        await tb.control(Control.RESET_STATE | Control.CLEAR_ERROR)
        if case.v0 is not None:
            await tb.write_v(case.v0)
        await tb.bus.write_block(tb.addr("OBS"), case.xq[0])
        await tb.control(Control.START)
        t0 = tb.now_cycles()
        total = int(case.cycles[0])  # the cycle model's, exact (test_model checks CYCLES against it)
        status = await tb.reg("STATUS")
        assert status & Status.BUSY, f"{kind}: STATUS 0x{status:x} is not BUSY after START"
        # early: an eighth into the step; late: a fifth (at least RST_CYCLES + 4 cycles) before its end
        at = total // 8 if kind == "step_early" else total - max(RST_CYCLES + 4, total // 5)
        while tb.now_cycles() - t0 < at:
            await RisingEdge(tb.clk)
        await FallingEdge(tb.clk)
        left = total - (tb.now_cycles() - t0)
        assert left > RST_CYCLES + 2, f"{kind}: the env step ends before the reset ({left} cycles left)"
        await _pulse_rst(tb)
        return {"state_kept": False, "written": None, "step_cycle": total - left, "step_cycles": total}
    if kind == "write_aw_held":
        with _Held(tb, "w"):
            task = cocotb.start_soon(master.write(addr, data))
            await _reset_when(tb, kind, lambda: not _port(tb, "awready") and _port(tb, "wready")
                              and not _port(tb, "bvalid"))
    elif kind == "write_w_held":
        with _Held(tb, "aw"):
            task = cocotb.start_soon(master.write(addr, data))
            await _reset_when(tb, kind, lambda: not _port(tb, "wready") and _port(tb, "awready")
                              and not _port(tb, "bvalid"))
    elif kind == "write_b_pending":
        with _Held(tb, "b"):
            task = cocotb.start_soon(master.write(addr, data))
            await _reset_when(tb, kind, lambda: _port(tb, "bvalid") and not _port(tb, "bready"))
        written = value  # both halves were taken: the write was done before its response
    elif kind == "read_ar_taken":
        task = cocotb.start_soon(master.read(tb.addr("ID"), 4))
        await _reset_when(tb, kind, lambda: not _port(tb, "arready") and not _port(tb, "rvalid"))
    elif kind == "read_r_pending":
        with _Held(tb, "r"):
            task = cocotb.start_soon(master.read(tb.addr("ID"), 4))
            await _reset_when(tb, kind, lambda: _port(tb, "rvalid") and not _port(tb, "rready"))
    else:
        raise ValueError(kind)
    result = await task
    assert result is None, f"{kind}: the master's interrupted operation was answered ({result}), not flushed"
    return {"state_kept": True, "written": written}


async def _check_reset_state(tb: EvoconnTB, kind: str, case: Case, before: np.ndarray | None,
                             probe: tuple[int, int], written: int | None) -> bool:
    """Registers at their reset values; masks (and, where the core was idle, the state) kept."""
    sb, ok = tb.sb, True
    # the AXI target is idle again: every channel ready, no response waiting
    for port, idle in (("awready", 1), ("wready", 1), ("arready", 1), ("bvalid", 0), ("rvalid", 0)):
        ok &= sb.compare(case, None, f"{port} after rst ({kind})", idle, _port(tb, port), when="rst")
    for name, reg in tb.rmap.registers.items():
        if reg.access is Access.WO:
            continue
        ok &= sb.compare(case, None, f"{name} after rst ({kind})", reg.reset, await tb.reg(name), when="rst")
    rows = spec_mask_rows(tb.spec, {"mask_in": case.mask_in, "mask_h": case.mask_h, "mask_out": case.mask_out})
    for name, key in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out")):
        want = pack_rows(rows[key]).reshape(-1).astype(np.int64)
        if name == "MASK_H":
            word = (probe[0] - tb.addr("MASK_H")) // 4
            want[word] = written if written is not None else want[word]
        got = await tb.bus.read_block(tb.addr(name), want.size)
        ok &= sb.compare(case, None, f"{name} kept over rst ({kind})", want, got, when="rst")
    if before is not None:
        st, _ = await tb.read_state()
        ok &= sb.compare(case, None, f"state kept over rst ({kind})", before, st, when="rst", fields=STATE_FIELDS)
    return ok


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def test_reset(dut):
    """``rst`` in the middle of an env step and of AXI writes and reads: reset state, then exact."""
    spec, lanes, cases, meta = load_cases(Path(os.environ["EVOCONN_SIM_CASES"]))
    assert len(cases) == len(INTERRUPTIONS) + 1, f"{len(INTERRUPTIONS) + 1} cases expected, got {len(cases)}"
    tb = EvoconnTB(dut, pauses=meta["pauses"], idle=meta["pauses"], seed=meta["seed"], replay=meta.get("replay", ""))
    await tb.reset()
    await tb.identify(spec, lanes)
    c0, t0 = tb.now_cycles(), time.perf_counter()
    resets: list[dict] = []
    try:
        await _run(tb, cases, resets)
    finally:  # the report also when an assertion stopped the run (the mismatches before it kept)
        report = {"cases": len(cases), "steps": tb.steps, "compared": tb.sb.compared, "outputs": tb.sb.outputs,
                  "state_words": tb.sb.state_words, "mismatches": tb.sb.mismatches,
                  "failed_cases": tb.sb.failed_cases, "sim_cycles": tb.now_cycles() - c0,
                  "step_cycles": tb.dut_cycles, "wall_s": time.perf_counter() - t0, "bus_reads": tb.bus.reads,
                  "bus_writes": tb.bus.writes, "summary": tb.sb.summary(), "resets": resets}
        Path(os.environ["EVOCONN_SIM_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")
    assert not tb.sb.mismatches, tb.sb.summary()


async def _run(tb: EvoconnTB, cases: list[Case], resets: list[dict]) -> None:
    """Case 0's episode; then per interruption: ``rst`` in it, the reset state, the next episode.
    Stops at the first reset or episode that mismatches (what follows it says nothing new)."""
    spec = tb.spec
    if not await tb.run_case(cases[0]):
        return
    for i, kind in enumerate(INTERRUPTIONS):
        prev = cases[i]  # its masks are loaded, its episode's state is in the memories
        before = None
        if kind not in ("step_early", "step_late"):
            before, _ = await tb.read_state()
        # the probe: MASK_H word 0 with its bits flipped (a write that lands shows)
        rows = spec_mask_rows(spec, {"mask_in": prev.mask_in, "mask_h": prev.mask_h, "mask_out": prev.mask_out})
        old = int(pack_rows(rows["mask_h"]).reshape(-1)[0])
        probe = (tb.addr("MASK_H"), ~old & 0xFFFFFFFF & ((1 << min(32, spec.n_neurons)) - 1))
        got = await _interrupt(tb, kind, prev, probe)
        ok = await _check_reset_state(tb, kind, prev, before if got["state_kept"] else None, probe, got["written"])
        resets.append({"kind": kind, "after_case": prev.index, "reset_state_ok": bool(ok),
                       **{k: v for k, v in got.items() if k.startswith("step_")}})
        if not ok:
            return
        await Timer(CLOCK_NS, unit="ns")
        await RisingEdge(tb.clk)
        if not await tb.run_case(cases[i + 1]):  # RESET_STATE, masks reloaded, the episode
            return
