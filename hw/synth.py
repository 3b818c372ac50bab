"""Yosys ``synth_xilinx`` of the exported core: a utilization report for the Zynq-7020 (PYNQ-Z2).

``synthesize(spec, lanes)`` exports the core's Verilog, runs::

    read_verilog core.v
    synth_xilinx -family xc7 -top evoconn_core -flatten
    stat -json

and counts the mapped cells as the xc7z020's resources: LUTs (logic LUTs plus the LUTs that
distributed RAM and shift registers take), flip-flops, block RAM in RAMB36 equivalents (a RAMB18E1
is half of one) and DSP48E1 slices, each with its share of the part. Builds are cached (see
:mod:`evoconn.hw.toolchain`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from evoconn.artifact import atomic_write_text, base_manifest
from evoconn.spec import Spec

from .core import MODULE_NAME
from .toolchain import Build, cache_key, cached_build, find_tool

__all__ = ["MASK_MEMORIES", "PARTS", "LUTS_PER_CELL", "TOLERANCES", "design_verilog", "mark_ram_style",
           "count_resources", "synthesize", "compare_to_baseline"]

#: Resources of the parts we report against (7-series data sheet DS190: Z-7020).
PARTS: dict[str, dict[str, int]] = {
    "xc7z020": {"lut": 53_200, "ff": 106_400, "bram36": 140, "dsp": 220},
}

#: LUTs one mapped cell occupies. Logic LUTs count 1 (LUT6_2 counts 1: both outputs share one
#: LUT6); distributed RAM and SRL primitives count the SLICEM LUTs they take (UG474).
LUTS_PER_CELL: dict[str, float] = {
    **{f"LUT{i}": 1 for i in range(1, 7)}, "LUT6_2": 1,
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4,
    "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC32E": 1,
}
_LUT_LOGIC = {f"LUT{i}" for i in range(1, 7)} | {"LUT6_2"}
_FF = {"FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"}
_DSP = {"DSP48E1"}

#: Per-metric tolerances for the baseline comparison: relative, plus an absolute floor so small
#: counts do not fail on noise. BRAM and DSP mappings are structural and must match closely.
TOLERANCES: dict[str, tuple[float, float]] = {
    "lut": (0.10, 50), "ff": (0.05, 20), "bram36": (0.0, 0.5), "dsp": (0.0, 1),
}


def design_verilog(spec: Spec, lanes: int, mask_ram: str = "block",
                   fault: str | None = None) -> tuple[str, dict[str, Any]]:
    """The core's Verilog text and its export manifest (by :func:`evoconn.hw.export.export_verilog`).

    ``mask_ram="block"`` marks the mask memories ``ram_style = "block"`` (:func:`mark_ram_style`);
    ``"auto"`` leaves the choice to the synthesis tool. ``fault`` exports a deliberately broken core
    (:data:`evoconn.hw.core.FAULTS`; tests only).
    """
    from .export import export_verilog

    if mask_ram not in ("block", "auto"):
        raise ValueError(f"mask_ram must be 'block' or 'auto', got {mask_ram!r}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "core.v"
        man = export_verilog(spec, lanes, out, fault=fault)
        text = out.read_text()
    return (mark_ram_style(text) if mask_ram == "block" else text), man


#: The core's mask memories (names of the Verilog memories :mod:`evoconn.hw.core` emits).
#: The memories the flows put in block RAM: the masks and the rho memory (at N = 256, 72 Kwords of
#: 12 bits: in LUT RAM it would take more LUTs than the xc7z020 has).
MASK_MEMORIES = ("mask_in", "mask_h", "mask_out", "rho")


def mark_ram_style(text: str, memories: tuple[str, ...] = MASK_MEMORIES, style: str = "block") -> str:
    """Put ``(* ram_style = style *)`` on the named memories of the exported Verilog.

    Yosys (``memory_libmap``) and Vivado both honour ``ram_style`` on a memory: "block" asks for
    RAMB18E1/RAMB36E1 (DP16KD on ECP5) even where the tool's cost model prefers LUT RAM (it does
    at N = 64, where a 64 x 64 mask fits in 88 LUTs). Raises :class:`ValueError` if a named memory
    is not in the text, so a renamed memory in the core cannot pass silently.
    """
    import re

    for name in memories:
        pattern = re.compile(rf"^(\s*)(reg \[\d+:0\] {re.escape(name)} \[\d+:0\];)", re.M)
        text, n = pattern.subn(rf'\1(* ram_style = "{style}" *)\n\1\2', text)
        if n != 1:
            raise ValueError(f"memory {name!r} not found once in the exported Verilog (found {n})")
    return text


def count_resources(cells: dict[str, int], part: str = "xc7z020") -> dict[str, Any]:
    """Map Yosys's ``num_cells_by_type`` (Xilinx primitives) to the part's resources."""
    cap = PARTS[part]
    lut_logic = sum(n for c, n in cells.items() if c in _LUT_LOGIC)
    lut_mem = sum(LUTS_PER_CELL[c] * n for c, n in cells.items() if c in LUTS_PER_CELL and c not in _LUT_LOGIC)
    lut = lut_logic + lut_mem
    ff = sum(n for c, n in cells.items() if c in _FF)
    ramb36, ramb18 = cells.get("RAMB36E1", 0), cells.get("RAMB18E1", 0)
    bram36 = ramb36 + ramb18 / 2
    dsp = sum(n for c, n in cells.items() if c in _DSP)
    counts = {"lut": lut, "ff": ff, "bram36": bram36, "dsp": dsp}
    return {
        "part": part,
        "resources": {k: {"count": v, "available": cap[k], "share": round(v / cap[k], 5)}
                      for k, v in counts.items()},
        "detail": {"lut_logic": lut_logic, "lut_memory": lut_mem, "ramb36e1": ramb36, "ramb18e1": ramb18},
        "cells": dict(sorted(cells.items())),
    }


def _cells_from_stat(stat: dict[str, Any], top: str) -> dict[str, int]:
    """``num_cells_by_type`` of the whole design from Yosys's ``stat -json``."""
    if "design" in stat and "num_cells_by_type" in stat["design"]:
        cells = stat["design"]["num_cells_by_type"]
    else:
        mods = stat.get("modules", {})
        mod = mods.get("\\" + top) or mods.get(top)
        if mod is None:
            raise ValueError(f"stat -json has no module {top!r} (modules: {sorted(mods)})")
        cells = mod["num_cells_by_type"]
    return {str(k).lstrip("\\$"): int(v) for k, v in cells.items()}


def synthesize(spec: Spec, lanes: int, *, part: str = "xc7z020", mask_ram: str = "block",
               build_root: str | Path = "build/hw", timeout: float | None = None) -> Build:
    """Synthesize the core for ``part`` with Yosys; returns the (possibly cached) build.

    ``mask_ram="block"`` marks the mask memories ``ram_style = "block"`` (see
    :func:`mark_ram_style`); ``"auto"`` leaves the choice to Yosys's cost model.
    The folder holds ``core.v``, ``synth.ys``, ``synth.log``, ``stat.json``, ``report.json`` and
    ``manifest.json`` (the report is also under the manifest's ``report`` key).
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}")
    text, export_man = design_verilog(spec, lanes, mask_ram)
    yosys = find_tool("yosys")
    tools = {"yosys": yosys.version}
    options = {"flow": "synth_xilinx", "part": part, "lanes": lanes, "top": MODULE_NAME, "mask_ram": mask_ram}
    key = cache_key(text, options, tools)
    products = ["core.v", "synth.log", "stat.json", "report.json"]

    def make(folder: Path) -> dict[str, Any]:
        (folder / "core.v").write_text(text)
        script = (f"read_verilog core.v\n"
                  f"synth_xilinx -family xc7 -top {MODULE_NAME} -flatten\n"
                  f"tee -q -o stat.json stat -json\n")
        (folder / "synth.ys").write_text(script)
        seconds = yosys.run(["-q", "-l", "synth.log", "synth.ys"], folder, folder / "yosys.out", timeout)
        stat = json.loads((folder / "stat.json").read_text())
        report = count_resources(_cells_from_stat(stat, MODULE_NAME), part)
        report |= {"n_neurons": spec.n_neurons, "lanes": lanes, "spec": spec.to_dict(), "spec_hash": spec.hash,
                   "mask_ram": mask_ram,
                   "tools": tools, "flow": options["flow"], "seconds": round(seconds, 1)}
        atomic_write_text(folder / "report.json", json.dumps(report, indent=1) + "\n")
        return base_manifest(spec, "synth", lanes=lanes, part=part, tools=tools, options=options,
                             design_hash=_sha(text), addr_width=export_man["addr_width"], report=report)

    return cached_build(build_root, f"synth-{part}", key, products, make)


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def compare_to_baseline(report: dict[str, Any], baseline: dict[str, Any],
                        tolerances: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """Metrics outside tolerance, as readable lines (empty when the report matches the baseline).

    A metric passes when ``|measured - baseline| <= max(rel * baseline, abs)``; both directions
    count, since a sudden drop (say, block RAM turned into LUTs) is as much a change as a rise.
    """
    tolerances = TOLERANCES if tolerances is None else tolerances
    bad = []
    for metric, (rel, absolute) in tolerances.items():
        want = baseline["resources"][metric]["count"]
        got = report["resources"][metric]["count"]
        allowed = max(rel * want, absolute)
        if abs(got - want) > allowed:
            bad.append(f"{metric}: {got} vs baseline {want} (allowed +-{allowed:g})")
    return bad
