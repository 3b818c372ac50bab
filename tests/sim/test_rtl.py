"""The rtl tier: the exported Verilog, under cocotb and a real simulator, equals the JAX model.

One runner per parameter set, each with its own build folder (:mod:`evoconn.sim.runner`). ``SIM``
selects the simulator (icarus by default). Sizes, case counts and steps are chosen so that one CI
run compares more than 10**5 integers in a few minutes on two cores (bench/results/sim.md).
"""

from __future__ import annotations

import pytest

from evoconn.sim.cases import KINDS, expected_compared, make_cases
from evoconn.sim.verify import verify
from evoconn.spec import Spec

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

# name: (spec, lanes, cases, steps, state_every, protocol)
PARAMS = {
    # lanes = 1, odd n_exc (no whole excitatory word), d and a odd
    "n8-l1": (Spec(n_neurons=8, obs_dim=3, act_dim=3, n_exc=3, substeps=8), 1, 6, 20, 1, False),
    # all-excitatory: recurrent counts reach +N, I_syn saturates; plus the bus-protocol test
    "n16-allexc": (Spec(n_neurons=16, obs_dim=5, act_dim=2, n_exc=16, substeps=12), 4, 6, 20, 1, True),
    # n_exc not a multiple of 32, even d
    "n32": (Spec(n_neurons=32, obs_dim=4, act_dim=1, n_exc=10, substeps=10), 8, 12, 12, 1, False),
    "n64": (Spec(n_neurons=64, obs_dim=7, act_dim=5, substeps=16), 16, 12, 12, 1, False),
    # the paper's hopper core: N = 256, K = 33, d = 11, a = 3
    "n256": (Spec(), 16, 3, 10, 1, False),
}


@pytest.mark.parametrize("name", list(PARAMS))
def test_rtl_equals_jax_model(name):
    spec, lanes, cases, steps, state_every, protocol = PARAMS[name]
    rep = verify(spec, lanes, cases=cases, steps=steps, seed=0, state_every=state_every, protocol=protocol)
    print(rep.text())
    assert rep.passed, rep.text()
    assert rep.mismatches == []
    assert (rep.cases, rep.steps) == (cases, cases * steps)
    want = expected_compared(spec, make_cases(spec, 0, cases, steps, state_every))
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
