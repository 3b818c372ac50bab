"""The ES-RSNN baseline's update (OpenAI-ES, mirrored, centred ranks, AdamW) and its properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from evoconn.training import ec, es

SHAPES = {"w_a": (3, 4), "w_b": (5,)}


def test_ask_is_mirrored_around_the_mean():
    p = es.ESParams(sigma=0.3)
    state = es.init(p, SHAPES, jax.random.PRNGKey(0))
    theta, eps = es.ask(p, state, jax.random.PRNGKey(1), 10)
    for k, shape in SHAPES.items():
        assert theta[k].shape == (10, *shape)
        np.testing.assert_array_equal(np.asarray(eps[k][:5]), -np.asarray(eps[k][5:]))
        np.testing.assert_allclose(np.asarray(theta[k]), np.asarray(state.mean[k] + 0.3 * eps[k]), rtol=1e-6)
        assert float(jnp.std(eps[k])) > 0.5  # real noise, not zeros
    with pytest.raises(ValueError, match="even"):
        es.ask(p, state, jax.random.PRNGKey(1), 7)


def test_tell_takes_the_openai_es_step():
    p = es.ESParams()
    state = es.init(p, SHAPES, jax.random.PRNGKey(0))
    _, eps = es.ask(p, state, jax.random.PRNGKey(1), 16)
    fit = jax.random.normal(jax.random.PRNGKey(2), (16,))
    new, m = es.tell(p, state, eps, fit)
    # the reference, in float64: g = Σ u_i ε_i / (n σ), then one AdamW ascent step
    u = np.asarray(ec.centered_ranks(fit), np.float64)
    g = {k: np.tensordot(u, np.asarray(e, np.float64), axes=1) / (16 * p.sigma) for k, e in eps.items()}
    opt = p.optimizer()
    upd, _ = opt.update(jax.tree.map(lambda x: -jnp.asarray(x, jnp.float32), g), opt.init(state.mean),
                        state.mean)
    want = optax.apply_updates(state.mean, upd)
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(new.mean[k]), np.asarray(want[k]), rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.asarray(new.mean[k]), np.asarray(state.mean[k]))
    gn = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    assert float(m["grad_norm"]) == pytest.approx(gn, rel=1e-5)
    assert int(new.generation) == 1


def test_tell_refuses_an_odd_population():
    p = es.ESParams()
    state = es.init(p, SHAPES, jax.random.PRNGKey(0))
    eps = {k: jnp.zeros((5, *s)) for k, s in SHAPES.items()}
    with pytest.raises(ValueError, match="even"):
        es.tell(p, state, eps, jnp.arange(5.0))


def test_es_climbs_a_quadratic_to_its_known_optimum():
    # maximise -|w - target|^2: the answer is w = target
    target = {"w": jnp.linspace(-2.0, 2.0, 6)}
    p = es.ESParams(lr=0.05, sigma=0.1, weight_decay=0.0)
    state = es.init(p, {"w": (6,)}, jax.random.PRNGKey(0))
    start = float(jnp.sum((state.mean["w"] - target["w"]) ** 2))

    @jax.jit
    def gen(state, key):
        theta, eps = es.ask(p, state, key, 64)
        fit = -jnp.sum((theta["w"] - target["w"]) ** 2, axis=1)
        return es.tell(p, state, eps, fit)[0]

    for g in range(300):
        state = gen(state, jax.random.PRNGKey(g))
    end = float(jnp.sum((state.mean["w"] - target["w"]) ** 2))
    assert start > 1.0
    assert end < 0.01 * start, (start, end)


def test_ordered_sum_is_a_sum_in_a_fixed_order():
    x = jax.random.normal(jax.random.PRNGKey(0), (13, 4))
    got = np.asarray(ec.ordered_sum(x))
    np.testing.assert_allclose(got, np.asarray(x, np.float64).sum(axis=0), rtol=1e-5, atol=1e-6)
    # the order is pairwise over halves, zero-padded to 16: ((x0+x8)+(x4+x12)) + ...
    xs = np.asarray(x)
    pad = np.concatenate([xs, np.zeros((3, 4), np.float32)])
    while len(pad) > 1:
        pad = pad[: len(pad) // 2] + pad[len(pad) // 2:]
    np.testing.assert_array_equal(got, pad[0])
    np.testing.assert_array_equal(np.asarray(ec.ordered_sum(x[:1])), xs[0])
