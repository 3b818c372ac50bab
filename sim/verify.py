"""The proof, end to end: cases, the JAX reference, one simulator run, the scoreboard's report.

:func:`verify` is what ``evoconn sim verify`` and the ``rtl`` tests call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from evoconn.spec import Spec

from .cases import INTERRUPTIONS, expected_trace, make_cases, save_cases
from .runner import BUILD_ROOT, build_tag, run_cocotb

#: the cocotb module of the hardware-reset test
RESET_TEST_MODULE = "evoconn.sim.tb_reset"

__all__ = ["Report", "failed_tests", "replay_command", "verify"]


def failed_tests(results_xml: Path) -> dict[str, str]:
    """``test name -> failure message`` of every failed test in a cocotb results XML (none if the
    file is missing: a run that wrote no results is reported by its summary instead)."""
    if not results_xml.exists():
        return {}
    failed = {}
    for case in ET.parse(results_xml).getroot().iter("testcase"):
        for bad in (*case.iter("failure"), *case.iter("error")):
            failed[case.get("name", "?")] = bad.get("message") or (bad.text or "").strip()
    return failed


@dataclasses.dataclass
class Report:
    """What one proof run found."""

    passed: bool
    spec: Spec
    lanes: int
    sim: str
    cases: int
    steps: int
    compared: int
    outputs: int
    state_words: int
    mismatches: list[dict]
    summary: str
    sim_cycles: int
    wall_s: float
    reference_s: float
    build_s: float
    run_s: float
    build_dir: Path
    waves: Path | None
    replay: str
    #: the cocotb tests that failed, each with its failure message (from the run's results XML)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    #: the gate-level netlist simulated instead of the RTL (None: the exported RTL)
    gate: str | None = None

    @property
    def cycles_per_s(self) -> float:
        return self.sim_cycles / self.wall_s if self.wall_s else 0.0

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s else 0.0

    def text(self) -> str:
        s = self.spec
        what = f"{self.sim}, {self.gate} netlist" if self.gate else self.sim
        head = (f"{'PASS' if self.passed else 'FAIL'}  {what}  N={s.n_neurons} d={s.obs_dim} a={s.act_dim} "
                f"n_exc={s.n_exc} K={s.substeps} lanes={self.lanes}")
        lines = [head,
                 f"  cases {self.cases}, env steps {self.steps}, compared integers {self.compared} "
                 f"(outputs {self.outputs}, state/spike words {self.state_words}), mismatches {len(self.mismatches)}",
                 f"  simulator: {self.sim_cycles} cycles in {self.wall_s:.1f} s = {self.cycles_per_s:.0f} cycles/s, "
                 f"{self.steps_per_s:.2f} env steps/s (build {self.build_s:.1f} s, reference {self.reference_s:.1f} s)"]
        if self.waves:
            lines.append(f"  waves: {self.waves}")
        if not self.passed:
            lines.append("  " + self.summary.replace("\n", "\n  "))
        return "\n".join(lines)


def replay_command(spec: Spec, lanes: int, *, cases: int, steps: int, seed: int, sim: str, state_every: int,
                   fault: str | None, case: int | str = "{case}", reset: bool = False,
                   gate: str | None = None) -> str:
    """The ``evoconn sim verify`` line that replays one case (``{case}`` left to fill) with waves;
    with ``reset``, the whole hardware-reset run (its cases depend on each other)."""
    args = ["evoconn", "sim", "verify", "--neurons", spec.n_neurons, "--obs-dim", spec.obs_dim,
            "--act-dim", spec.act_dim, "--exc", spec.n_exc, "--substeps", spec.substeps, "--lanes", lanes,
            "--cases", cases, "--steps", steps, "--seed", seed, "--state-every", state_every, "--sim", sim]
    if gate:
        args += ["--gate", gate]
    if fault:
        args += ["--fault", fault]
    args += ["--reset", "--waves"] if reset else ["--case", case, "--waves"]
    return " ".join(shlex.quote(str(a)) if "{" not in str(a) else str(a) for a in args)


def verify(spec: Spec, lanes: int, *, cases: int = 6, steps: int = 8, seed: int = 0, sim: str | None = None,
           waves: bool = False, fault: str | None = None, only: int | None = None, state_every: int = 4,
           pauses: float = 0.2, protocol: bool = False, reset: bool = False,
           gate: str | None = None) -> Report:
    """Run the proof for one parameter set; never raises for a mismatch (read :attr:`Report.passed`).

    ``only`` runs just case ``only`` of the ``cases``; ``protocol`` adds the bus-protocol test.
    ``reset`` runs the hardware-reset test instead (:mod:`evoconn.sim.tb_reset`: ``rst`` in the middle
    of env steps and AXI transactions, each followed by the next case's episode; it needs
    ``len(INTERRUPTIONS) + 1`` cases). ``gate="ecp5"`` runs the core's post-synthesis ECP5 netlist
    with the cell models instead of the exported RTL (:mod:`evoconn.sim.gate`; raises
    :class:`evoconn.hw.toolchain.ToolError` without Yosys).
    """
    if reset and (cases != len(INTERRUPTIONS) + 1 or only is not None or protocol):
        raise ValueError(f"reset=True runs {len(INTERRUPTIONS) + 1} cases, every one, and no protocol test")
    sim = sim or os.environ.get("SIM", "icarus")
    from .gate import NETLIST_FAULTS, require_tools

    if fault in NETLIST_FAULTS and not gate:
        raise ValueError(f"fault {fault!r} is an edit of the synthesized netlist: it needs a gate-level run")
    if gate:
        require_tools(gate)
    t0 = time.perf_counter()
    todo = make_cases(spec, seed, cases, steps, state_every, only)
    for c in todo:
        expected_trace(spec, lanes, c)
    t_ref = time.perf_counter() - t0
    replay = replay_command(spec, lanes, cases=cases, steps=steps, seed=seed, sim=sim, state_every=state_every,
                            fault=fault, reset=reset, gate=gate)
    folder = BUILD_ROOT / build_tag(spec, lanes, sim, fault, waves, gate)
    folder.mkdir(parents=True, exist_ok=True)
    tag = (f"s{seed}-c{cases}-t{steps}-e{state_every}" + (f"-only{only}" if only is not None else "")
           + ("-reset" if reset else ""))
    case_file = folder / f"cases-{tag}.npz"
    report_file = folder / f"report-{tag}.json"
    report_file.unlink(missing_ok=True)
    save_cases(case_file, spec, lanes, todo, {"seed": seed, "pauses": pauses, "replay": replay,
                                              "dut": f"{gate} netlist" if gate else "RTL"})
    env = {"EVOCONN_SIM_CASES": str(case_file), "EVOCONN_SIM_REPORT": str(report_file),
           "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}  # cocotbext-axi 0.1.28 uses cocotb 1.x calls
    testcase = None if protocol or reset else "test_model"
    res = run_cocotb(spec, lanes, sim=sim, fault=fault, waves=waves, testcase=testcase, extra_env=env,
                     seed=seed, gate=gate, **({"test_module": RESET_TEST_MODULE} if reset else {}))
    if report_file.exists():
        r = json.loads(report_file.read_text())
    else:
        r = {"cases": 0, "steps": 0, "compared": 0, "outputs": 0, "state_words": 0, "mismatches": [],
             "sim_cycles": 0, "wall_s": 0.0,
             "summary": f"the cocotb test wrote no report: see {res.build_dir} and {res.results_xml}"}
    if not res.passed and not r["mismatches"]:
        r["summary"] = f"a cocotb test failed (not a model mismatch): see {res.results_xml} and the log above"
    return Report(passed=res.passed and not r["mismatches"], spec=spec, lanes=lanes, sim=sim, cases=r["cases"],
                  steps=r["steps"], compared=r["compared"], outputs=r["outputs"], state_words=r["state_words"],
                  mismatches=r["mismatches"], summary=r["summary"], sim_cycles=r["sim_cycles"], wall_s=r["wall_s"],
                  reference_s=t_ref, build_s=res.build_s, run_s=res.run_s, build_dir=res.build_dir,
                  waves=res.waves, replay=replay, failed=failed_tests(res.results_xml), gate=gate)
