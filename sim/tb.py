"""cocotb testbenches on the exported core: the RTL equals the JAX integer model, bit for bit.

Run by :mod:`evoconn.sim.runner` (never import cocotb_tools here). The cases and their expected
traces arrive as an ``.npz`` (``EVOCONN_SIM_CASES``, written by :mod:`evoconn.sim.verify`); the
scoreboard's report goes to ``EVOCONN_SIM_REPORT`` as JSON.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from evoconn.host.core import BusError
from evoconn.spec import (
    CORE_ID,
    CORE_VERSION,
    REGISTER_OFFSETS,
    STATE_FIELDS,
    Control,
    CycleModel,
    IdentityMismatch,
    RegisterMap,
    Spec,
    Status,
    identify_async,
    pack_rows,
)
from evoconn.spec import mask_rows as spec_mask_rows

from .bus import AxilBus
from .cases import Case, load_cases

__all__ = ["EvoconnTB", "Scoreboard"]

CLOCK_NS = 10


def _s32(words) -> np.ndarray:
    """32-bit words as signed ints (the core sign-extends signed fields into the word)."""
    return np.asarray(words, dtype=np.uint32).view(np.int32).astype(np.int64)


class Scoreboard:
    """Exact comparison of expected and actual integers; keeps the first mismatches with context."""

    def __init__(self, replay: str, keep: int = 20, dut: str = "RTL"):
        self.replay = replay
        self.dut = dut  # what is compared with the model: the RTL, or a gate-level netlist
        self.keep = keep
        self.compared = 0
        self.outputs = 0
        self.state_words = 0
        self.mismatches: list[dict] = []
        self.failed_cases: list[int] = []

    def compare(self, case: Case, step: int | None, what: str, expected, actual, *, when: str = "after",
                fields: tuple[str, ...] | None = None) -> bool:
        """Compare two integer arrays; ``fields`` names the last axis (then axis 0 is the neuron)."""
        exp = np.asarray(expected, dtype=np.int64)
        act = np.asarray(actual, dtype=np.int64)
        self.compared += exp.size
        if what == "out":
            self.outputs += exp.size
        elif what in ("state", "spike"):
            self.state_words += exp.size
        if exp.shape == act.shape and np.array_equal(exp, act):
            return True
        bad = np.argwhere(exp != act) if exp.shape == act.shape else [np.zeros(exp.ndim, int)]
        for pos in list(bad)[: max(1, self.keep - len(self.mismatches))]:
            pos = tuple(int(p) for p in pos)
            rec = {"case": case.index, "kind": case.kind, "case_seed": case.seed, "env_step": step,
                   "when": when, "what": what, "expected": int(exp[pos]) if exp.shape == act.shape else exp.tolist(),
                   "actual": int(act[pos]) if exp.shape == act.shape else act.tolist(),
                   "mismatching": int(len(bad)) if exp.shape == act.shape else -1}
            if fields is not None:
                rec["neuron"], rec["field"] = pos[0], fields[pos[1]] if len(pos) > 1 else what
            elif what == "spike":
                rec["word"] = pos[0]
            elif exp.ndim:
                rec["index"] = pos[0]
            self.mismatches.append(rec)
        if case.index not in self.failed_cases:
            self.failed_cases.append(case.index)
        return False

    def describe(self, rec: dict) -> str:
        where = f"case {rec['case']} ({rec['kind']}, case seed {rec['case_seed']}), env step {rec['env_step']}"
        where += " (state read right after RESET_STATE)" if rec["when"] == "reset" else ""
        if rec["when"] == "rst":  # the hardware-reset test (evoconn.sim.tb_reset): no env step, no sub-step
            return f"case {rec['case']} ({rec['kind']}): {rec['what']} expected {rec['expected']} got {rec['actual']}"
        what = rec["what"]
        if "neuron" in rec:
            what = f"neuron {rec['neuron']} {rec['field']}"
        elif "word" in rec:
            what = f"SPIKE word {rec['word']} (neurons {32 * rec['word']}..{32 * rec['word'] + 31})"
        elif "index" in rec:
            what = f"{rec['what']}[{rec['index']}]"
        exp, act = rec["expected"], rec["actual"]
        extra = f" ({rec['mismatching']} words differ)" if rec["mismatching"] > 1 else ""
        return (f"{where}: {what} expected {exp} got {act}{extra}; sub-step: not visible on the bus "
                f"(state is read after the K-th), find it in the waves (ctrl FSM, 'sub')")

    def summary(self) -> str:
        if not self.mismatches:
            return f"{self.compared} integers compared, no mismatch"
        first = self.mismatches[0]
        lines = [f"{self.dut} != JAX model: {len(self.mismatches)} mismatch(es) kept, cases {self.failed_cases}",
                 "first: " + self.describe(first)]
        lines += ["  also: " + self.describe(r) for r in self.mismatches[1:5]]
        how = "replay just that case with waves: " if "{case}" in self.replay else "replay the run with waves: "
        lines.append(how + self.replay.format(case=first["case"]))
        return "\n".join(lines)


class EvoconnTB:
    """Clock, reset, AXI4-Lite bus, the reference trace and the scoreboard, around one core.

    The core's sizes are read back from its registers (:meth:`identify`); the register map used from
    then on is built from those values, not from the case file.
    """

    def __init__(self, dut, *, pauses: float = 0.2, idle: float = 0.2, seed: int = 0, replay: str = "",
                 what: str = "RTL"):
        self.dut = dut
        self.clk = dut.clk
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        dut.rst.value = 1
        self.bus = AxilBus(dut, dut.clk, dut.rst, pauses=pauses, idle=idle, seed=seed)
        self.sb = Scoreboard(replay, dut=what)
        self.rmap: RegisterMap | None = None
        self.spec: Spec | None = None
        self.lanes = 0
        self.steps = 0
        self.dut_cycles = 0  # CYCLES summed over env steps

    # --- plumbing -----------------------------------------------------------------------------------
    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.clk, 2)

    def now_cycles(self) -> int:
        return int(cocotb.simtime.get_sim_time(unit="ns")) // CLOCK_NS

    def addr(self, name: str, word: int = 0) -> int:
        return self.rmap[name].offset + 4 * word

    async def reg(self, name: str) -> int:
        return await self.bus.read(self.addr(name))

    async def control(self, bits: Control) -> None:
        await self.bus.write(self.addr("CONTROL"), int(bits))

    # --- identity ----------------------------------------------------------------------------------
    async def identify(self, expect: Spec, expect_lanes: int) -> RegisterMap:
        """The host's identity check (:func:`evoconn.spec.identity_check`: ID, VERSION, SPEC_HASH and
        the sizes against the spec the cases assume), driven over the AXI4-Lite bus; then what the
        testbench asks beyond a host: the exact VERSION, ROW_WORDS and the lanes the cases assume."""
        try:
            found = await identify_async(self.bus.read, expect)
        except IdentityMismatch as e:
            raise AssertionError(str(e)) from None
        spec = found.spec
        assert found.version == CORE_VERSION, f"VERSION reads 0x{found.version:08x}, expected 0x{CORE_VERSION:08x}"
        row_words = await self.bus.read(REGISTER_OFFSETS["ROW_WORDS"])
        assert row_words == spec.row_words, f"ROW_WORDS {row_words} != {spec.row_words}"
        assert found.lanes == expect_lanes, f"LANES {found.lanes} != {expect_lanes}"
        self.spec, self.lanes = spec, found.lanes
        self.rmap = RegisterMap(spec, self.lanes)
        self.cycle_model = CycleModel(spec, self.lanes)
        return self.rmap

    # --- the core's operations ---------------------------------------------------------------------
    async def load_masks(self, case: Case) -> None:
        rows = spec_mask_rows(self.spec, {"mask_in": case.mask_in, "mask_h": case.mask_h,
                                          "mask_out": case.mask_out})
        for name, key in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out")):
            await self.bus.write_block(self.addr(name), pack_rows(rows[key]).reshape(-1))

    async def write_v(self, v0) -> None:
        """Membrane through the STATE window, as the host does: one block write over the whole window,
        v at word 4j of neuron j; the other three words carry junk, which the core ignores."""
        v0 = np.asarray(v0, dtype=np.int64)
        words = np.empty((len(v0), len(STATE_FIELDS)), np.int64)
        words[:, 0] = v0
        words[:, 1:] = ~v0[:, None] ^ np.arange(1, len(STATE_FIELDS))  # taken, they would change the trace
        await self.bus.write_block(self.addr("STATE"), (words.reshape(-1) & 0xFFFFFFFF).astype(np.uint32))

    async def read_state(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.spec.n_neurons
        words = await self.bus.read_block(self.addr("STATE"), len(STATE_FIELDS) * n)
        spike = await self.bus.read_block(self.addr("SPIKE"), self.spec.row_words)
        return _s32(words).reshape(n, len(STATE_FIELDS)), spike

    async def wait_done(self, expect_cycles: int, what: str) -> int:
        """Poll STATUS until BUSY drops; returns STATUS. Polls sparsely to keep the bus quiet."""
        gap = max(8, expect_cycles // 4)
        limit = 4 * expect_cycles + 1000
        t0 = self.now_cycles()
        while True:
            status = await self.reg("STATUS")
            if not status & Status.BUSY:
                return status
            if self.now_cycles() - t0 > limit:
                raise AssertionError(f"{what}: still BUSY after {limit} cycles (model: {expect_cycles})")
            await Timer(gap * CLOCK_NS, unit="ns")

    # --- one case ----------------------------------------------------------------------------------
    async def run_case(self, case: Case) -> bool:
        sb, spec = self.sb, self.spec
        await self.control(Control.RESET_STATE | Control.CLEAR_ERROR)
        await self.load_masks(case)
        if case.v0 is not None:
            await self.write_v(case.v0)
        ok = True
        for s in range(len(case.xq)):
            if s in case.reset_before:
                await self.control(Control.RESET_STATE)
                st, spike = await self.read_state()
                ok &= sb.compare(case, s, "state", np.zeros((spec.n_neurons, len(STATE_FIELDS))), st,
                                 when="reset", fields=STATE_FIELDS)
                ok &= sb.compare(case, s, "spike", np.zeros(spec.row_words), spike, when="reset")
            await self.bus.write_block(self.addr("OBS"), case.xq[s])
            await self.control(Control.START)
            status = await self.wait_done(int(case.cycles[s]), f"case {case.index} env step {s}")
            ok &= sb.compare(case, s, "STATUS", int(Status.DONE | Status.LOADED), status)
            out = _s32(await self.bus.read_block(self.addr("OUT"), spec.act_dim))
            ok &= sb.compare(case, s, "out", case.out[s], out)
            cycles = await self.reg("CYCLES")
            self.dut_cycles += cycles
            ok &= sb.compare(case, s, "CYCLES", case.cycles[s], cycles)
            ok &= sb.compare(case, s, "SPIKES", case.spikes[s], await self.reg("SPIKES"))
            if s in case.state_after:
                st, spike = await self.read_state()
                ok &= sb.compare(case, s, "state", case.state[s], st, fields=STATE_FIELDS)
                ok &= sb.compare(case, s, "spike", case.spike_words[s], spike)
            self.steps += 1
            if not ok:
                return False  # the rest of a diverged episode says nothing new
        return ok


def _replay_cmd(meta: dict) -> str:
    return meta.get("replay", "")


@cocotb.test()
async def test_model(dut):
    """Every case of the case file: outputs, state, spikes, STATUS and CYCLES equal the reference."""
    spec, lanes, cases, meta = load_cases(Path(os.environ["EVOCONN_SIM_CASES"]))
    tb = EvoconnTB(dut, pauses=meta["pauses"], idle=meta["pauses"], seed=meta["seed"], replay=_replay_cmd(meta),
                   what=meta.get("dut", "RTL"))
    await tb.reset()
    await tb.identify(spec, lanes)
    c0, t0 = tb.now_cycles(), time.perf_counter()
    for case in cases:
        await tb.run_case(case)
    wall = time.perf_counter() - t0
    report = {"cases": len(cases), "steps": tb.steps, "compared": tb.sb.compared, "outputs": tb.sb.outputs,
              "state_words": tb.sb.state_words, "mismatches": tb.sb.mismatches,
              "failed_cases": tb.sb.failed_cases, "sim_cycles": tb.now_cycles() - c0,
              "step_cycles": tb.dut_cycles, "wall_s": wall, "bus_reads": tb.bus.reads,
              "bus_writes": tb.bus.writes, "summary": tb.sb.summary()}
    Path(os.environ["EVOCONN_SIM_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")
    assert not tb.sb.mismatches, tb.sb.summary()


async def _expect_refused(tb: EvoconnTB, coro, what: str, addr: int, bit: Status) -> None:
    """The access answers OKAY (a bus error would raise BusError), reads 0 if it is a read, and is
    reported: STATUS = ERROR | ``bit`` (LOADED aside), ERR_ADDR = ``addr``; then CLEAR_ERROR."""
    try:
        value = await coro
    except BusError as e:
        raise AssertionError(f"{what}: answered an error response; the core must answer OKAY ({e})") from None
    if value is not None:
        assert int(value) == 0, f"{what}: a refused read answered 0x{int(value):x}, expected 0"
    status = await tb.reg("STATUS") & ~int(Status.LOADED)
    assert status == Status.ERROR | bit, f"{what}: STATUS 0x{status:x}, expected 0x{int(Status.ERROR | bit):x}"
    err_addr = await tb.reg("ERR_ADDR")
    assert err_addr == addr, f"{what}: ERR_ADDR 0x{err_addr:x}, expected 0x{addr:x}"
    await tb.control(Control.CLEAR_ERROR)
    assert await tb.reg("ERR_ADDR") == 0, f"{what}: CLEAR_ERROR left ERR_ADDR set"


@cocotb.test()
async def test_protocol(dut):
    """Refused accesses (OKAY, reported in STATUS and ERR_ADDR), refused writes while busy, START
    with nothing loaded."""
    spec, lanes, cases, meta = load_cases(Path(os.environ["EVOCONN_SIM_CASES"]))
    tb = EvoconnTB(dut, pauses=meta["pauses"], idle=meta["pauses"], seed=meta["seed"] + 1)
    await tb.reset()
    rmap = await tb.identify(spec, lanes)
    status = await tb.reg("STATUS")
    assert status == 0, f"STATUS after reset: 0x{status:x}, expected 0"

    # START with nothing loaded: ERROR|ERR_NOT_LOADED, nothing runs
    await tb.bus.write_block(tb.addr("OBS"), np.ones(spec.obs_dim, np.int32))
    await tb.control(Control.START)
    await ClockCycles(tb.clk, 5)
    status = await tb.reg("STATUS")
    assert status == Status.ERROR | Status.ERR_NOT_LOADED, f"START unloaded: STATUS 0x{status:x}"
    assert await tb.reg("CYCLES") == 0, "START with nothing loaded ran an env step"
    assert _s32(await tb.bus.read_block(tb.addr("OUT"), spec.act_dim)).tolist() == [0] * spec.act_dim
    await tb.control(Control.CLEAR_ERROR)
    assert await tb.reg("STATUS") == 0, "CLEAR_ERROR left bits set"

    # unmapped addresses, and writes to read-only ones, answer OKAY and are reported
    rng = np.random.default_rng(meta["seed"])
    unmapped = [a for a in range(0, rmap.size, 4) if rmap.decode(a) is None]
    # every unmapped word of the register block (an aliased register would answer in it), and a
    # sample of the rest
    first_window = min(w.offset for w in rmap.windows.values())
    picks = sorted(set(rng.choice(unmapped, size=min(24, len(unmapped)), replace=False).tolist())
                   | {unmapped[0], unmapped[-1]} | {a for a in unmapped if a < first_window})
    for a in picks:
        await _expect_refused(tb, tb.bus.read(a), f"read of unmapped 0x{a:x}", a, Status.ERR_READ)
        await _expect_refused(tb, tb.bus.write(a, 0x5A5A5A5A), f"write to unmapped 0x{a:x}", a, Status.ERR_WRITE)
    for name in ("ID", "STATUS", "N_NEURONS", "CYCLES", "ERR_ADDR", "OUT"):
        await _expect_refused(tb, tb.bus.write(tb.addr(name), 1), f"write to read-only {name}", tb.addr(name),
                              Status.ERR_WRITE)
    # the STATE words other than v take a write (OKAY) and ignore it; v takes it
    await tb.control(Control.RESET_STATE)
    for word in (1, 2, 3, len(STATE_FIELDS) * (spec.n_neurons - 1) + 1):
        await tb.bus.write(tb.addr("STATE", word), 0x1234)  # raises BusError on SLVERR
        got = _s32(await tb.bus.read_block(tb.addr("STATE", word - word % len(STATE_FIELDS)), len(STATE_FIELDS)))
        assert got.tolist() == [0] * len(STATE_FIELDS), f"STATE word {word} write was not ignored: {got.tolist()}"
    await tb.bus.write(tb.addr("STATE"), 0x123)
    got = _s32(await tb.bus.read_block(tb.addr("STATE"), len(STATE_FIELDS)))
    assert got.tolist() == [0x123, 0, 0, 0], f"STATE v write: neuron 0 reads {got.tolist()}"
    assert await tb.reg("ID") == CORE_ID
    for name, value in rmap.constants().items():
        got = await tb.reg(name)
        assert got == value, f"{name} reads {got}, expected {value}"

    # load a case; read the masks back. A hardware reset keeps the neuron state memories (block RAM,
    # and test_model may have run before in this simulation): RESET_STATE zeroes them.
    await tb.control(Control.RESET_STATE)
    case = cases[0]
    await tb.load_masks(case)
    if case.v0 is not None:
        await tb.write_v(case.v0)
    rows = spec_mask_rows(spec, {"mask_in": case.mask_in, "mask_h": case.mask_h, "mask_out": case.mask_out})
    for name, key in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out")):
        want = pack_rows(rows[key]).reshape(-1)
        got = await tb.bus.read_block(tb.addr(name), want.size)
        assert np.array_equal(got, want), f"{name} reads back differently"
    assert await tb.reg("STATUS") == Status.LOADED

    # while busy: a mask write, an OBS write, START and RESET_STATE are refused and flagged
    h0 = int(await tb.bus.read(tb.addr("MASK_H")))
    obs0 = _s32(await tb.bus.read_block(tb.addr("OBS"), spec.obs_dim))
    await tb.bus.write_block(tb.addr("OBS"), case.xq[0])
    await tb.control(Control.START)
    status = await tb.reg("STATUS")
    assert status & Status.BUSY, f"STATUS right after START: 0x{status:x}, expected BUSY"
    await tb.bus.write(tb.addr("MASK_H"), ~h0 & ((1 << min(32, spec.n_neurons)) - 1))
    status = await tb.reg("STATUS")
    assert status & Status.BUSY, f"the env step ended before the busy checks (0x{status:x}): lengthen it"
    assert status == Status.BUSY | Status.LOADED | Status.ERROR | Status.ERR_BUSY, \
        f"mask write while busy: STATUS 0x{status:x}"
    await tb.bus.write_block(tb.addr("OBS"), np.full(spec.obs_dim, 7, np.int32))
    await tb.control(Control.START)
    await tb.control(Control.RESET_STATE)
    status = await tb.wait_done(int(case.cycles[0]), "busy checks")
    assert status == Status.DONE | Status.LOADED | Status.ERROR | Status.ERR_BUSY, f"after busy: 0x{status:x}"
    assert await tb.bus.read(tb.addr("MASK_H")) == h0, "a mask write while busy was not dropped"
    assert _s32(await tb.bus.read_block(tb.addr("OBS"), spec.obs_dim)).tolist() == case.xq[0].tolist(), \
        f"an OBS write while busy was not dropped (before the step: {obs0.tolist()})"
    assert await tb.reg("CYCLES") == case.cycles[0], "the refused START/RESET_STATE changed the running step"
    out = _s32(await tb.bus.read_block(tb.addr("OUT"), spec.act_dim))
    assert out.tolist() == case.out[0].tolist(), f"OUT {out.tolist()} != {case.out[0].tolist()}"
    await tb.control(Control.CLEAR_ERROR)
    assert await tb.reg("STATUS") == Status.DONE | Status.LOADED
