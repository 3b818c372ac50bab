"""Verilog export of the core, with a JSON manifest beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import amaranth
from amaranth.back import verilog

from evoconn.spec import Spec

from .axil import AXIL_PORTS
from .core import MODULE_NAME, EvoconnCore

__all__ = ["export_verilog", "manifest"]


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
    text = verilog.convert(core, name=MODULE_NAME, emit_src=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    man = manifest(core, out.name)
    out.with_suffix(".json").write_text(json.dumps(man, indent=1) + "\n")
    return man
