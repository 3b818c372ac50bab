"""Bit-exactness: the scalar oracle, the numpy model and the JAX integer model agree exactly."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoconn.spec import Spec, State, numpy_env_step, oracle_env_step
from evoconn.training.models import IntState, int_env_step, prepare_int_masks

from .conftest import random_masks, random_state, random_xq


@functools.cache
def jax_step(spec: Spec):
    """The population step training uses: vmap over members, each with its own masks."""

    def step(mi, mh, mo, st, xq):
        masks = prepare_int_masks(spec, mi, mh, mo)
        return int_env_step(spec, masks, st, xq)

    return jax.jit(jax.vmap(step))


def run_jax(spec, masks, state, xq):
    st = IntState(*(jnp.asarray(state[k], jnp.int32) for k in ("v", "isyn", "rate")),
                  jnp.asarray(state["spike"], bool))
    new, out, fired = jax_step(spec)(masks["mask_in"], masks["mask_h"], masks["mask_out"], st, jnp.asarray(xq))
    as_np = {"v": new.v, "isyn": new.isyn, "rate": new.rate, "spike": new.spike.astype(jnp.int8)}
    return {k: np.asarray(v) for k, v in as_np.items()}, np.asarray(out), np.asarray(fired)


def run_oracle(spec, masks, state, xq):
    """The oracle, member by member; returns arrays shaped like numpy_env_step's."""
    outs, news, fired = [], [], []
    for b in range(xq.shape[0]):
        st = State(*(state[k][b].tolist() for k in ("v", "isyn", "rate", "spike")))
        spikes = []
        new, out = oracle_env_step(spec, {k: m[b] for k, m in masks.items()}, st, xq[b].tolist(), spikes)
        news.append(new.as_arrays())
        outs.append(out)
        fired.append(spikes)
    new = {k: np.stack([n[k] for n in news]) for k in news[0]}
    return new, np.asarray(outs), np.asarray(fired)


def assert_same(a, b, where=""):
    (sa, oa, fa), (sb, ob, fb) = a, b
    for k in ("v", "isyn", "rate", "spike"):
        np.testing.assert_array_equal(np.asarray(sa[k], np.int64), np.asarray(sb[k], np.int64),
                                      err_msg=f"{k} {where}")
    np.testing.assert_array_equal(np.asarray(oa, np.int64), np.asarray(ob, np.int64), err_msg=f"out {where}")
    np.testing.assert_array_equal(np.asarray(fa, np.int64), np.asarray(fb, np.int64), err_msg=f"fired {where}")


SIZES = [(8, 1, 1), (16, 3, 2), (64, 5, 3), (256, 11, 3)]


@pytest.mark.parametrize("n,d,a", SIZES)
def test_oracle_numpy_and_jax_agree_over_an_episode(n, d, a):
    """State carried across env steps; every output and every state word compared each step."""
    spec = Spec(n_neurons=n, obs_dim=d, act_dim=a, substeps=33 if n == 256 else 7)
    rng = np.random.default_rng(n)
    batch = 2 if n == 256 else 3
    masks = random_masks(spec, rng, density=0.3, batch=(batch,))
    state = random_state(spec, rng, (batch,))
    steps = 3 if n == 256 else 6
    total_spikes = 0
    for t in range(steps):
        xq = random_xq(spec, rng, (batch,), extreme=(t == 2))
        ref = numpy_env_step(spec, masks, state, xq)
        assert_same(ref, run_jax(spec, masks, state, xq), f"jax step {t}")
        if n <= 64 or t == 0:
            assert_same(ref, run_oracle(spec, masks, state, xq), f"oracle step {t}")
        state = ref[0]
        total_spikes += int(ref[2].sum())
    assert total_spikes > 0, "the episode must exercise spiking"


@pytest.mark.parametrize("n,d,a", [(16, 3, 2), (64, 5, 3)])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]),
       extreme=st.booleans())
def test_models_agree_on_random_masks_states_and_inputs(n, d, a, seed, density, extreme):
    spec = Spec(n_neurons=n, obs_dim=d, act_dim=a, substeps=5)
    rng = np.random.default_rng(seed)
    masks = random_masks(spec, rng, density=density, batch=(4,))
    state = random_state(spec, rng, (4,), extreme=extreme)
    xq = random_xq(spec, rng, (4,), extreme=extreme)
    ref = numpy_env_step(spec, masks, state, xq)
    assert_same(ref, run_jax(spec, masks, state, xq))
    assert_same(ref, run_oracle(spec, masks, state, xq))


def test_saturation_corners_are_reached_and_agree():
    """All-one masks with inputs at their limits drive I_in, I_syn, v and the outputs to the
    edges of their ranges; the models must agree there too."""
    spec = Spec(n_neurons=64, obs_dim=5, act_dim=3, substeps=9, n_exc=64)
    slo, shi = spec.state_limits()
    for sign, lim in ((1, spec.obs_limits()[1]), (-1, spec.obs_limits()[0])):
        masks = {k: np.ones((1, *s), bool) for k, s in spec.mask_shapes.items()}
        masks["mask_in"][:, spec.obs_dim:, :] = False  # only +x rows: I_in = sum of xq, saturates
        state = {"v": np.zeros((1, 64), np.int64), "isyn": np.zeros((1, 64), np.int64),
                 "rate": np.zeros((1, 64), np.int64), "spike": np.zeros((1, 64), np.int8)}
        xq = np.full((1, spec.obs_dim), lim, np.int32)
        seen_isyn_sat = False
        for _ in range(4):
            ref = numpy_env_step(spec, masks, state, xq)
            assert_same(ref, run_jax(spec, masks, state, xq))
            assert_same(ref, run_oracle(spec, masks, state, xq))
            state = ref[0]
            seen_isyn_sat |= bool((state["isyn"] == shi).any())
        if sign > 0:
            # every neuron is excitatory and fires every sub-step: I_syn saturates high,
            # the rate trace climbs toward +2 and the outputs are the exact sums.
            assert seen_isyn_sat
            assert (ref[1] > 0).all()
        else:
            assert (state["v"] < 0).all() and (state["v"] >= slo).all()


def test_exhaustive_single_neuron_dynamics_on_a_tiny_spec():
    """Every (v, I_syn) pair of a narrow spec, with and without input, through one sub-step."""
    spec = Spec(n_neurons=8, obs_dim=1, act_dim=1, substeps=1, state_width=8, state_frac=4,
                obs_width=8, rate_width=8, rate_frac=4)
    slo, shi = spec.state_limits()
    vals = np.arange(slo, shi + 1)
    v, isyn = np.meshgrid(vals, vals, indexing="ij")
    v, isyn = v.reshape(-1, 8), isyn.reshape(-1, 8)  # 8 neurons per network
    b = v.shape[0]
    rng = np.random.default_rng(0)
    masks = random_masks(spec, rng, density=0.5, batch=(b,))
    state = {"v": v, "isyn": isyn, "rate": rng.integers(*spec.rate_limits(), (b, 8)),
             "spike": (rng.random((b, 8)) < 0.5).astype(np.int8)}
    xq = rng.integers(*spec.obs_limits(), (b, 1)).astype(np.int32)
    ref = numpy_env_step(spec, masks, state, xq)
    assert_same(ref, run_jax(spec, masks, state, xq))
    sub = slice(0, b, 97)  # the oracle on a spread-out subset (it is slow)
    assert_same(
        (({k: x[sub] for k, x in ref[0].items()}), ref[1][sub], ref[2][sub]),
        run_oracle(spec, {k: m[sub] for k, m in masks.items()}, {k: x[sub] for k, x in state.items()}, xq[sub]),
    )


def test_jax_model_refuses_widths_it_cannot_hold():
    spec = Spec(n_neurons=8, obs_dim=1, act_dim=1, state_width=30, state_frac=10)
    masks = prepare_int_masks(spec, *(np.zeros(s, bool) for s in spec.mask_shapes.values()))
    st = IntState(*(jnp.zeros(8, jnp.int32) for _ in range(3)), jnp.zeros(8, bool))
    with pytest.raises(ValueError, match="supports state/rate widths up to 28"):
        int_env_step(spec, masks, st, jnp.zeros(1, jnp.int32))


# The float model's recurrent input goes through packed bits and popcount: an exact integer count,
# checked bit for bit against numpy's integer product; the whole float step is checked against the
# dense float32 product it replaces (the same integers; XLA may fuse the float arithmetic around it
# differently, hence float32 round-off there, and from the same state every step so that a flip
# cannot spread).


@pytest.mark.parametrize("n, n_exc", [(64, 32), (40, 20), (96, 47), (256, 128)])
def test_float_models_recurrent_count_is_the_exact_integer_product(n, n_exc):
    from evoconn.training.models import _pack_bits, _recurrent_count

    rng = np.random.default_rng(n + n_exc)
    mask_h = rng.random((n, n)) < 0.5
    count = jax.jit(_recurrent_count(_pack_bits(jnp.asarray(mask_h).T), n, n_exc))
    sign = np.where(np.arange(n) < n_exc, 1, -1)
    for density in (0.0, 0.05, 0.5, 1.0):
        spike = rng.random(n) < density
        want = (spike * sign).astype(np.int64) @ mask_h.astype(np.int64)
        np.testing.assert_array_equal(np.asarray(count(jnp.asarray(spike))), want)


def _dense_float_env_step(spec, params, masks, state, x):
    from evoconn.training.models import FloatState

    mask_in, mask_h, mask_out = (jnp.asarray(m, jnp.float32) for m in masks)
    exc = jnp.arange(spec.n_neurons) < spec.n_exc
    x = jnp.asarray(x, jnp.float32)
    i_in = params.r_in * (jnp.concatenate([x, -x]) @ mask_in)

    def sub(c, _):
        v, isyn, rate, spike = c
        isyn = params.alpha_syn * isyn + params.r * (spike.astype(jnp.float32) @ mask_h)
        v = params.alpha_m * v + (1.0 - params.alpha_m) * (isyn + i_in)
        z = v > params.v_th
        v = jnp.where(z, params.v_r, v)
        s = jnp.where(z, jnp.where(exc, 1, -1), 0).astype(jnp.int8)
        rate = params.alpha_out * rate + (1.0 - params.alpha_out) * s.astype(jnp.float32) / params.dt
        return FloatState(v, isyn, rate, s), None

    state, _ = jax.lax.scan(sub, FloatState(*state), None, length=spec.substeps)
    return state, params.r_out * (state.rate @ mask_out)


@pytest.mark.parametrize("n, n_exc", [(64, 32), (40, 20), (96, 47)])
def test_packed_float_model_matches_the_dense_float_product(n, n_exc):
    from evoconn.training.models import FloatParams, FloatState, float_env_step, prepare_float_masks

    spec = Spec(n_neurons=n, obs_dim=5, act_dim=2, n_exc=n_exc)
    params = FloatParams.paper(spec)
    rng = np.random.default_rng(n)
    masks = tuple(rng.random(s) < 0.5 for s in ((10, n), (n, n), (n, 2)))
    packed = jax.jit(lambda st, x: float_env_step(spec, params, prepare_float_masks(spec, *masks), st, x))
    dense = jax.jit(lambda st, x: _dense_float_env_step(spec, params, masks, st, x))
    z = jnp.zeros((n,), jnp.float32)
    state = FloatState(jnp.asarray(rng.random(n), jnp.float32), z, z, jnp.zeros((n,), jnp.int8))
    fired = 0
    for _ in range(20):
        x = jnp.asarray(rng.normal(size=5) * 3, jnp.float32)
        (sa, oa), (sb, ob) = packed(state, x), dense(state, x)
        np.testing.assert_array_equal(np.asarray(sa.spike), np.asarray(sb.spike))
        for a, b in zip((*sa[:3], oa), (*sb[:3], ob), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
        fired += int(np.count_nonzero(np.asarray(sa.spike)))
        state = sb
    assert fired > 0  # the recurrent path was exercised
