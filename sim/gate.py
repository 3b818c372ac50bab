"""Gate-level simulation: the post-synthesis netlist of an FPGA flow, with the cell models, in
place of the exported RTL, under the same cocotb bench and scoreboard (:mod:`evoconn.sim.tb`).

``ecp5``: the netlist of the ECP5 flow (:func:`evoconn.hw.ecp5.netlist_ecp5`: the same design
Verilog and the same ``synth_ecp5`` run as ``evoconn hw bitstream --target ecp5``, written back with
``write_verilog``), simulated with

- Yosys's own ECP5 cell models (``share/ecp5/cells_sim.v``, copied into the netlist's build by the
  Yosys that wrote it) for LUT4, PFUMX, L6MUX21, CCU2C, TRELLIS_FF and TRELLIS_DPR16X4 (LUT RAM), with
  two modules taken out: DP16KD, which Yosys ships as a blackbox only, and TRELLIS_COMB, a
  place-and-route cell that is never in a synthesis netlist and whose generate-time ``$error``
  Icarus 11 cannot parse. ``NO_INCLUDES`` is defined: ``cells_sim.v`` and ``common_sim.vh`` would
  each include ``cells_ff.vh`` (Diamond's flip-flop wrappers, which ``synth_ecp5`` does not emit),
  so the pair cannot compile otherwise;
- our behavioural DP16KD (``ecp5_dp16kd.v`` beside this module: the x36 pseudo dual port mode the
  core's mask memories map to, from Lattice's memory guide; see its header for what it models).
  Every parameter the netlist sets on a DP16KD must be one the model declares (checked here, as
  Icarus only warns about an unknown one).

The netlist's top module is ``evoconn_core`` with the exported core's ports (``clk``, ``rst``,
``s_axil_*``): the bench drives it unchanged.

``fault`` takes the core's deliberate faults (:data:`evoconn.hw.core.FAULTS`: the faulty core is
synthesized) and the netlist faults of :data:`NETLIST_FAULTS`: an edit of the correct core's
netlist, a mapping error that the RTL simulation cannot show (tests only).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from evoconn.artifact import atomic_write_text
from evoconn.spec import Spec

__all__ = ["GATES", "DP16KD_MODEL", "NETLIST_FAULTS", "GateNetlist", "gate_netlist", "require_tools", "swap_pins",
           "without_module"]

#: The gate-level netlists :func:`gate_netlist` makes.
GATES = ("ecp5",)
#: Our DP16KD model (Yosys has none).
DP16KD_MODEL = Path(__file__).with_name("ecp5_dp16kd.v")
#: Deliberate netlist faults, name -> (cell instance, pin, pin) whose connections are exchanged:
#: ``bram_dout_swapped``, two read-data bits of MASK_IN's block RAM (bits 0 and 1 of every input mask
#: row, so neurons 0 and 1 take each other's input connections).
NETLIST_FAULTS = {"bram_dout_swapped": ("mask_in.0.0", "DOA0", "DOA1")}
#: Modules taken out of Yosys's ECP5 cell models: file -> modules (see the module docstring).
_DROPPED = {"cells_sim.v": ("DP16KD",), "common_sim.vh": ("TRELLIS_COMB",)}


@dataclasses.dataclass(frozen=True)
class GateNetlist:
    """What the simulator compiles for one gate-level netlist."""

    netlist: Path
    sources: tuple[Path, ...]
    includes: tuple[Path, ...]
    defines: dict[str, object]
    build: Path  # the synthesis build folder (synth.log, core.json, manifest.json)
    cells: dict[str, int]


def without_module(text: str, name: str) -> str:
    """``text`` with the Verilog module ``name`` (and the attribute line right before it) removed;
    :class:`ValueError` unless it is there exactly once."""
    pattern = re.compile(rf"^(?:\(\*[^\n]*\*\)[ \t]*\n)?module {re.escape(name)}\s*\(.*?^endmodule\b[^\n]*\n",
                         re.S | re.M)
    out, n = pattern.subn("", text)
    if n != 1:
        raise ValueError(f"module {name} found {n} times in Yosys's cell models (expected once)")
    return out


def swap_pins(text: str, instance: str, a: str, b: str) -> str:
    """The netlist ``text`` with the connections of pins ``a`` and ``b`` of cell ``instance``
    exchanged; :class:`ValueError` unless the instance and both pins are there once."""
    m = re.search(rf"\) \\{re.escape(instance)} +\((.*?)\n  \);", text, re.S)
    if m is None:
        raise ValueError(f"no cell instance {instance!r} in the netlist")
    body = m.group(1)
    conns = {}
    for pin in (a, b):
        found = re.findall(rf"\.{pin}\(([^\n]*?)\),?\n", body + "\n")
        if len(found) != 1:
            raise ValueError(f"pin {pin} of {instance!r} found {len(found)} times")
        conns[pin] = found[0]
    swapped = re.sub(rf"\.({a}|{b})\(([^\n]*?)\)(,?)\n",
                     lambda p: f".{p.group(1)}({conns[b if p.group(1) == a else a]}){p.group(3)}\n", body + "\n")[:-1]
    return text[:m.start(1)] + swapped + text[m.end(1):]


def _model_parameters(text: str) -> set[str]:
    names = set()
    for decl in re.findall(r"^\s*parameter\b([^;]*);", text, re.M):
        names.update(re.findall(r"(\w+)\s*=", decl))
    return names


def _check_dp16kd_parameters(netlist_text: str) -> None:
    declared = _model_parameters(DP16KD_MODEL.read_text())
    for params in re.findall(r"\bDP16KD\s*#\((.*?)\)\s*\\?[\w.$\[\]]+\s*\(", netlist_text, re.S):
        unknown = set(re.findall(r"\.(\w+)\(", params)) - declared
        if unknown:
            raise ValueError(f"the netlist sets DP16KD parameters our model does not have: {sorted(unknown)} "
                             f"({DP16KD_MODEL})")


def require_tools(gate: str) -> None:
    """Raise at once (:class:`ValueError`, :class:`evoconn.hw.toolchain.ToolError`) if ``gate`` is
    unknown or its synthesis tool is missing, before any other work."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    from evoconn.hw.toolchain import find_tool

    find_tool("yosys")


def gate_netlist(spec: Spec, lanes: int, gate: str, *, fault: str | None = None,
                 build_root: str | Path = "build/hw") -> GateNetlist:
    """Synthesize (or take from the cache) the ``gate`` netlist of the core and prepare its cell
    library; raises :class:`evoconn.hw.toolchain.ToolError` if the synthesis tool is missing."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    from evoconn.hw.ecp5 import netlist_ecp5

    edit = NETLIST_FAULTS.get(fault) if fault else None
    build = netlist_ecp5(spec, lanes, fault=None if edit else fault, build_root=build_root)
    netlist = build.path / "netlist.v"
    if edit:
        broken = build.path / f"netlist-{fault}.v"
        text = swap_pins(netlist.read_text(), *edit)
        if not broken.exists() or broken.read_text() != text:
            atomic_write_text(broken, text)
        netlist = broken
    _check_dp16kd_parameters(netlist.read_text())
    lib = build.path / "cells"
    lib.mkdir(exist_ok=True)
    for src in sorted((build.path / "yosys-ecp5").iterdir()):
        text = src.read_text()
        for name in _DROPPED.get(src.name, ()):
            text = without_module(text, name)
        dest = lib / src.name
        # unchanged: the simulator's build stays valid; atomic: another worker may be compiling it
        if not dest.exists() or dest.read_text() != text:
            atomic_write_text(dest, text)
    return GateNetlist(netlist=netlist, sources=(netlist, lib / "cells_sim.v", DP16KD_MODEL), includes=(lib,),
                       defines={"NO_INCLUDES": 1}, build=build.path, cells=dict(build["cells"]))
