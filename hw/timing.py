"""Out-of-context Xilinx timing of the core alone: ``evoconn hw timing``.

Writes a folder with the core's Verilog (mask memories marked ``ram_style = "block"``) and a
non-project Vivado script, ``timing.tcl``, that synthesizes the core out of context for the part
(the Z-7020 of the PYNQ-Z2 by default), constrains ``clk`` to the chosen clock, places and routes,
and writes ``timing.json``: WNS and WHS (ns), whether both are met, the Fmax the setup slack implies,
and the worst setup path (start and end points, logic levels, data-path delay). No block design,
no processing system: minutes, not the full PYNQ build. Where ``vivado`` is on PATH the script is
run and its JSON returned; otherwise :class:`~evoconn.hw.vivado.VivadoMissing` names the folder.

Nothing here has been run with Vivado on this project's machines (there is none); the tests check
the generated script's content.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from evoconn.artifact import atomic_write_text, base_manifest
from evoconn.spec import Spec

from .core import MODULE_NAME
from .synth import design_verilog
from .toolchain import cache_key

__all__ = ["DEFAULT_PART", "timing_project", "timing_tcl"]

#: The PYNQ-Z2's Zynq-7020, speed grade -1.
DEFAULT_PART = "xc7z020clg400-1"

TIMING_TCL = """\
# evoconn: out-of-context timing of {top} at {clock_mhz:g} MHz on {part} (generated; do not edit).
# Run: vivado -mode batch -nojournal -source timing.tcl   -> timing.json, timing.rpt, utilization.rpt
set here [file dirname [file normalize [info script]]]
set clock_mhz {clock_mhz:g}
set period [expr {{1000.0 / $clock_mhz}}]
read_verilog [file join $here core.v]
synth_design -top {top} -part {part} -mode out_of_context -flatten_hierarchy rebuilt
create_clock -name clk -period $period [get_ports clk]
opt_design
place_design
phys_opt_design
route_design
report_timing_summary -max_paths 10 -file [file join $here timing.rpt]
report_utilization -file [file join $here utilization.rpt]
set setup [lindex [get_timing_paths -delay_type max -max_paths 1 -nworst 1] 0]
set hold [lindex [get_timing_paths -delay_type min -max_paths 1 -nworst 1] 0]
set wns [get_property SLACK $setup]
set whs [get_property SLACK $hold]
if {{$wns eq ""}} {{ error "evoconn: no constrained setup path (is clk the core's clock?)" }}
set met [expr {{$wns >= 0 && $whs >= 0 ? "true" : "false"}}]
set fmax [expr {{1000.0 / ($period - $wns)}}]
proc q {{s}} {{ return "\\"[string map {{\\" \\\\\\" \\\\ \\\\\\\\}} $s]\\"" }}
set f [open [file join $here timing.json] w]
puts $f "{{"
puts $f "  \\"top\\": [q {top}], \\"part\\": [q {part}], \\"clock_mhz\\": $clock_mhz, \\"period_ns\\": $period,"
puts $f "  \\"wns_ns\\": $wns, \\"whs_ns\\": $whs, \\"met\\": $met, \\"fmax_mhz\\": $fmax,"
puts $f "  \\"critical_path\\": {{\\"from\\": [q [get_property STARTPOINT_PIN $setup]],"
puts $f "    \\"to\\": [q [get_property ENDPOINT_PIN $setup]],"
puts $f "    \\"logic_levels\\": [get_property LOGIC_LEVELS $setup],"
puts $f "    \\"datapath_ns\\": [get_property DATAPATH_DELAY $setup]}},"
puts $f "  \\"vivado\\": [q [version -short]]"
puts $f "}}"
close $f
puts "evoconn: WNS $wns ns, WHS $whs ns at $clock_mhz MHz; wrote [file join $here timing.json]"
"""


def timing_tcl(*, clock_mhz: float, part: str = DEFAULT_PART, top: str = MODULE_NAME) -> str:
    """The out-of-context timing script (see the module docstring)."""
    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz!r}")
    return TIMING_TCL.format(clock_mhz=clock_mhz, part=part, top=top)


def timing_project(spec: Spec, lanes: int, *, clock_mhz: float, part: str = DEFAULT_PART,
                   build_root: str | Path = "build/hw", run: bool = True) -> tuple[Path, dict[str, Any]]:
    """Write ``core.v`` and ``timing.tcl`` under ``<build_root>/timing-<key[:16]>``; run Vivado where it
    is on PATH (and ``run``) and return ``(folder, timing)``, the parsed ``timing.json``. Raises
    :class:`~evoconn.hw.vivado.VivadoMissing` (after writing the folder) when Vivado is absent."""
    from .vivado import VivadoMissing, _vivado_version

    text, export_man = design_verilog(spec, lanes, "block")
    tcl = timing_tcl(clock_mhz=clock_mhz, part=part)
    vivado = shutil.which("vivado") if run else None
    tools = {"vivado": _vivado_version(vivado) if vivado else None}
    options = {"flow": "vivado-ooc-timing", "part": part, "lanes": lanes, "clock_mhz": clock_mhz}
    key = cache_key(text + tcl, options, tools)
    folder = Path(build_root) / f"timing-{key[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "core.v").write_text(text)
    (folder / "timing.tcl").write_text(tcl)
    man = base_manifest(spec, "timing", lanes=lanes, part=part, clock_mhz=clock_mhz, tools=tools,
                        options=options, addr_width=export_man["addr_width"], cache_key=key)
    atomic_write_text(folder / "manifest.json", json.dumps(man, indent=1, sort_keys=True) + "\n")
    if not vivado:
        raise VivadoMissing(
            f"vivado is not on PATH; the out-of-context timing script is in {folder}. On a machine with Vivado "
            f"(Zynq-7000 support) run `vivado -mode batch -nojournal -source timing.tcl` inside it: it writes "
            f"timing.json (WNS, WHS, the critical path) and timing.rpt.")
    with open(folder / "vivado.log", "w") as log:
        proc = subprocess.run([vivado, "-mode", "batch", "-nojournal", "-source", "timing.tcl"], cwd=folder,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    result = folder / "timing.json"
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"vivado failed (exit {proc.returncode}); see {folder / 'vivado.log'}")
    return folder, json.loads(result.read_text())
