"""An open place-and-route flow to a real bitstream: Yosys ``synth_ecp5`` -> ``nextpnr-ecp5`` -> ``ecppack``.

This is the flow that gives the core a measured Fmax in CI (the Zynq-7020 has no open P&R). The
core's AXI4-Lite ports become package pins (nextpnr places them; they carry no timing
constraint), so the reported Fmax is that of the register-to-register paths inside the core.

Products of a build folder: ``core.v``, ``synth.log``, ``core.json`` (the netlist), ``pnr.log``,
``pnr.json`` (nextpnr's ``--report``: Fmax per clock, utilization, critical paths),
``core.config``, ``<name>.bit``, ``summary.json`` and ``manifest.json``.

:func:`netlist_ecp5` stops after synthesis and writes the same netlist as Verilog (``netlist.v``,
Yosys's ``write_verilog``) beside Yosys's ECP5 cell simulation models (``yosys-ecp5/``), for the
gate-level simulation (:mod:`evoconn.sim.gate`, ``evoconn sim verify --gate ecp5``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from evoconn.artifact import atomic_write_text, base_manifest
from evoconn.spec import Spec

from .core import MODULE_NAME
from .synth import _cells_from_stat, _sha, design_verilog
from .toolchain import Build, cache_key, cached_build, find_tool, yosys_datdir

__all__ = ["DEVICES", "SIM_MODELS", "bitstream_ecp5", "netlist_ecp5", "summarize_report", "synth_script"]

#: nextpnr device flags for the ECP5 parts we build for.
DEVICES = {"LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k"}


def synth_script(then: str = "") -> str:
    """The Yosys script of the ECP5 flow (``synth.ys``): the exported core, ``synth_ecp5``, the
    netlist as ``core.json`` (what nextpnr places) and ``stat.json``; then the lines ``then``."""
    return ("read_verilog core.v\n"
            f"synth_ecp5 -top {MODULE_NAME} -json core.json\n"
            "tee -q -o stat.json stat -json\n") + then


def summarize_report(report: dict[str, Any], target_mhz: float) -> dict[str, Any]:
    """Fmax per clock, utilization and the critical path from nextpnr's ``--report`` JSON."""
    fmax = {}
    for clock, v in report.get("fmax", {}).items():
        name = clock.replace("$glbnet$", "").replace("$TRELLIS_IO_IN", "")
        fmax[name] = {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2),
                      "met": v["achieved"] >= target_mhz}
    util = {k: {"used": v["used"], "available": v["available"],
                "share": round(v["used"] / v["available"], 5) if v["available"] else None}
            for k, v in report.get("utilization", {}).items() if v.get("used")}
    paths = []
    for cp in report.get("critical_paths", []):
        steps = cp.get("path", [])
        logic = sum(s.get("delay", 0) for s in steps if s.get("type") == "logic")
        routing = sum(s.get("delay", 0) for s in steps if s.get("type") == "routing")
        cells = [s["to"]["cell"] for s in steps if s.get("type") == "logic" and "to" in s]
        nets = [s["net"] for s in steps if s.get("type") == "routing" and s.get("net")]
        paths.append({
            "from_clock": cp.get("from"), "to_clock": cp.get("to"),
            "start": steps[0]["from"]["cell"] if steps and "from" in steps[0] else None,
            "end": steps[-1]["to"]["cell"] if steps and "to" in steps[-1] else None,
            "delay_ns": round(sum(s.get("delay", 0) for s in steps), 3),
            "logic_ns": round(logic, 3), "routing_ns": round(routing, 3), "logic_levels": len(cells),
            "nets": nets,
        })
    return {"fmax": fmax, "utilization": util, "critical_paths": paths}


def bitstream_ecp5(spec: Spec, lanes: int, *, device: str = "LFE5U-85F", package: str = "CABGA381",
                   speed: int = 6, freq_mhz: float = 100.0, seed: int = 1, mask_ram: str = "block",
                   name: str = "evoconn", build_root: str | Path = "build/hw",
                   timeout: float | None = None) -> Build:
    """Synthesize, place, route and pack the core for an ECP5; returns the (possibly cached) build.

    nextpnr runs with ``--timing-allow-fail``: a design that misses ``freq_mhz`` still gets its
    bitstream and report, and ``summary.json`` says whether each clock met the target.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {sorted(DEVICES)}, got {device!r}")
    text, export_man = design_verilog(spec, lanes, mask_ram)
    yosys, pnr, pack = find_tool("yosys"), find_tool("nextpnr-ecp5"), find_tool("ecppack")
    tools = {"yosys": yosys.version, "nextpnr-ecp5": pnr.version, "ecppack": pack.version}
    options = {"flow": "ecp5", "device": device, "package": package, "speed": speed, "freq_mhz": freq_mhz,
               "seed": seed, "lanes": lanes, "top": MODULE_NAME, "mask_ram": mask_ram, "name": name}
    key = cache_key(text, options, tools)
    bit = f"{name}.bit"
    products = ["core.v", "core.json", "pnr.json", bit, "summary.json"]

    def make(folder: Path) -> dict[str, Any]:
        (folder / "core.v").write_text(text)
        (folder / "synth.ys").write_text(synth_script())
        seconds = {"synth": yosys.run(["-q", "-l", "synth.log", "synth.ys"], folder, folder / "yosys.out",
                                      timeout)}
        seconds["pnr"] = pnr.run([DEVICES[device], "--package", package, "--speed", str(speed),
                                  "--json", "core.json", "--textcfg", "core.config",
                                  "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                                  "--report", "pnr.json", "--detailed-timing-report", "--log", "pnr.log", "-q"],
                                 folder, folder / "nextpnr.out", timeout)
        seconds["pack"] = pack.run(["--compress", "core.config", bit], folder, folder / "ecppack.out", timeout)
        report = json.loads((folder / "pnr.json").read_text())
        summary = summarize_report(report, freq_mhz)
        cm = export_man["cycle_model"]
        summary |= {"device": device, "package": package, "speed": speed, "target_mhz": freq_mhz,
                    "n_neurons": spec.n_neurons, "substeps": spec.substeps, "lanes": lanes,
                    "spec": spec.to_dict(), "spec_hash": spec.hash, "mask_ram": mask_ram, "tools": tools,
                    "seconds": {k: round(v, 1) for k, v in seconds.items()},
                    "typical_env_step_cycles_2pct": cm["typical_env_step_cycles_2pct"]}
        atomic_write_text(folder / "summary.json", json.dumps(summary, indent=1) + "\n")
        return base_manifest(spec, "bitstream", target="ecp5", lanes=lanes, clock_mhz=freq_mhz, tools=tools,
                             options=options, design_hash=_sha(text), bitstream=bit,
                             fmax={k: v["achieved_mhz"] for k, v in summary["fmax"].items()})

    return cached_build(build_root, f"ecp5-{device}", key, products, make)


#: Yosys's ECP5 simulation models (``<datdir>/ecp5/``): cells_sim.v and the files it includes.
SIM_MODELS = ("cells_sim.v", "common_sim.vh", "ccu2c_sim.vh", "cells_ff.vh", "cells_io.vh")


def netlist_ecp5(spec: Spec, lanes: int, *, mask_ram: str = "block", fault: str | None = None,
                 build_root: str | Path = "build/hw", timeout: float | None = None) -> Build:
    """The post-synthesis netlist of the ECP5 flow as Verilog; returns the (possibly cached) build.

    The design Verilog (:func:`evoconn.hw.synth.design_verilog`, so the same ``mask_ram`` choice) and
    the Yosys script (:func:`synth_script`) are those of :func:`bitstream_ecp5`, so ``core.json`` is
    the netlist nextpnr would place; the script then writes it again as ``netlist.v``
    (``write_verilog -noattr``) and the build copies Yosys's ECP5 cell models (:data:`SIM_MODELS`,
    from the Yosys that synthesized it) to ``yosys-ecp5/``. ``fault`` builds a deliberately broken
    core (:data:`evoconn.hw.core.FAULTS`; tests only).
    """
    text, export_man = design_verilog(spec, lanes, mask_ram, fault=fault)
    yosys = find_tool("yosys")
    tools = {"yosys": yosys.version}
    options = {"flow": "ecp5-netlist", "lanes": lanes, "top": MODULE_NAME, "mask_ram": mask_ram, "fault": fault}
    key = cache_key(text, options, tools)
    products = ["core.v", "core.json", "netlist.v", "stat.json", *(f"yosys-ecp5/{f}" for f in SIM_MODELS)]

    def make(folder: Path) -> dict[str, Any]:
        (folder / "core.v").write_text(text)
        (folder / "synth.ys").write_text(synth_script("write_verilog -noattr netlist.v\n"))
        seconds = yosys.run(["-q", "-l", "synth.log", "synth.ys"], folder, folder / "yosys.out", timeout)
        models = yosys_datdir(yosys) / "ecp5"
        (folder / "yosys-ecp5").mkdir(exist_ok=True)
        for name in SIM_MODELS:
            shutil.copyfile(models / name, folder / "yosys-ecp5" / name)
        cells = _cells_from_stat(json.loads((folder / "stat.json").read_text()), MODULE_NAME)
        return base_manifest(spec, "synth", target="ecp5", lanes=lanes, tools=tools, options=options,
                             design_hash=_sha(text), addr_width=export_man["addr_width"], fault=fault,
                             cells=cells, netlist="netlist.v", seconds=round(seconds, 1))

    return cached_build(build_root, "ecp5-netlist", key, products, make)
