"""evoconn.training.ec and .es (JAX) against their references, whole values, small sizes (issue 18).

The fast oracle of the mutation group ``training``: no jit loops, a few entries per leaf. EC's JAX
functions are compared for equality with :mod:`evoconn.spec.prng` and :mod:`evoconn.ec_numpy`
(which tests/training/test_mutants_ec.py checks against hand-written references); ES's update
against a float64 OpenAI-ES + AdamW written here.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from evoconn import ec_numpy as ecn
from evoconn.spec import prng
from evoconn.training import ec, es

# jitted (one compilation per shape and parameters: faster than the many small eager ops)
ec_tell = jax.jit(ec.tell, static_argnums=0)
es_tell = jax.jit(es.tell, static_argnums=0)

def _assert_same(js: ec.ECState, ns: ecn.ECState) -> None:
    assert int(js.generation) == ns.generation and js.rho_bits == ns.rho_bits
    assert set(js.rho) == set(ns.rho)
    for k in ns.rho:
        for name, a, b in (("rho", js.rho[k], ns.rho[k]), ("mu", js.opt_state.mu[k], ns.mu[k]),
                           ("nu", js.opt_state.nu[k], ns.nu[k])):
            assert a.dtype == jnp.float32, (name, k)
            np.testing.assert_array_equal(np.asarray(a), b, err_msg=f"{name} {k}")


def _nstate(rng, shapes, generation, bits=prng.RHO_BITS) -> ecn.ECState:
    return ecn.ECState(rho={k: rng.uniform(0.01, 0.99, s).astype(np.float32) for k, s in shapes.items()},
                       mu={k: (rng.normal(size=s) * 0.05).astype(np.float32) for k, s in shapes.items()},
                       nu={k: (rng.random(s) * 1e-3).astype(np.float32) for k, s in shapes.items()},
                       generation=generation, rho_bits=bits)


# --- EC ------------------------------------------------------------------------------------------------

def test_ec_params_defaults_and_checks():
    p = ec.ECParams()
    assert (p.lr, p.b1, p.b2, p.eps, p.clip_eps, p.init_prob, p.rho_bits) == (0.15, 0.9, 0.999, 1e-8, 1e-3, 0.5, 12)
    with pytest.raises(ValueError, match="^" + re.escape("lr must be positive, got 0.0") + "$"):
        ec.ECParams(lr=0.0)
    with pytest.raises(ValueError, match="^" + re.escape("clip_eps must lie in [0, 0.5), got 0.5") + "$"):
        ec.ECParams(clip_eps=0.5)
    assert ec.ECParams(rho_bits=None).rho_bits is None


def test_ec_init():
    s = ec.init(ec.ECParams(init_prob=0.25, rho_bits=7), {"a": (2, 3), "b": (4,)})
    assert s.rho_bits == 7 and s.generation.dtype == jnp.int32 and int(s.generation) == 0
    for k, shape in (("a", (2, 3)), ("b", (4,))):
        for name, arr, v in (("rho", s.rho[k], 0.25), ("mu", s.opt_state.mu[k], 0), ("nu", s.opt_state.nu[k], 0)):
            assert arr.dtype == jnp.float32 and arr.shape == shape, name
            np.testing.assert_array_equal(np.asarray(arr), np.full(shape, v, np.float32))


def test_member_keys_mask_words_and_membrane_are_the_prng_rule():
    raw = prng.fold_in(prng.seed_key(3), 9)
    for key in (jnp.asarray(raw), jax.random.wrap_key_data(jnp.asarray(raw))):  # raw and typed keys
        for n in (1, 3):
            got = ec.member_keys(key, n)
            assert got.dtype == jnp.uint32 and got.shape == (n, 2)
            np.testing.assert_array_equal(np.asarray(got), prng.member_keys(raw, n))
    keys = prng.member_keys(raw, 3)
    for stream, shape in ((0, (5,)), (2, (2, 3)), (prng.STREAM_V0, (1,))):
        got = ec.mask_words(jnp.asarray(keys), stream, shape)
        assert got.dtype == jnp.uint32
        np.testing.assert_array_equal(np.asarray(got), prng.mask_words(keys, stream, shape))
    for frac in (1, 12, 31):
        got = ec.initial_membrane(jnp.asarray(keys), 5, frac)
        assert got.dtype == jnp.int32
        np.testing.assert_array_equal(np.asarray(got), prng.initial_membrane(keys, 5, frac))


def test_sample_and_ask_are_the_prng_rule():
    rng = np.random.default_rng(0)
    rho = {"m1": rng.uniform(0, 1, (3, 5)).astype(np.float32), "m0": rng.uniform(0, 1, (7,)).astype(np.float32)}
    rho["m0"][:3] = [0.0, 1.0, 0.5]
    raw = prng.seed_key(4)
    keys = prng.member_keys(raw, 6)
    jrho = {k: jnp.asarray(v) for k, v in rho.items()}
    for bits in (2, 12, 24):
        got = ec.sample(jrho, jnp.asarray(keys), bits)
        want = prng.sample_masks(rho, keys, bits)
        assert set(got) == set(want)
        for k in want:
            assert got[k].dtype == jnp.bool_
            np.testing.assert_array_equal(np.asarray(got[k]), want[k], err_msg=f"{k} {bits}")
        s = ec.ECState(rho=jrho, opt_state=ec.AdamState(mu=jrho, nu=jrho), generation=jnp.int32(0), rho_bits=bits)
        a = ec.ask(s, jnp.asarray(raw), 6)
        for k in want:
            np.testing.assert_array_equal(np.asarray(a[k]), want[k])
    # the default b is prng.RHO_BITS
    d = ec.sample(jrho, jnp.asarray(keys))
    for k, v in prng.sample_masks(rho, keys).items():
        np.testing.assert_array_equal(np.asarray(d[k]), v)
    # float sampling: 24-bit uniforms from the same words
    f = ec.sample(jrho, jnp.asarray(keys), None)
    streams = prng.mask_streams(rho)
    for k, r in rho.items():
        w = prng.mask_words(keys, streams[k], r.shape)
        u = (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
        np.testing.assert_array_equal(np.asarray(f[k]), u < r)


def test_eval_masks_at_one_half():
    half = np.float32(0.5)
    r = jnp.asarray(np.array([0.1, half, np.nextafter(half, np.float32(1)), 0.9], np.float32))
    s = ec.ECState(rho={"a": r}, opt_state=ec.AdamState(mu={"a": r}, nu={"a": r}), generation=jnp.int32(0))
    e = ec.eval_masks(s, 2)["a"]
    assert e.shape == (2, 4)
    np.testing.assert_array_equal(np.asarray(e), [[False, False, True, True]] * 2)


@pytest.mark.parametrize("fitness", [[3.0, -1.0, 10.0, 0.5, 2.0], [1.0, 1.0, 0.0, -0.0, 1.0, -2.0],
                                     [np.nan, 1.0, np.nan, -np.inf, 0.0, -0.0]])
def test_ranks_are_numpys(fitness):
    f = np.asarray(fitness, np.float32)
    np.testing.assert_array_equal(np.asarray(ec._ranks(jnp.asarray(f))), ecn.ranks(f))
    u = ec.centered_ranks(jnp.asarray(f))
    assert u.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(u), ecn.centered_ranks(f))


def test_ordered_sum_is_numpys():
    x = (np.random.default_rng(1).normal(size=(5, 3)) * 1e4 ** np.arange(3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(ec.ordered_sum(jnp.asarray(x))), ecn.ordered_sum(np, x))


@pytest.mark.parametrize("generation, bits", [(0, 12), (10 ** 6, 5), (4, None)])
def test_tell_equals_the_numpy_update(generation, bits):
    rng = np.random.default_rng(generation % 89)
    p, pn = ec.ECParams(lr=0.4, b1=0.8, b2=0.95, clip_eps=0.05, rho_bits=bits), \
        ecn.ECParams(lr=0.4, b1=0.8, b2=0.95, clip_eps=0.05)
    ns = _nstate(rng, {"mask_h": (4, 3), "mask_in": (5,)}, generation, bits)
    js = ec.from_numpy(ns)
    n = 9
    key = prng.seed_key(generation % 1000)
    keys = prng.member_keys(key, n)
    masks = ({k: np.asarray(v) for k, v in ec.sample(js.rho, jnp.asarray(keys), bits).items()})
    fit = np.round(rng.normal(size=n)).astype(np.float32)
    fit[0] = -0.0
    want, wm = ecn.tell(pn, ns, masks, fit)
    for theta in (jnp.asarray(keys), {k: jnp.asarray(v) for k, v in masks.items()})[: 2 if generation == 0 else 1]:
        got, gm = ec_tell(p, js, theta, jnp.asarray(fit))
        _assert_same(got, want)
        assert got.generation.dtype == jnp.int32
        gm = {k: float(v) for k, v in gm.items()}
        if bits is None:  # the entropy's formula uses log2, whose last bit libraries differ in
            assert gm["entropy"] == pytest.approx(wm["entropy"], rel=1e-14)
            gm["entropy"] = wm["entropy"]
        assert gm == wm


def test_tell_hits_the_clip_limits_exactly():
    p, pn = ec.ECParams(lr=10.0), ecn.ECParams(lr=10.0)
    theta = np.zeros((4, 3, 2), bool)
    theta[3, 0] = True  # the best member has row 0 on, the worst rows 1 and 2
    theta[0, 1:] = True
    js, _ = ec_tell(p, ec.init(p, {"a": (3, 2)}), {"a": jnp.asarray(theta)}, jnp.arange(4.0))
    ns, _ = ecn.tell(pn, ecn.init(pn, {"a": (3, 2)}), {"a": theta}, np.arange(4.0))
    _assert_same(js, ns)
    np.testing.assert_array_equal(np.asarray(js.rho["a"]), np.float32([[1 - 1e-3] * 2, [1e-3] * 2, [1e-3] * 2]))


def test_tell_refuses_more_members_than_the_exact_gradient_holds():
    p = ec.ECParams()
    s = ec.init(p, {"a": (1,)})
    n = ecn.max_members + 1
    msg = f"the exact integer gradient supports up to {ecn.max_members} members, got {n}"
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        ec.tell(p, s, None, jnp.zeros(n))


def test_numpy_state_round_trip():
    ns = _nstate(np.random.default_rng(2), {"a": (2, 2), "b": (3,)}, 7, 9)
    js = ec.from_numpy(ns)
    assert js.rho_bits == 9 and js.generation.dtype == jnp.int32 and int(js.generation) == 7
    _assert_same(js, ns)
    back = ec.to_numpy(js)
    assert type(back.generation) is int and back.generation == 7 and back.rho_bits == 9
    for d, e in ((back.rho, ns.rho), (back.mu, ns.mu), (back.nu, ns.nu)):
        assert set(d) == set(e)
        for k in e:
            assert type(d[k]) is np.ndarray and d[k].dtype == np.float32
            np.testing.assert_array_equal(d[k], e[k])


# --- ES ------------------------------------------------------------------------------------------------

SHAPES = {"w_b": (3,), "w_a": (2, 2)}


def test_es_params_defaults_and_checks():
    p = es.ESParams()
    assert (p.lr, p.sigma, p.weight_decay, p.b1, p.b2, p.eps) == (0.15, 0.3, 0.1, 0.9, 0.999, 1e-8)
    assert es.ESParams(weight_decay=0.0).weight_decay == 0.0
    for kw in ({"lr": 0.0}, {"sigma": 0.0}, {"weight_decay": -0.1}, {"lr": -1.0}, {"sigma": -1.0}):
        with pytest.raises(ValueError, match="^" + re.escape("need lr > 0, sigma > 0, weight_decay >= 0; got ")):
            es.ESParams(**kw)


def test_es_optimizer_is_adamw_with_the_params():
    p = es.ESParams(lr=0.2, b1=0.5, b2=0.8, eps=1e-3, weight_decay=0.3)
    x = {"w": jnp.asarray([1.0, -2.0, 0.5])}
    g = {"w": jnp.asarray([0.3, 0.1, -0.7])}
    want = optax.adamw(0.2, b1=0.5, b2=0.8, eps=1e-3, weight_decay=0.3)
    opt = p.optimizer()
    u1, s1 = opt.update(g, opt.init(x), x)
    w1, t1 = want.update(g, want.init(x), x)
    u2, _ = opt.update(g, s1, x)
    w2, _ = want.update(g, t1, x)
    np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(w1["w"]))
    np.testing.assert_array_equal(np.asarray(u2["w"]), np.asarray(w2["w"]))


def test_es_init_draws_the_mean_from_split_keys_in_sorted_order():
    p = es.ESParams()
    key = jax.random.PRNGKey(5)
    s = es.init(p, SHAPES, key)
    ks = jax.random.split(key, 2)
    np.testing.assert_array_equal(np.asarray(s.mean["w_a"]), np.asarray(jax.random.normal(ks[0], (2, 2))))
    np.testing.assert_array_equal(np.asarray(s.mean["w_b"]), np.asarray(jax.random.normal(ks[1], (3,))))
    assert int(s.generation) == 0 and s.generation.dtype == jnp.int32
    want = p.optimizer().init(s.mean)
    for a, b in zip(jax.tree.leaves(s.opt_state), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_es_ask_is_mirrored_noise_from_split_keys():
    p = es.ESParams(sigma=0.7)
    s = es.init(p, SHAPES, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(3)
    theta, eps = es.ask(p, s, key, 4)
    ks = jax.random.split(key, 2)
    for i, (k, shape) in enumerate(sorted(SHAPES.items())):
        half = np.asarray(jax.random.normal(ks[i], (2, *shape)))
        np.testing.assert_array_equal(np.asarray(eps[k]), np.concatenate([half, -half]))
        np.testing.assert_array_equal(np.asarray(theta[k]), np.asarray(s.mean[k] + 0.7 * eps[k]))
    with pytest.raises(ValueError, match="^" + re.escape("mirrored sampling needs an even number of members, got 5")):
        es.ask(p, s, key, 5)


def _ref_es(p, mean, eps, fits):
    """OpenAI-ES (mirrored, centred ranks) + AdamW, float64, over successive generations."""
    m = {k: np.asarray(v, np.float64) for k, v in mean.items()}
    mu = {k: np.zeros_like(v) for k, v in m.items()}
    nu = {k: np.zeros_like(v) for k, v in m.items()}
    out = []
    for t, (e, fit) in enumerate(zip(eps, fits, strict=True), start=1):
        n = len(fit)
        rk = np.array(ecn.ranks(fit), np.float64)
        u = rk / (n - 1) - 0.5
        g = {k: np.tensordot(u, np.asarray(e[k], np.float64), axes=1) / (n * p.sigma) for k in m}
        for k in m:
            d = -g[k]
            mu[k] = p.b1 * mu[k] + (1 - p.b1) * d
            nu[k] = p.b2 * nu[k] + (1 - p.b2) * d * d
            mh, vh = mu[k] / (1 - p.b1 ** t), nu[k] / (1 - p.b2 ** t)
            m[k] = m[k] - p.lr * (mh / (np.sqrt(vh) + p.eps) + p.weight_decay * m[k])
        gn = np.sqrt(sum(np.sum(v * v) for v in g.values()))
        out.append(({k: v.copy() for k, v in m.items()}, gn, np.sqrt(sum(np.sum(v * v) for v in m.values()))))
    return out


def test_es_tell_is_openai_es_with_adamw_over_generations():
    p = es.ESParams(lr=0.05, sigma=0.2, weight_decay=0.3, b1=0.6, b2=0.9, eps=1e-3)
    s = es.init(p, SHAPES, jax.random.PRNGKey(1))
    mean0 = {k: np.asarray(v) for k, v in s.mean.items()}
    eps_all, fits = [], []
    got = []
    for g in range(3):
        _, eps = es.ask(p, s, jax.random.PRNGKey(10 + g), 6)
        fit = np.asarray(jax.random.normal(jax.random.PRNGKey(20 + g), (6,)))
        s, m = es_tell(p, s, eps, jnp.asarray(fit))
        eps_all.append(eps)
        fits.append(fit)
        got.append((s, m))
    for (st, m), (want, gn, wn) in zip(got, _ref_es(p, mean0, eps_all, fits), strict=True):
        for k in SHAPES:
            np.testing.assert_allclose(np.asarray(st.mean[k]), want[k], rtol=2e-5, atol=2e-6)
        assert float(m["grad_norm"]) == pytest.approx(gn, rel=2e-5)
        assert float(m["weight_norm"]) == pytest.approx(wn, rel=2e-5)
        assert set(m) == {"grad_norm", "weight_norm"}
    assert [int(st.generation) for st, _ in got] == [1, 2, 3]


def test_es_tell_sums_in_the_fixed_order():
    """The gradient is Σ_{i<h} (u_i − u_{i+h}) ε_i in ordered_sum's order, over n σ."""
    p = es.ESParams(lr=0.1, sigma=0.5, weight_decay=0.0)
    s = es.init(p, {"w": (3,)}, jax.random.PRNGKey(2))
    _, eps = es.ask(p, s, jax.random.PRNGKey(3), 10)
    fit = jnp.asarray([5.0, 1.0, 3.0, 9.0, 0.0, 2.0, 8.0, 4.0, 7.0, 6.0])
    _, m = es_tell(p, s, eps, fit)
    u = ecn.centered_ranks(np.asarray(fit))
    e = np.asarray(eps["w"])
    g = ecn.ordered_sum(np, (u[:5] - u[5:])[:, None] * e[:5]) / np.float32(10 * 0.5)
    assert float(m["grad_norm"]) == pytest.approx(float(np.sqrt(np.sum(g.astype(np.float64) ** 2))), rel=1e-6)


def test_es_tell_refuses_an_odd_population():
    p = es.ESParams()
    s = es.init(p, SHAPES, jax.random.PRNGKey(0))
    eps = {k: jnp.zeros((5, *v)) for k, v in SHAPES.items()}
    with pytest.raises(ValueError, match="^" + re.escape("mirrored sampling needs an even number of members, got 5")):
        es.tell(p, s, eps, jnp.arange(5.0))


def test_es_norm_is_the_global_l2_norm():
    tree = {"a": jnp.asarray([3.0, 0.0]), "b": jnp.asarray([[4.0], [12.0]])}
    assert float(es._norm(tree)) == 13.0


def test_member_keys_take_a_key_of_any_integer_dtype():
    """A raw key given as other integers (int64, int32) is read as its uint32 words, as prng reads it."""
    for key in (np.array([3, 2 ** 31 + 5], np.int64), np.array([1, 2], np.uint32), jnp.asarray([4, 9], jnp.int32)):
        want = prng.member_keys(np.asarray(key).astype(np.uint32), 3)
        np.testing.assert_array_equal(np.asarray(ec.member_keys(key, 3)), want)


def test_tell_at_the_largest_population_is_the_exact_numpy_update():
    """max_members members (accepted, as numpy accepts them): the rank sums reach ~n²/4, beyond
    float32's 2**24, and the integer numerator still gives numpy's update bit for bit."""
    n = ecn.max_members
    rng = np.random.default_rng(6)
    masks = rng.random((n, 3)) < 0.5
    fit = rng.permutation(n).astype(np.float32)
    p, pn = ec.ECParams(), ecn.ECParams()
    want, wm = ecn.tell(pn, ecn.init(pn, {"a": (3,)}), {"a": masks}, fit)
    got, gm = ec_tell(p, ec.init(p, {"a": (3,)}), {"a": jnp.asarray(masks)}, jnp.asarray(fit))
    _assert_same(got, want)
    assert {k: float(v) for k, v in gm.items()} == wm


def test_float_sampling_is_strictly_below_rho():
    """Float sampling's bit is u < ρ with u = (word >> 8) 2**-24: a ρ equal to member 0's own u
    gives 0 there (and member 1's bits follow the same rule)."""
    keys = prng.member_keys(prng.seed_key(8), 2)
    w = prng.mask_words(keys, 0, (6,))
    u = (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
    rho = u[0].copy()
    got = np.asarray(ec.sample({"a": jnp.asarray(rho)}, jnp.asarray(keys), None)["a"])
    np.testing.assert_array_equal(got, u < rho)
    assert not got[0].any()
