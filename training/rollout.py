"""Fitness evaluation on Brax: policies for each network model and the population rollout.

The rules are the paper's (ec-method.md section 2):

- a generation runs until every member has finished at least one episode; an episode ends when
  the env says done or after ``episode_len`` steps (the paper's 1000-step episode cap), so a
  generation is at most ``episode_len`` steps;
- fitness is the mean return over the episodes a member completed;
- a member whose episode ends restarts from its entry of a fixed reset pool drawn once per run;
- the network state is carried across those restarts; the initial membrane is drawn per
  generation;
- observations are normalized with the running statistics ``(x - mean) / sqrt(var + eps)``
  (:class:`evoconn.artifact.Normalizer`'s formula), which are updated after each generation from
  the final observation of every member.

A :class:`Policy` is the network side: ``prepare`` turns one member's parameters into the form
the step uses (once per generation), ``init_carry`` draws one member's initial state, ``apply``
does one env step of one member. All three are vmapped over the population here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from evoconn.spec import Spec
from evoconn.training.ec import ordered_sum
from evoconn.training.models import (
    FloatParams,
    FloatState,
    float_env_step,
    int_env_step,
    int_init_state,
    prepare_float_masks,
    prepare_int_masks,
)

__all__ = [
    "NormState",
    "Policy",
    "RolloutResult",
    "dense_snn_policy",
    "float_policy",
    "int_policy",
    "norm_init",
    "norm_update",
    "normalize",
    "rollout",
]

NORM_EPS = 1e-8


# =====================================================================================
# Observation normalizer (JAX mirror of evoconn.artifact.Normalizer)
# =====================================================================================


@struct.dataclass
class NormState:
    """Running mean/var (float32) and count; count 0 means identity (mean 0, var 1)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def norm_init(dim: int) -> NormState:
    return NormState(jnp.zeros(dim, jnp.float32), jnp.ones(dim, jnp.float32), jnp.float32(0))


def normalize(norm: NormState, x: jax.Array) -> jax.Array:
    return (x - norm.mean) / jnp.sqrt(norm.var + NORM_EPS)


def norm_update(norm: NormState, batch: jax.Array) -> NormState:
    """Chan's parallel merge, the formula of :meth:`evoconn.artifact.Normalizer.update`."""
    batch = batch.reshape(-1, norm.mean.shape[0]).astype(jnp.float32)
    n = jnp.float32(batch.shape[0])
    # fixed-order sums: the statistics do not depend on how the population is sharded or fused
    b_mean = ordered_sum(batch) / n
    b_var = ordered_sum(jnp.square(batch - b_mean)) / n
    tot = norm.count + n
    delta = b_mean - norm.mean
    mean = norm.mean + delta * n / tot
    m2 = norm.var * norm.count + b_var * n + delta**2 * norm.count * n / tot
    fresh = norm.count == 0
    return NormState(jnp.where(fresh, b_mean, mean), jnp.where(fresh, b_var, m2 / tot), tot)


# =====================================================================================
# Policies
# =====================================================================================


@dataclasses.dataclass(frozen=True)
class Policy:
    """One network model. ``apply(prepared, carry, x_normalized) -> (carry, action, rate_abs)``
    where ``rate_abs`` is the mean |rate trace| in spikes per ms per neuron (a firing-rate gauge).
    """

    name: str
    prepare: Callable[[Any], Any]
    init_carry: Callable[[jax.Array], Any]
    apply: Callable[[Any, Any, jax.Array], tuple[Any, jax.Array, jax.Array]]


def quantize_obs_jax(spec: Spec, x: jax.Array) -> jax.Array:
    """:meth:`Spec.quantize_obs` in JAX: float32 multiply, rint, clip. Non-finite inputs become 0
    (the host refuses them; here a physics blow-up must not poison the population)."""
    lo, hi = spec.obs_limits()
    x = x.astype(jnp.float32)
    x = jnp.where(jnp.isfinite(x), x, 0.0)
    return jnp.clip(jnp.rint(x * spec.obs_scale), lo, hi).astype(jnp.int32)


def int_policy(spec: Spec) -> Policy:
    """The integer model (what the core computes): quantize, int_env_step, scale and clip."""
    scale = jnp.float32(spec.r_out / (1 << spec.rate_frac))

    def prepare(masks):
        return prepare_int_masks(spec, masks["mask_in"], masks["mask_h"], masks["mask_out"])

    def init_carry(key):
        v0 = jax.random.randint(key, (spec.n_neurons,), 0, 1 << spec.state_frac, jnp.int32)
        return int_init_state(spec, v0)

    def apply(m, carry, x):
        carry, out, _ = int_env_step(spec, m, carry, quantize_obs_jax(spec, x))
        act = jnp.clip(out.astype(jnp.float32) * scale, -1.0, 1.0)
        rate = jnp.mean(jnp.abs(carry.rate)).astype(jnp.float32) / (1 << spec.rate_frac)
        return carry, act, rate

    return Policy("int", prepare, init_carry, apply)


def float_policy(spec: Spec, params: FloatParams | None = None) -> Policy:
    """The paper's float ConnSNN on the same masks."""
    fp = params or FloatParams.paper(spec)

    def prepare(masks):
        return prepare_float_masks(spec, masks["mask_in"], masks["mask_h"], masks["mask_out"])

    def init_carry(key):
        n = spec.n_neurons
        z = jnp.zeros((n,), jnp.float32)
        return FloatState(jax.random.uniform(key, (n,)), z, z, jnp.zeros((n,), jnp.int8))

    def apply(m, carry, x):
        x = jnp.where(jnp.isfinite(x), x, 0.0)
        carry, out = float_env_step(spec, fp, m, carry, x)
        return carry, jnp.clip(out, -1.0, 1.0), jnp.mean(jnp.abs(carry.rate))

    return Policy("float", prepare, init_carry, apply)


def dense_snn_policy(n_neurons: int, obs_dim: int, act_dim: int, substeps: int = 33) -> Policy:
    """DenseSNN, the ES-RSNN baseline: the same LIF network with real-valued Gaussian weights,
    no Dale's law, spikes in {0, 1}; R_in = sqrt(2/d), R = 2 sqrt(2/N), R_out = 5 sqrt(1/N).

    Parameters: ``{"w_in": (d, N), "w_h": (N, N), "w_out": (N, a)}``.
    """
    dt = 0.5
    r_in = math.sqrt(2.0 / obs_dim)
    r = 2.0 * math.sqrt(2.0 / n_neurons)
    r_out = 5.0 * math.sqrt(1.0 / n_neurons)
    a_syn, a_m, a_out = math.exp(-dt / 5.0), math.exp(-dt / 10.0), math.exp(-dt / 10.0)

    def init_carry(key):
        z = jnp.zeros((n_neurons,), jnp.float32)
        return (jax.random.uniform(key, (n_neurons,)), z, z, jnp.zeros((n_neurons,), jnp.float32))

    def apply(w, carry, x):
        x = jnp.where(jnp.isfinite(x), x, 0.0).astype(jnp.float32)
        i_in = r_in * (x @ w["w_in"])

        def sub(c, _):
            v, isyn, rate, s = c
            isyn = a_syn * isyn + r * (s @ w["w_h"])
            v = a_m * v + (1.0 - a_m) * (isyn + i_in)
            z = v > 1.0
            v = jnp.where(z, 0.0, v)
            s = z.astype(jnp.float32)
            rate = a_out * rate + (1.0 - a_out) * s / dt
            return (v, isyn, rate, s), None

        carry, _ = jax.lax.scan(sub, carry, None, length=substeps)
        out = r_out * (carry[2] @ w["w_out"])
        return carry, jnp.clip(out, -1.0, 1.0), jnp.mean(jnp.abs(carry[2]))

    return Policy("dense-snn", lambda w: w, init_carry, apply)


# =====================================================================================
# The population rollout
# =====================================================================================


class RolloutResult(struct.PyTreeNode):
    fitness: jax.Array  # (n,) mean return over completed episodes
    episodes: jax.Array  # (n,) completed episodes
    final_obs: jax.Array  # (n, d) the last observation of every member
    steps: jax.Array  # () env steps the generation ran (per member)
    rate: jax.Array  # (n,) mean |rate| in spikes/ms/neuron of each member at the end


def rollout(env, policy: Policy, member_params, reset_pool, norm: NormState, key: jax.Array,
            episode_len: int, constrain: Callable[[Any], Any] = lambda t: t) -> RolloutResult:
    """Run the population (leading axis of ``member_params`` and ``reset_pool``) per the paper's
    fitness rules. ``constrain`` places per-member arrays (a sharding constraint)."""
    n = jax.tree.leaves(reset_pool)[0].shape[0]
    prepared = constrain(jax.vmap(policy.prepare)(member_params))
    carry = constrain(jax.vmap(policy.init_carry)(jax.random.split(key, n)))
    apply = jax.vmap(policy.apply)
    step = jax.vmap(env.step)
    zf = jnp.zeros((n,), jnp.float32)
    zi = jnp.zeros((n,), jnp.int32)

    def cond(c):
        t, _, _, _, _, _, fit_n, _ = c
        return jnp.any(fit_n < 1) & (t < episode_len)

    def body(c):
        t, es, carry, ep_ret, ep_len, fit_sum, fit_n, _ = c
        x = normalize(norm, es.obs)
        carry, act, rate = apply(prepared, carry, x)
        es = step(es, act)
        ep_ret = ep_ret + es.reward
        ep_len = ep_len + 1
        done = (es.done > 0) | (ep_len >= episode_len)
        fit_sum = jnp.where(done, fit_sum + ep_ret, fit_sum)
        fit_n = fit_n + done.astype(jnp.int32)
        ep_ret = jnp.where(done, 0.0, ep_ret)
        ep_len = jnp.where(done, 0, ep_len)

        def pick(p, s):
            return jnp.where(done.reshape((-1,) + (1,) * (s.ndim - 1)), p, s)

        es = constrain(jax.tree.map(pick, reset_pool, es))
        return (t + 1, es, carry, ep_ret, ep_len, fit_sum, fit_n, rate)

    init = (jnp.int32(0), reset_pool, carry, zf, zi, zf, zi, zf)
    t, es, carry, _, _, fit_sum, fit_n, rate = jax.lax.while_loop(cond, body, init)
    fitness = fit_sum / jnp.maximum(fit_n, 1)
    return RolloutResult(fitness=fitness, episodes=fit_n, final_obs=es.obs, steps=t, rate=rate)
