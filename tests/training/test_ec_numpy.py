"""numpy == JAX: the PRNG, the sampled masks and v0 (evoconn.spec.prng vs jax.extend.random.threefry_2x32),
and EC's ask/tell (evoconn.ec_numpy vs evoconn.training.ec), bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

from evoconn import ec_numpy as ecn
from evoconn.spec import Spec, prng
from evoconn.training import ec


def test_threefry_conventions_match_jax():
    rng = np.random.default_rng(0)
    for _ in range(5):
        k = rng.integers(0, 2 ** 32, 2, dtype=np.uint64).astype(np.uint32)
        x = rng.integers(0, 2 ** 32, (2, 300), dtype=np.uint64).astype(np.uint32)
        y0, y1 = prng.threefry2x32(k[0], k[1], x[0], x[1])
        out = np.asarray(threefry_2x32(jnp.asarray(k), jnp.asarray(x.reshape(-1))))
        np.testing.assert_array_equal(out, np.concatenate([y0, y1]))


def test_keys_match_jax():
    for seed in (0, 5, 2 ** 31 - 1):
        np.testing.assert_array_equal(prng.seed_key(seed), np.asarray(jax.random.PRNGKey(seed)))
        np.testing.assert_array_equal(prng.seed_key(seed), np.asarray(jax.random.key_data(jax.random.key(seed))))
        for d in (0, 1, 1000, 2 ** 32 - 1):
            np.testing.assert_array_equal(prng.fold_in(prng.seed_key(seed), d),
                                          np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), d)))
    key = jax.random.fold_in(jax.random.PRNGKey(3), 9)
    for n in (1, 2, 3, 8):
        np.testing.assert_array_equal(prng.split(np.asarray(key), n), np.asarray(jax.random.split(key, n)))
    np.testing.assert_array_equal(prng.split(prng.seed_key(7)), np.asarray(jax.random.split(jax.random.PRNGKey(7))))
    np.testing.assert_array_equal(np.asarray(ec.member_keys(key, 33)), prng.member_keys(np.asarray(key), 33))
    np.testing.assert_array_equal(np.asarray(ec.member_keys(jax.random.key(3), 4)),
                                  prng.member_keys(prng.seed_key(3), 4))


def _rho(spec: Spec, rng: np.random.Generator, b: int) -> dict[str, np.ndarray]:
    out = {}
    for k, shape in spec.mask_shapes.items():
        r = rng.random(shape).astype(np.float32)
        flat = r.reshape(-1)
        flat[:4] = [1e-3, 1 - 1e-3, 0.5, 0.0]
        flat[4:12] = np.float32(rng.integers(0, 2 ** b, 8) / 2 ** b)
        flat[12:20] = np.float32((rng.integers(0, 2 ** b, 8) + 0.5) / 2 ** b)
        out[k] = r
    return out


@pytest.mark.parametrize("n", [8, 16, 32, 64, 128, 256])
def test_masks_and_v0_numpy_equal_jax_at_every_size(n):
    spec = Spec(n_neurons=n, obs_dim=11, act_dim=3)
    rng = np.random.default_rng(n)
    keys = prng.member_keys(prng.seed_key(n), 4)
    for b in (10, prng.RHO_BITS, 16):
        rho = _rho(spec, rng, b)
        want = prng.sample_masks(rho, keys, b)
        got = jax.jit(ec.sample, static_argnums=2)({k: jnp.asarray(v) for k, v in rho.items()}, jnp.asarray(keys), b)
        assert set(got) == set(spec.mask_shapes)
        for k in want:
            np.testing.assert_array_equal(np.asarray(got[k]), want[k], err_msg=f"{k} b={b}")
    np.testing.assert_array_equal(np.asarray(ec.initial_membrane(jnp.asarray(keys), n, spec.state_frac)),
                                  prng.initial_membrane(keys, n, spec.state_frac))


def test_float_sampling_uses_the_same_words():
    rho = {"a": jnp.full((50, 40), 0.3, jnp.float32)}
    keys = ec.member_keys(jax.random.PRNGKey(0), 8)
    f = np.asarray(ec.sample(rho, keys, None)["a"])
    w = prng.mask_words(np.asarray(keys), 0, (50, 40))
    np.testing.assert_array_equal(f, (w >> np.uint32(8)).astype(np.float32) * np.float32(2 ** -24) < np.float32(0.3))


def _assert_same(js: ec.ECState, ns: ecn.ECState) -> None:
    a = ec.to_numpy(js)
    assert a.generation == ns.generation and a.rho_bits == ns.rho_bits
    for k in ns.rho:
        np.testing.assert_array_equal(a.rho[k], ns.rho[k], err_msg=f"rho {k}")
        np.testing.assert_array_equal(a.mu[k], ns.mu[k], err_msg=f"mu {k}")
        np.testing.assert_array_equal(a.nu[k], ns.nu[k], err_msg=f"nu {k}")


@pytest.mark.parametrize("lr", [0.15, 3.0])  # 3.0 drives entries to the clip limits within a few steps
def test_numpy_ec_equals_jax_ec_over_generations(lr):
    spec = Spec(n_neurons=32, obs_dim=5, act_dim=2)
    jp, npp = ec.ECParams(lr=lr), ecn.ECParams(lr=lr)
    js, ns = ec.init(jp, spec.mask_shapes), ecn.init(npp, spec.mask_shapes)
    ask = jax.jit(ec.ask, static_argnums=2)
    tell = jax.jit(ec.tell, static_argnums=0)
    rng = np.random.default_rng(1)
    n = 24
    hit_clip = False
    for g in range(12):
        key = jax.random.fold_in(jax.random.PRNGKey(7), g)
        th_j = ask(js, key, n)
        th_n = ecn.ask(ns, np.asarray(key), n)
        for k in th_n:
            np.testing.assert_array_equal(np.asarray(th_j[k]), th_n[k])
        # fitness with ties (rounded) and a -0.0, so that the rank rule is exercised
        fit = np.round(rng.normal(size=n) * 2).astype(np.float32)
        fit[0] = -0.0
        if g % 2:
            js, mj = tell(jp, js, ec.member_keys(key, n), jnp.asarray(fit))
        else:
            js, mj = tell(jp, js, th_j, jnp.asarray(fit))
        ns, mn = ecn.tell(npp, ns, prng.member_keys(np.asarray(key), n), fit)
        _assert_same(js, ns)
        # the diagnostics too, bit for bit (a run's metrics do not depend on the implementation)
        assert {k: float(v) for k, v in mj.items()} == mn
        assert set(mn) == {"mean_rho", "entropy", "grad_norm", "density"}
        hit_clip |= any(np.any(r == np.float32(1e-3)) or np.any(r == np.float32(1 - 1e-3)) for r in ns.rho.values())
    if lr > 1:
        assert hit_clip, "lr = 3 should reach the clip limits"
    # and from a state handed over between the two (the board continues a workstation's run)
    js2, _ = tell(jp, ec.from_numpy(ns), ec.member_keys(key, n), jnp.asarray(fit))
    ns2, _ = ecn.tell(npp, ns, prng.member_keys(np.asarray(key), n), fit)
    _assert_same(js2, ns2)


def test_jax_tell_from_keys_equals_tell_from_masks():
    p = ec.ECParams()
    s = ec.init(p, {"x": (9, 7), "y": (5,)})
    key = jax.random.PRNGKey(4)
    fit = jnp.arange(10.0)
    a, _ = ec.tell(p, s, ec.ask(s, key, 10), fit)
    b, _ = ec.tell(p, s, ec.member_keys(key, 10), fit)
    for k in s.rho:
        np.testing.assert_array_equal(np.asarray(a.rho[k]), np.asarray(b.rho[k]))


def test_first_step_from_half_is_exactly_lr():
    """From ρ = 0.5, Adam's first step is lr · sign(g) (up to eps) in both."""
    p, pn = ec.ECParams(), ecn.ECParams()
    s, sn = ec.init(p, {"a": (6, 6)}), ecn.init(pn, {"a": (6, 6)})
    key = jax.random.PRNGKey(0)
    fit = jnp.arange(16.0)
    s, _ = jax.jit(ec.tell, static_argnums=0)(p, s, ec.member_keys(key, 16), fit)
    sn, _ = ecn.tell(pn, sn, prng.member_keys(np.asarray(key), 16), np.arange(16.0))
    _assert_same(s, sn)
    r = sn.rho["a"]
    assert np.all(np.isin(r, np.float32([0.35, 0.5, 0.65])) | (np.abs(np.abs(r - 0.5) - 0.15) < 1e-6))


def test_the_generation_keys_of_both_trainers_are_jaxs():
    """The numpy trainer's keys (evoconn.spec.prng) are the JAX trainer's: fold_in(PRNGKey(seed), g + 1),
    split into the ask and rollout keys, and split(PRNGKey(seed)) for the start."""
    from evoconn.host.train_core import NumpyTrainer

    class Runner:  # the keys need no scoring
        name, traceable = "fake", False

        def bind(self, trainer):
            pass

    from evoconn.training.config import TrainConfig

    cfg = TrainConfig(runner="fake", eval_copies=0, population=4, seed=11, neurons=16)
    t = NumpyTrainer(cfg, Runner(), Spec(n_neurons=16, obs_dim=4, act_dim=1))
    for g in (0, 1, 41):
        want = jax.random.fold_in(jax.random.PRNGKey(11), g + 1)
        np.testing.assert_array_equal(t.gen_key(g), np.asarray(want))
        np.testing.assert_array_equal(prng.split(t.gen_key(g)), np.asarray(jax.random.split(want)))


def test_tell_metrics_are_the_numbers_they_name():
    """mean ρ, the mean entropy (bits) of the quantized ρ, and ‖g‖, against direct float64 formulas."""
    rng = np.random.default_rng(3)
    rho = {"a": rng.uniform(1e-3, 1 - 1e-3, (7, 5)).astype(np.float32), "b": np.full(3, 0.5, np.float32)}
    num = {"a": rng.integers(-90, 90, (7, 5)), "b": np.array([0, 5, -7])}
    m = ecn.tell_metrics(np, rho, num, 10, 12)
    flat = np.concatenate([rho["a"].ravel(), rho["b"]]).astype(np.float64)
    q = np.rint(flat * 4096) / 4096
    assert m["mean_rho"] == pytest.approx(flat.mean(), rel=1e-12)
    assert m["entropy"] == pytest.approx(np.mean(-(q * np.log2(q) + (1 - q) * np.log2(1 - q))), rel=1e-12)
    g = np.concatenate([num["a"].ravel(), num["b"]]) / (2 * 10 * 9)
    assert m["grad_norm"] == pytest.approx(np.sqrt(np.sum(g * g)), rel=1e-12)
    # the deployed masks are ρ > 0.5: the three ρ = 0.5 connections are off
    assert m["density"] == np.sum(flat > 0.5) / flat.size and m["density"] < (flat.size - 3) / flat.size
    assert ecn.entropy_table(12)[2048] == 1.0 and ecn.entropy_table(12)[0] == 0.0
