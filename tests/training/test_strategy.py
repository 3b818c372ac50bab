"""The one algorithm interface: EC and ES behind the same init/ask/tell, bit-identical to the
functions they wrap, jittable, and the interface module free of JAX."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoconn.algorithm import Population, Strategy
from evoconn.training import ec, es
from evoconn.training.strategy import ECStrategy, ESStrategy

SHAPES = {"mask_in": (3, 8), "mask_h": (8, 8), "mask_out": (8, 2)}


def _eq(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("make", [
    lambda: ECStrategy.create(SHAPES, 6, lr=0.15, clip_eps=1e-3),
    lambda: ESStrategy.create(SHAPES, 6, lr=0.15, sigma=0.3, weight_decay=0.1),
])
def test_both_strategies_speak_the_interface_and_jit(make):
    s = make()
    assert isinstance(s, Strategy)
    hash(s)  # static under jit
    key = jax.random.PRNGKey(4)
    state = s.init(key)
    ask, tell = jax.jit(s.ask), jax.jit(s.tell)
    for g in range(3):
        pop, state = ask(jax.random.fold_in(key, g), state)
        assert isinstance(pop, Population)
        assert {k: v.shape for k, v in pop.members.items()} == {k: (6, *v) for k, v in SHAPES.items()}
        fit = jnp.sum(jnp.stack([jnp.sum(v.reshape(6, -1).astype(jnp.float32), axis=1)
                                 for v in pop.members.values()]), axis=0)
        state, m = tell(pop, fit, state)
        assert all(np.isfinite(float(v)) for v in m.values())
    ev = s.eval_members(state, 2)
    assert {k: v.shape for k, v in ev.items()} == {k: (2, *v) for k, v in SHAPES.items()}


def test_ec_strategy_equals_ec_functions():
    p = ec.ECParams(lr=0.2, clip_eps=1e-3)
    s = ECStrategy.create(SHAPES, 10, lr=0.2, clip_eps=1e-3)
    key = jax.random.PRNGKey(1)
    a, b = ec.init(p, SHAPES), s.init(key)
    _eq(a, b)
    theta = ec.ask(a, key, 10)
    pop, _ = s.ask(key, b)
    _eq(theta, pop.members)
    assert pop.noise is None
    fit = jax.random.normal(key, (10,))
    _eq(ec.tell(p, a, theta, fit), s.tell(pop, fit, b))
    _eq(ec.eval_masks(a, 3), s.eval_members(b, 3))
    _eq(a.rho, s.distribution(b))


def test_es_strategy_equals_es_functions():
    p = es.ESParams(lr=0.1, sigma=0.2, weight_decay=0.05)
    s = ESStrategy.create(SHAPES, 8, lr=0.1, sigma=0.2, weight_decay=0.05)
    key = jax.random.PRNGKey(2)
    a, b = es.init(p, SHAPES, key), s.init(key)
    _eq(a, b)
    theta, eps = es.ask(p, a, key, 8)
    pop, _ = s.ask(key, b)
    _eq((theta, eps), (pop.members, pop.noise))
    fit = jax.random.normal(key, (8,))
    _eq(es.tell(p, a, eps, fit), s.tell(pop, fit, b))
    ev = s.eval_members(b, 2)
    for k in SHAPES:
        np.testing.assert_array_equal(np.asarray(ev[k][1]), np.asarray(a.mean[k]))
    assert s.distribution(b) is None


@pytest.mark.parametrize("make, n, msg", [
    (ECStrategy.create, 1, "at least 2"),
    (ESStrategy.create, 5, "even"),
])
def test_sizes_a_strategy_cannot_sample_are_refused(make, n, msg):
    with pytest.raises(ValueError, match=msg):
        make(SHAPES, n)


def test_the_interface_imports_without_jax():
    code = ("import sys; import evoconn.algorithm; "
            "assert 'jax' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
