"""evoconn.ec_numpy against references written here from its contract (issue 18's survivors).

numpy only, small sizes. Every reference is written per entry in Python floats (IEEE double) with
an explicit rounding to float32 where the module doc says a value is stored, so whole states and
the diagnostics are compared for equality, bit for bit: the NES update, the rank rule (ties,
-0.0, NaN), the Adam step with its clip limits hit exactly, the bias tables and the entropy table,
the ordered sums, the deterministic mask at ρ exactly 0.5, the parameter checks' messages and the
strategy wrapper.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from evoconn import ec_numpy as ecn
from evoconn.algorithm import Population
from evoconn.spec import prng


def f32(x: float) -> float:
    """Round a Python float to float32 (and back to a Python float, exactly)."""
    return float(np.float32(x))


# --- references ------------------------------------------------------------------------------------

def ref_ranks(fitness) -> list[int]:
    """Rank 0 for the lowest float32 value, ties by index, NaN above every number, -0.0 == 0.0."""
    f = [float(np.float32(x)) for x in fitness]
    order = sorted(range(len(f)), key=lambda i: (math.isnan(f[i]), 0.0 if math.isnan(f[i]) else f[i], i))
    rk = [0] * len(f)
    for pos, i in enumerate(order):
        rk[i] = pos
    return rk


def ref_numerator(rk: list[int], theta: np.ndarray) -> np.ndarray:
    """2 Σ_i rank_i θ_i − (n − 1) Σ_i θ_i per entry, in Python integers."""
    n = len(rk)
    flat = theta.reshape(n, -1)
    out = [sum((2 * rk[i] - (n - 1)) * int(flat[i, j]) for i in range(n)) for j in range(flat.shape[1])]
    return np.array(out, np.int64).reshape(theta.shape[1:])


def ref_bias_tables(lr: float, b1: float, b2: float) -> tuple[list[float], list[float]]:
    """Entry t: f32(lr / (1 - b1**t)) and f32(1 / (1 - b2**t)), b**t as a running product; the
    tables end at the first t where both equal their limits."""
    a1, i2 = [f32(lr)], [1.0]
    p1 = p2 = 1.0
    while not (len(a1) > 1 and a1[-1] == f32(lr) and i2[-1] == 1.0):
        p1, p2 = p1 * b1, p2 * b2
        a1.append(f32(lr / (1.0 - p1)))
        i2.append(f32(1.0 / (1.0 - p2)))
    return a1, i2


def ref_adam(p, rho, mu, nu, a1: float, i2: float, num, n: int):
    """The documented Adam ascent step, one entry at a time."""
    rho, mu, nu, num = (np.asarray(x) for x in (rho, mu, nu, num))
    out = [np.empty(rho.shape, np.float32) for _ in range(3)]
    lo, hi = f32(p.clip_eps), f32(1.0 - p.clip_eps)
    for idx in np.ndindex(rho.shape):
        g = f32(int(num[idx]) / (2 * n * (n - 1)))
        m = f32(f32(p.b1) * float(mu[idx]) + f32(1.0 - p.b1) * g)
        v = f32(f32(p.b2) * float(nu[idx]) + f32(1.0 - p.b2) * f32(g * g))
        m_hat = f32(m * a1)
        v_hat = f32(v * i2)
        den = f32(f32(math.sqrt(v_hat)) + f32(p.eps))
        r = f32(float(rho[idx]) + f32(m_hat / den))
        out[0][idx], out[1][idx], out[2][idx] = min(max(r, lo), hi), m, v
    return tuple(out)


def ref_pairwise(values: list[float], rnd=float) -> float:
    """Σ in the fixed order: zero-padded to a power of two, halves added elementwise, each
    value and partial sum rounded by ``rnd`` (float: float64; f32: float32)."""
    x = [rnd(v) for v in values]
    m = 1
    while m < len(x):
        m *= 2
    x += [0.0] * (m - len(x))
    while len(x) > 1:
        h = len(x) // 2
        x = [rnd(x[i] + x[i + h]) for i in range(h)]
    return x[0]


def ref_metrics(rho: dict, num: dict, n: int, bits: int | None) -> dict[str, float]:
    names = sorted(rho)
    r = [float(v) for k in names for v in np.asarray(rho[k], np.float32).reshape(-1)]
    size = len(r)
    if bits is None:
        h = [float(-(np.float64(x) * np.log2(np.float64(x)) + (1 - np.float64(x)) * np.log2(1 - np.float64(x))))
             for x in r]
    else:
        m = 1 << bits
        h = []
        for x in r:
            q = int(np.rint(np.float32(x) * np.float32(m)))
            h.append(0.0 if q in (0, m) else -((q / m) * math.log2(q / m) + (1 - q / m) * math.log2(1 - q / m)))
    sq = [float(int(v) ** 2) for k in names for v in np.asarray(num[k]).reshape(-1)]
    return {"mean_rho": ref_pairwise(r) * (1.0 / size), "entropy": ref_pairwise(h) * (1.0 / size),
            "grad_norm": math.sqrt(ref_pairwise(sq)) * (1.0 / (2 * n * (n - 1))),
            "density": sum(x > 0.5 for x in r) * (1.0 / size)}


def ref_tell(p, state: ecn.ECState, masks: dict, fitness):
    """The whole NES step, from the references above."""
    rk = ref_ranks(fitness)
    n = len(rk)
    a1, i2 = ref_bias_tables(p.lr, p.b1, p.b2)
    t = min(state.generation + 1, len(a1) - 1)
    num = {k: ref_numerator(rk, np.asarray(masks[k])) for k in state.rho}
    rho, mu, nu = {}, {}, {}
    for k in state.rho:
        rho[k], mu[k], nu[k] = ref_adam(p, state.rho[k], state.mu[k], state.nu[k], a1[t], i2[t], num[k], n)
    return rho, mu, nu, ref_metrics(rho, num, n, state.rho_bits)


def _state(rng: np.random.Generator, shapes: dict, generation: int, bits: int = prng.RHO_BITS) -> ecn.ECState:
    rho = {k: rng.uniform(0.01, 0.99, s).astype(np.float32) for k, s in shapes.items()}
    mu = {k: (rng.normal(size=s) * 0.05).astype(np.float32) for k, s in shapes.items()}
    nu = {k: (rng.random(s) * 1e-3).astype(np.float32) for k, s in shapes.items()}
    return ecn.ECState(rho=rho, mu=mu, nu=nu, generation=generation, rho_bits=bits)


def _assert_state(got: ecn.ECState, rho: dict, mu: dict, nu: dict) -> None:
    assert set(got.rho) == set(rho) and set(got.mu) == set(rho) and set(got.nu) == set(rho)
    for k in rho:
        for name, a, b in (("rho", got.rho[k], rho[k]), ("mu", got.mu[k], mu[k]), ("nu", got.nu[k], nu[k])):
            assert a.dtype == np.float32, (name, k, a.dtype)
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {k}")


# --- parameters ------------------------------------------------------------------------------------

def test_params_defaults_are_the_papers():
    p = ecn.ECParams()
    assert (p.lr, p.b1, p.b2, p.eps, p.clip_eps, p.init_prob, p.rho_bits) == (0.15, 0.9, 0.999, 1e-8, 1e-3, 0.5, 12)


@pytest.mark.parametrize("kw, msg", [
    ({"lr": 0.0}, "lr must be positive, got 0.0"),
    ({"lr": -1.0}, "lr must be positive, got -1.0"),
    ({"clip_eps": 0.5}, "clip_eps must lie in [0, 0.5), got 0.5"),
    ({"clip_eps": -1e-9}, "clip_eps must lie in [0, 0.5), got -1e-09"),
    ({"init_prob": 0.0}, "init_prob must lie in (0, 1), got 0.0"),
    ({"init_prob": 1.0}, "init_prob must lie in (0, 1), got 1.0"),
    ({"rho_bits": 0}, "rho_bits must be an integer in [1, 24], got 0"),
    ({"rho_bits": 25}, "rho_bits must be an integer in [1, 24], got 25"),
    ({"rho_bits": 12.0}, "rho_bits must be an integer in [1, 24], got 12.0"),
    ({"rho_bits": "12"}, "rho_bits must be an integer in [1, 24], got '12'"),
])
def test_params_refused_with_their_message(kw, msg):
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        ecn.ECParams(**kw)


def test_params_at_the_edges_of_their_ranges_are_accepted():
    for kw in ({"lr": 1e-30}, {"clip_eps": 0.0}, {"clip_eps": 0.4999}, {"init_prob": 1e-6},
               {"init_prob": 1 - 1e-6}, {"rho_bits": 1}, {"rho_bits": 24}, {"rho_bits": None}):
        p = ecn.ECParams(**kw)
        assert getattr(p, next(iter(kw))) == next(iter(kw.values()))


# --- init, ask, eval masks ---------------------------------------------------------------------------

def test_init_is_init_prob_and_zero_moments():
    p = ecn.ECParams(init_prob=0.3, rho_bits=9)
    s = ecn.init(p, {"a": (2, 3), "b": (4,)})
    assert s.generation == 0 and s.rho_bits == 9
    for k, shape in (("a", (2, 3)), ("b", (4,))):
        for name, arr, want in (("rho", s.rho[k], np.float32(0.3)), ("mu", s.mu[k], 0), ("nu", s.nu[k], 0)):
            assert arr.dtype == np.float32 and arr.shape == shape, (name, k)
            np.testing.assert_array_equal(arr, np.full(shape, want, np.float32))
        assert s.mu[k] is not s.nu[k]  # the moments are two arrays (one updated in place leaves the other)


def test_ask_is_the_prng_rule_with_the_states_bits():
    rng = np.random.default_rng(0)
    key = prng.seed_key(5)
    for bits in (3, 12):
        s = _state(rng, {"m1": (5, 4), "m0": (3,)}, 0, bits)
        got = ecn.ask(s, key, 6)
        want = prng.sample_masks(s.rho, prng.member_keys(key, 6), bits)
        assert set(got) == {"m0", "m1"}
        for k in want:
            assert got[k].dtype == bool and got[k].shape == (6, *s.rho[k].shape)
            np.testing.assert_array_equal(got[k], want[k])
    # with 3 bits the rule differs from 12 bits on this ρ: the state's bits are used
    s3 = _state(np.random.default_rng(1), {"m": (40,)}, 0, 3)
    s12 = ecn.ECState(rho=s3.rho, mu=s3.mu, nu=s3.nu, generation=0, rho_bits=12)
    assert not np.array_equal(ecn.ask(s3, key, 8)["m"], ecn.ask(s12, key, 8)["m"])


def test_eval_masks_are_rho_above_one_half_exactly():
    half = np.float32(0.5)
    r = np.array([[0.0, np.nextafter(half, np.float32(0)), half],
                  [np.nextafter(half, np.float32(1)), 0.999, 1.0]], np.float32)
    s = ecn.ECState(rho={"a": r}, mu={"a": r * 0}, nu={"a": r * 0}, generation=0)
    e = ecn.eval_masks(s, 3)["a"]
    assert e.shape == (3, 2, 3) and e.dtype == bool
    np.testing.assert_array_equal(e, np.broadcast_to([[False, False, False], [True, True, True]], (3, 2, 3)))


# --- ranks and the gradient's numerator ---------------------------------------------------------------

@pytest.mark.parametrize("fitness", [
    [3.0, -1.0, 10.0, 0.5, 2.0],
    [1.0, 1.0, 0.0, -0.0, 1.0, -2.0],                   # ties by index, -0.0 equal to 0.0
    [-0.0, 0.0, -0.0],
    [np.nan, 1.0, np.nan, -np.inf, np.inf, 0.0],        # NaN above +inf, ties by index
    [1.0, 1.0 + 1e-12, 1.0 - 1e-12, 0.5],               # equal as float32: ties
    [2.0, 1.0],
])
def test_ranks_and_centered_ranks(fitness):
    rk = ref_ranks(fitness)
    got = ecn.ranks(np.asarray(fitness, np.float64))
    assert got.tolist() == rk
    n = len(fitness)
    u = ecn.centered_ranks(np.asarray(fitness, np.float64))
    assert u.dtype == np.float32
    np.testing.assert_array_equal(u, np.array([f32(f32(r / f32(n - 1)) - 0.5) for r in rk], np.float32))
    assert u.min() == -0.5 and u.max() == 0.5


def test_gradient_numerator_is_the_integer_sum():
    rng = np.random.default_rng(2)
    for n, shape in ((2, (3,)), (5, (2, 3)), (9, (4, 1, 2))):
        rk = np.array(ref_ranks(rng.normal(size=n)))
        theta = rng.random((n, *shape)) < 0.4
        got = ecn.gradient_numerator(rk, theta)
        assert got.dtype == np.int64 and got.shape == shape
        np.testing.assert_array_equal(got, ref_numerator(rk.tolist(), theta))
    # all members on (or all off): the gradient is exactly 0
    rk = np.arange(6)
    np.testing.assert_array_equal(ecn.gradient_numerator(rk, np.ones((6, 4), bool)), np.zeros(4, np.int64))


# --- the Adam step and its tables ---------------------------------------------------------------------

@pytest.mark.parametrize("lr, b1, b2", [(0.15, 0.9, 0.999), (0.5, 0.5, 0.9), (2.0, 0.0, 0.0), (0.01, 0.99, 0.5)])
def test_bias_tables_are_the_running_products(lr, b1, b2):
    a1, i2 = ecn.bias_tables(lr, b1, b2)
    ra1, ri2 = ref_bias_tables(lr, b1, b2)
    assert a1.dtype == np.float32 and i2.dtype == np.float32
    assert a1.tolist() == ra1 and i2.tolist() == ri2
    assert a1[0] == np.float32(lr) and i2[0] == 1 and a1[-1] == np.float32(lr) and i2[-1] == 1


def test_bias_tables_ends():
    a1, i2 = ecn.bias_tables(0.15, 0.9, 0.999)
    assert a1[1] == np.float32(0.15 / 0.1) and i2[1] == np.float32(1 / (1 - 0.999))
    assert not (a1[-2] == np.float32(0.15) and i2[-2] == 1)  # the first t where both are final
    a1, i2 = ecn.bias_tables(1.0, 0.0, 0.0)  # no bias at all: t = 1 is already final
    assert a1.tolist() == [1.0, 1.0] and i2.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("b1, b2", [(1.0, 0.9), (0.9, 1.0), (-0.1, 0.9), (0.9, -1e-9)])
def test_bias_tables_refuse_betas_outside_0_1(b1, b2):
    with pytest.raises(ValueError, match="^" + re.escape(f"b1 and b2 must lie in [0, 1), got {b1}, {b2}") + "$"):
        ecn.bias_tables(0.15, b1, b2)


@pytest.mark.parametrize("n", [2, 3, 24])
def test_adam_step_equals_the_reference_entry_by_entry(n):
    rng = np.random.default_rng(n)
    p = ecn.ECParams(lr=0.3, b1=0.8, b2=0.99, eps=1e-4, clip_eps=0.01)
    shape = (7, 6)
    rho = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    rho.flat[:4] = [np.float32(0.01), np.float32(0.99), np.float32(0.02), np.float32(0.98)]
    mu = (rng.normal(size=shape) * 0.1).astype(np.float32)
    mu.flat[:4] = [-0.1, 0.1, -0.1, 0.1]
    nu = (rng.random(shape) * 0.01).astype(np.float32)
    d = n * (n - 1)
    num = rng.integers(-d, d + 1, shape)
    num.flat[:4] = [-d, d, -d, d]  # the largest steps at the edges: the clip limits are hit
    num.flat[4] = 0
    a1, i2 = ecn.bias_tables(p.lr, p.b1, p.b2)
    for t in (1, 2, 5):
        got = ecn.adam_step(np, p, rho, mu, nu, a1[t], i2[t], num, n)
        want = ref_adam(p, rho, mu, nu, float(a1[t]), float(i2[t]), num, n)
        for name, a, b in zip(("rho", "mu", "nu"), got, want, strict=True):
            assert a.dtype == np.float32 and a.shape == shape, name
            np.testing.assert_array_equal(a, b, err_msg=f"{name} t={t}")
        assert got[0].flat[0] == np.float32(0.01) and got[0].flat[1] == np.float32(0.99)
        assert np.all(got[0] >= np.float32(0.01)) and np.all(got[0] <= np.float32(0.99))


def test_adam_first_step_from_half_is_lr_times_the_sign():
    p = ecn.ECParams()
    a1, i2 = ecn.bias_tables(p.lr, p.b1, p.b2)
    z = np.zeros(3, np.float32)
    rho, mu, nu = ecn.adam_step(np, p, np.full(3, 0.5, np.float32), z, z, a1[1], i2[1], np.array([-90, 0, 90]), 10)
    # g = ±0.5: m̂ = ±lr·0.5, √v̂ = 0.5, so the step is lr·(0.5 / (0.5 + eps)) each way
    np.testing.assert_array_equal(mu, np.float32([-0.05, 0, 0.05]))
    np.testing.assert_array_equal(nu, np.float32([0.25 * f32(1 - 0.999)] * 3) * np.float32([1, 0, 1]))
    np.testing.assert_array_equal(rho, ref_adam(p, np.full(3, 0.5, np.float32), z, z, float(a1[1]), float(i2[1]),
                                                np.array([-90, 0, 90]), 10)[0])
    assert rho[1] == 0.5 and abs(rho[0] - 0.35) < 1e-6 and abs(rho[2] - 0.65) < 1e-6


def test_adam_clip_limits_are_hit_exactly():
    for clip in (0.0, 1e-3, 0.25):
        p = ecn.ECParams(lr=5.0, clip_eps=clip)
        a1, i2 = ecn.bias_tables(p.lr, p.b1, p.b2)
        z = np.zeros(2, np.float32)
        rho, _, _ = ecn.adam_step(np, p, np.full(2, 0.5, np.float32), z, z, a1[1], i2[1], np.array([-12, 12]), 4)
        np.testing.assert_array_equal(rho, np.float32([clip, 1 - clip]))


# --- ordered sums, entropy, diagnostics -------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_ordered_sum_is_the_fixed_pairwise_order(n):
    rng = np.random.default_rng(n)
    x = (rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-6, 7, (n, 3))).astype(np.float32)
    got = ecn.ordered_sum(np, x)
    assert got.dtype == np.float32 and got.shape == (3,)
    want = [f32_pairwise([float(v) for v in x[:, j]]) for j in range(3)]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    # in float64 too, with values whose sum depends on the order
    y = np.array([[1e16], [1.0], [-1e16], [1.0], [3.0]])
    assert ecn.ordered_sum(np, y)[0] == ref_pairwise([1e16, 1.0, -1e16, 1.0, 3.0])


def f32_pairwise(values: list[float]) -> float:
    return ref_pairwise(values, f32)


def test_ordered_sum_pads_with_zeros_not_copies():
    x = np.array([1.0, 2.0, 4.0], np.float64).reshape(3, 1)
    assert ecn.ordered_sum(np, x)[0] == 7.0
    x = np.arange(1.0, 7.0).reshape(6, 1)
    assert ecn.ordered_sum(np, x)[0] == 21.0


@pytest.mark.parametrize("bits", [1, 2, 4, 12])
def test_entropy_table(bits):
    h = ecn.entropy_table(bits)
    m = 1 << bits
    assert h.dtype == np.float64 and h.shape == (m + 1,)
    want = [0.0] + [-((q / m) * math.log2(q / m) + (1 - q / m) * math.log2(1 - q / m)) for q in range(1, m)] + [0.0]
    assert h.tolist() == want
    assert h[m // 2] == 1.0 and h[0] == 0.0 and h[m] == 0.0
    np.testing.assert_array_equal(h, h[::-1])


def test_entropy_table_known_values():
    assert ecn.entropy_table(1).tolist() == [0.0, 1.0, 0.0]
    assert ecn.entropy_table(2)[1] == pytest.approx(0.8112781244591328, rel=1e-15)


@pytest.mark.parametrize("bits", [12, 4, None])
def test_tell_metrics_exact(bits):
    rng = np.random.default_rng(7)
    # dict order unsorted on purpose: the sums run over the names in sorted order
    rho = {"b": rng.uniform(1e-3, 1 - 1e-3, (5, 3)).astype(np.float32),
           "a": rng.uniform(1e-3, 1 - 1e-3, (4,)).astype(np.float32),
           "c": np.array([0.5, 0.5, np.nextafter(np.float32(0.5), np.float32(1)), 1e-3], np.float32)}
    num = {"b": rng.integers(-400, 400, (5, 3)), "a": np.array([0, 7, -11, 3]), "c": np.array([1, 0, -1, 2])}
    got = ecn.tell_metrics(np, rho, num, 12, bits)
    want = ref_metrics(rho, num, 12, bits)
    assert set(got) == {"mean_rho", "entropy", "grad_norm", "density"}
    assert {k: float(v) for k, v in got.items()} == want
    assert want["density"] == sum(int(np.sum(r > 0.5)) for r in rho.values()) / 23


def test_tell_metrics_at_the_start_and_at_convergence():
    rho = {"a": np.full((4, 4), 0.5, np.float32)}
    m = ecn.tell_metrics(np, rho, {"a": np.zeros((4, 4), np.int64)}, 8, 12)
    assert {k: float(v) for k, v in m.items()} == {"mean_rho": 0.5, "entropy": 1.0, "grad_norm": 0.0,
                                                    "density": 0.0}
    rho = {"a": np.float32([1e-3, 1 - 1e-3, 1e-3, 1 - 1e-3])}
    m = ecn.tell_metrics(np, rho, {"a": np.array([3, -4, 0, 0])}, 2, 8)  # q = rint(ρ 256) = 0 and 256
    assert float(m["entropy"]) == 0.0 and float(m["density"]) == 0.5
    assert float(m["grad_norm"]) == 5.0 / 4
    assert float(m["mean_rho"]) == (2 * f32(1e-3) + 2 * f32(1 - 1e-3)) * 0.25


# --- the whole update ------------------------------------------------------------------------------------

@pytest.mark.parametrize("generation", [0, 1, 3, 10 ** 6])
def test_tell_equals_the_reference_update(generation):
    rng = np.random.default_rng(generation % 97)
    p = ecn.ECParams(lr=0.2, b1=0.85, b2=0.99, eps=1e-6, clip_eps=0.02)
    shapes = {"mask_out": (3, 4), "mask_h": (5, 5), "mask_in": (2,)}
    s = _state(rng, shapes, generation, 10)
    n = 11
    keys = prng.member_keys(prng.seed_key(generation % 1000 + 3), n)
    masks = prng.sample_masks(s.rho, keys, 10)
    fit = np.round(rng.normal(size=n) * 2).astype(np.float32)  # ties
    fit[0], fit[1] = -0.0, 0.0
    rho, mu, nu, metrics = ref_tell(p, s, masks, fit)
    for members in (keys, masks):
        new, got = ecn.tell(p, s, members, fit)
        assert new.generation == generation + 1 and new.rho_bits == 10
        _assert_state(new, rho, mu, nu)
        assert got == metrics and all(type(v) is float for v in got.values())
    # the state handed in is not changed
    assert s.generation == generation


def test_tell_uses_the_bias_tables_entry_of_its_step():
    """The entry t = generation + 1, the last entry once t is past the tables' end."""
    p = ecn.ECParams(lr=0.2, b1=0.5, b2=0.9)
    a1, _ = ecn.bias_tables(p.lr, p.b1, p.b2)
    rng = np.random.default_rng(11)
    masks = {"a": rng.random((6, 8)) < 0.5}
    fit = np.arange(6.0)
    results = []
    for g in (0, 1, len(a1) - 3, len(a1) - 2, len(a1) - 1, len(a1) + 5):
        s = _state(np.random.default_rng(1), {"a": (8,)}, g)
        new, _ = ecn.tell(p, s, masks, fit)
        rho, mu, nu, _ = ref_tell(p, s, masks, fit)
        _assert_state(new, rho, mu, nu)
        results.append(new.rho["a"])
    assert not np.array_equal(results[0], results[1]) and not np.array_equal(results[2], results[3])
    np.testing.assert_array_equal(results[3], results[4])
    np.testing.assert_array_equal(results[4], results[5])


def test_tell_regenerates_masks_in_chunks_as_one_sum():
    """More members than one chunk of regenerated masks: the same update as from the masks."""
    rng = np.random.default_rng(5)
    p = ecn.ECParams()
    s = _state(rng, {"x": (3, 2), "y": (4,)}, 2)
    for n in (63, 64, 65, 150):
        keys = prng.member_keys(prng.seed_key(n), n)
        masks = prng.sample_masks(s.rho, keys, s.rho_bits)
        fit = rng.normal(size=n).astype(np.float32)
        a, ma = ecn.tell(p, s, keys, fit)
        rho, mu, nu, metrics = ref_tell(p, s, masks, fit)
        _assert_state(a, rho, mu, nu)
        assert ma == metrics


def test_tell_refuses_bad_member_keys():
    s = ecn.init(ecn.ECParams(), {"a": (3,)})
    for shape in ((4, 3), (4,), (4, 2, 1)):
        with pytest.raises(ValueError, match="^" + re.escape(f"member keys must be (n, 2) uint32, got {shape}") + "$"):
            ecn.tell(ecn.ECParams(), s, np.zeros(shape, np.uint32), np.arange(4.0))


def test_tell_population_limits():
    p = ecn.ECParams()
    s = ecn.init(p, {"a": (1,)})
    for n in (0, 1, ecn.max_members + 1):
        msg = f"the exact integer gradient needs 2 to {ecn.max_members} members, got {n}"
        with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
            ecn.tell(p, s, {"a": np.zeros((n, 1), bool)}, np.zeros(n))
    assert ecn.max_members == 46340 and 46340 * 46339 < 2 ** 31  # the numerator's bound (int32 in JAX)
    for n in (2, ecn.max_members):
        th = np.zeros((n, 1), bool)
        th[-1] = True  # the best member has the bit on: ρ rises
        new, m = ecn.tell(p, s, {"a": th}, np.arange(n, dtype=np.float64))
        rho, mu, nu, metrics = ref_tell(p, s, {"a": th}, np.arange(n, dtype=np.float64)) if n == 2 else (None,) * 4
        assert new.rho["a"][0] > 0.5
        if n == 2:
            _assert_state(new, rho, mu, nu)
            assert m == metrics


# --- the strategy wrapper -----------------------------------------------------------------------------

def test_strategy_create_and_its_methods():
    st = ecn.ECStrategy.create({"b": (np.int64(3), 2), "a": [4]}, 5, lr=0.3, rho_bits=8)
    assert st.shapes == (("b", (3, 2)), ("a", (4,))) and all(type(x) is int for _, s in st.shapes for x in s)
    assert st.popsize == 5 and st.params == ecn.ECParams(lr=0.3, rho_bits=8)
    assert st.name == "ec" and st.member_kind == "masks"
    s = st.init(key=None)
    assert s.generation == 0 and s.rho_bits == 8
    for k, shape in (("a", (4,)), ("b", (3, 2))):
        np.testing.assert_array_equal(s.rho[k], np.full(shape, 0.5, np.float32))
    key = prng.seed_key(9)
    pop, s2 = st.ask(key, s)
    assert isinstance(pop, Population) and pop.noise is None and s2 is s
    want = ecn.ask(s, key, 5)
    assert set(pop.members) == set(want)
    for k in want:
        np.testing.assert_array_equal(pop.members[k], want[k])
    fit = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    new, m = st.tell(pop, fit, s)
    new2, m2 = ecn.tell(st.params, s, want, fit)
    assert m == m2 and new.generation == 1
    _assert_state(new, new2.rho, new2.mu, new2.nu)
    e = st.eval_members(new, 2)
    for k in new.rho:
        np.testing.assert_array_equal(e[k], np.broadcast_to(new.rho[k] > 0.5, (2, *new.rho[k].shape)))
    assert st.distribution(new) is new.rho
    # the default hyperparameters are ECParams()
    assert ecn.ECStrategy.create({"a": (2,)}, 2).params == ecn.ECParams()


@pytest.mark.parametrize("popsize", [1, 0, -3])
def test_strategy_refuses_a_population_below_two(popsize):
    with pytest.raises(ValueError, match="^" + re.escape(f"EC needs a population of at least 2, got {popsize}") + "$"):
        ecn.ECStrategy.create({"a": (2,)}, popsize)


def test_tell_from_keys_regenerates_the_masks_with_the_states_bits():
    """With 2 bits ρ = 0.3 samples with probability rint(1.2) / 4 = 1/4, not 0.3: the masks tell
    regenerates from keys are the ones ask drew (the state's bits), whatever the default."""
    p = ecn.ECParams(init_prob=0.3, rho_bits=2)
    s = ecn.init(p, {"a": (6, 5)})
    keys = prng.member_keys(prng.seed_key(21), 16)
    masks = ecn.ask(s, prng.seed_key(21), 16)
    assert not np.array_equal(masks["a"], prng.sample_masks(s.rho, keys)["a"])  # 12 bits differ
    fit = np.arange(16.0)
    a, ma = ecn.tell(p, s, keys, fit)
    rho, mu, nu, metrics = ref_tell(p, s, masks, fit)
    _assert_state(a, rho, mu, nu)
    assert ma == metrics and a.rho_bits == 2


def test_ordered_sum_pads_to_the_smallest_power_of_two():
    """IEEE: -0.0 + -0.0 = -0.0 but -0.0 + 0.0 = 0.0, so the sign of a zero sum tells how many
    zeros were padded: none for n a power of two (n = 1 included), up to the next one otherwise."""
    for n in (1, 2, 4, 8):
        s = ecn.ordered_sum(np, np.full((n, 2), -0.0))
        assert s.tolist() == [0.0, 0.0] and np.all(np.signbit(s)), n
    for n in (3, 5, 6, 7):
        s = ecn.ordered_sum(np, np.full((n, 2), -0.0))
        assert s.tolist() == [0.0, 0.0] and not np.any(np.signbit(s)), n
