"""Boundaries visited (issue 18): the run's initial point, saturating counters at their limits, and
property tests whose strategies always include the edge values.

- Every ρ starts at exactly 0.5 and the evaluation masks are ``ρ > 0.5``: the first generation's
  evaluation member is evaluated here, through the same mask function and policies the trainer uses.
- SPIKES is a 16-bit register that saturates in the RTL (``hw/core.py``); the bus model is driven
  past 2**16 - 1 spikes in one env step and must saturate the same way.
- Hypothesis strategies here and in tests/test_spec_edges.py are ``one_of(sampled_from(edges),
  <range>)`` so the edges are drawn on every run, not left to chance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec, numpy_env_step
from evoconn.training import ec
from evoconn.training.rollout import float_policy, int_policy

from .test_models import assert_same, run_jax
from .test_spec_edges import EDGE_SPEC, draw_edge_case

SMALL = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=5)


# --- rho = 0.5, the initial state, through the evaluation masks ----------------------------------


def test_initial_rho_is_exactly_one_half_and_its_eval_masks_are_all_off():
    state = ec.init(ec.ECParams(), SMALL.mask_shapes)
    for k, r in state.rho.items():
        assert np.all(np.asarray(r) == 0.5), k
    masks = ec.eval_masks(state, 3)
    for k, shape in SMALL.mask_shapes.items():
        assert masks[k].shape == (3, *shape) and not np.asarray(masks[k]).any(), k


def test_eval_masks_threshold_is_strict_on_both_sides_of_one_half():
    above, below = np.nextafter(np.float32(0.5), np.float32(1)), np.nextafter(np.float32(0.5), np.float32(0))
    state = ec.init(ec.ECParams(), {"m": (3,)}).replace(rho={"m": jnp.asarray([below, 0.5, above], jnp.float32)})
    got = np.asarray(ec.eval_masks(state, 1)["m"][0])
    np.testing.assert_array_equal(got, [False, False, True])


@pytest.mark.parametrize("which", ["int", "float"])
def test_the_first_generations_eval_member_outputs_zero(which):
    """At ρ = 0.5 the evaluation member has no connections: whatever it sees, its action is 0."""
    spec = SMALL
    state = ec.init(ec.ECParams(), spec.mask_shapes)
    member = {k: v[0] for k, v in ec.eval_masks(state, 1).items()}
    policy = int_policy(spec) if which == "int" else float_policy(spec)
    prepared = policy.prepare(member)
    carry = policy.init_carry(jax.random.PRNGKey(0))
    apply = jax.jit(policy.apply)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = jnp.asarray(rng.normal(size=spec.obs_dim) * 3, jnp.float32)
        carry, act, rate = apply(prepared, carry, x)
        np.testing.assert_array_equal(np.asarray(act), np.zeros(spec.act_dim, np.float32))
        assert float(rate) == 0.0
    # the same member on the host's core: out is exactly 0
    core = RegisterCore(FakeBus(spec, 4), spec)
    core.load_masks({k: np.asarray(v) for k, v in member.items()})
    core.reset_state(np.full(spec.n_neurons, spec.threshold - 1))
    out = core.step(spec.quantize_obs(np.array([5.0, -5.0, 1.0])))
    np.testing.assert_array_equal(out, np.zeros(spec.act_dim))
    np.testing.assert_array_equal(spec.action_from_output(out), np.zeros(spec.act_dim, np.float32))


# --- a saturating counter at its limit -----------------------------------------------------------


@pytest.mark.parametrize("n,substeps,expect", [(2048, 31, 2048 * 31), (2048, 32, 65535)])
def test_spikes_register_saturates_at_its_width(n, substeps, expect):
    """All N neurons fire in every sub-step: N*K spikes, which the 16-bit SPIKES holds up to 65535."""
    spec = Spec(n_neurons=n, obs_dim=1, act_dim=1, substeps=substeps, n_exc=n)
    width = spec.register_map(16)["SPIKES"].width
    assert width == 16
    masks = {k: np.ones(s, bool) for k, s in spec.mask_shapes.items()}
    masks["mask_in"][1:] = False  # +x only: I_in saturates high, every neuron fires every sub-step
    bus = FakeBus(spec, 16)
    core = RegisterCore(bus, spec, timeout=600.0)  # a correctness test: the model may be slow under load
    core.load_masks(masks)
    core.reset_state(np.zeros(n, np.int64))
    core.step(np.array([spec.obs_limits()[1]]))
    fired = n * substeps
    assert bus.read(spec.register_map(16)["SPIKES"].offset) == min(fired, (1 << width) - 1) == expect


# --- the JAX model and EC's update at the edges (the numpy-only edge properties: test_spec_edges.py) ---


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), density=st.sampled_from([0.0, 1.0, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_jax_model_agrees_on_edge_states_and_inputs(data, density, seed):
    """The JAX model equals numpy where states sit at the threshold and the saturation limits."""
    spec = EDGE_SPEC
    masks, state, xq = draw_edge_case(spec, data, density, seed)
    assert_same(numpy_env_step(spec, masks, state, xq), run_jax(spec, masks, state, xq), "jax")


@settings(max_examples=30, deadline=None)
@given(n=st.sampled_from([2, 3, 64]),  # the smallest populations and a larger one (each n compiles once)
       rho_at=st.sampled_from(["low_clip", "high_clip", "half", "random"]),
       ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_ec_tell_keeps_rho_within_the_clip_from_its_edges(n, rho_at, ties, seed):
    params = ec.ECParams()
    eps = params.clip_eps
    rng = np.random.default_rng(seed)
    shape = (5, 4)
    base = {"low_clip": np.full(shape, eps), "high_clip": np.full(shape, 1 - eps), "half": np.full(shape, 0.5),
            "random": rng.uniform(eps, 1 - eps, shape)}[rho_at].astype(np.float32)
    state = ec.init(params, {"m": shape}).replace(rho={"m": jnp.asarray(base)})
    theta = {"m": jnp.asarray(rng.random((n, *shape)) < 0.5)}
    fit = jnp.zeros(n) if ties else jnp.asarray(rng.normal(size=n), jnp.float32)
    new, _ = ec.tell(params, state, theta, fit)
    r = np.asarray(new.rho["m"])
    assert r.min() >= np.float32(eps) and r.max() <= np.float32(1 - eps)
    assert np.all(np.isfinite(r))
    u = np.asarray(ec.centered_ranks(fit))
    ranks = np.argsort(np.argsort(np.asarray(fit), stable=True), stable=True)  # ties by index
    np.testing.assert_allclose(u, ranks / (n - 1) - 0.5, rtol=0, atol=1e-7)  # float32 ranks
    assert u.min() == -0.5 and np.isclose(u.max(), 0.5, rtol=0, atol=1e-7)
