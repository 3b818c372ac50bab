"""The network models in JAX: the integer model (the simulated core) and the paper's float model.

The **integer model** computes exactly what :func:`evoconn.spec.oracle_env_step` computes, bit for
bit, for one network; ``jax.vmap`` it over a population, each member with its own masks. It is the
function training scores fitness with, so what is trained is what the hardware runs.

The **float model** is the paper's ConnSNN (arXiv 2305.17650; ``networks/conn_snn.py`` of
github.com/imoneoi/EvolvingConnectivity), with
the recurrent product accumulated in a wide type (the official int8 product wraps past 127) and
computed, as in the integer model, by popcount over packed bits (an exact integer count times R).

Both take masks in the paper's orientation: ``mask_in`` (2d, N), ``mask_h`` (N, N) as
``[presynaptic, postsynaptic]``, ``mask_out`` (N, a).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from evoconn.spec import Spec

__all__ = [
    "FloatMasks",
    "FloatParams",
    "FloatState",
    "IntMasks",
    "IntState",
    "float_env_step",
    "float_init_state",
    "int_env_step",
    "int_init_state",
    "prepare_float_masks",
    "prepare_int_masks",
]

# =====================================================================================
# The integer model
# =====================================================================================


class IntState(NamedTuple):
    """Neuron state of the integer model, shapes (..., N): v, isyn, rate int32, spike bool."""

    v: jax.Array
    isyn: jax.Array
    rate: jax.Array
    spike: jax.Array


class IntMasks(NamedTuple):
    """Masks of one network in the form the integer model computes with.

    ``coef_in`` (d, N) int32 in {-1, 0, 1} is ``mask_in[:d] - mask_in[d:]``; ``h_cols`` (N, W)
    uint32 packs column j of ``mask_h`` (the presynaptic neurons of j) into W = ceil(N/32) words;
    ``out`` (N, a) int32.
    """

    coef_in: jax.Array
    h_cols: jax.Array
    out: jax.Array


def _check_int_spec(spec: Spec) -> None:
    # int32 holds every intermediate (a shifted state plus one more bit) while widths stay <= 28.
    if max(spec.state_width, spec.rate_width) > 28 or spec.obs_width > 24:
        raise ValueError(
            f"the JAX integer model computes in int32 and supports state/rate widths up to 28 and "
            f"obs_width up to 24; got {spec.state_width}/{spec.rate_width}/{spec.obs_width}"
        )


def _pack_bits(bits: jax.Array) -> jax.Array:
    """(..., N) bool to (..., ceil(N/32)) uint32, bit i of the row at word i//32, bit i%32."""
    n = bits.shape[-1]
    w = (n + 31) // 32
    pad = w * 32 - n
    if pad:
        bits = jnp.concatenate([bits, jnp.zeros(bits.shape[:-1] + (pad,), bool)], axis=-1)
    b = bits.reshape(bits.shape[:-1] + (w, 32)).astype(jnp.uint32)
    return jnp.sum(b << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def _recurrent_count(h_cols: jax.Array, n: int, ne: int):
    """``count(spike)`` for one network: (N,) bool spikes to (N,) int32, the signed number of
    presynaptic neurons of each neuron that spiked (excitatory +1, inhibitory -1) through the packed
    columns ``h_cols`` (N, W) of ``mask_h``. Exact: a popcount of 32-bit words, summed in int32."""
    exc = jnp.arange(n) < ne
    if ne % 32 == 0:
        # Each 32-bit word of presynaptic neurons is all excitatory or all inhibitory: one
        # popcount per word, signed by the word's kind.
        word_sign = jnp.where(jnp.arange(h_cols.shape[-1]) < ne // 32, 1, -1).astype(jnp.int32)

        def count(spike):
            pc = jax.lax.population_count(h_cols & _pack_bits(spike)).astype(jnp.int32)
            return jnp.sum(pc * word_sign, axis=-1)
    else:

        def count(spike):
            e = jax.lax.population_count(h_cols & _pack_bits(spike & exc)).astype(jnp.int32)
            i = jax.lax.population_count(h_cols & _pack_bits(spike & ~exc)).astype(jnp.int32)
            return jnp.sum(e - i, axis=-1)

    return count


def prepare_int_masks(spec: Spec, mask_in, mask_h, mask_out) -> IntMasks:
    """Turn one network's boolean masks (paper orientation) into :class:`IntMasks`. Jittable."""
    d = spec.obs_dim
    mi = jnp.asarray(mask_in).astype(jnp.int32)
    coef = mi[:d] - mi[d:]
    h_cols = _pack_bits(jnp.asarray(mask_h, bool).T)
    return IntMasks(coef_in=coef, h_cols=h_cols, out=jnp.asarray(mask_out).astype(jnp.int32))


def int_init_state(spec: Spec, v0=None) -> IntState:
    """Zero state of one network, optionally with membrane ``v0`` (N,) int32."""
    n = spec.n_neurons
    z = jnp.zeros((n,), jnp.int32)
    v = z if v0 is None else jnp.asarray(v0, jnp.int32)
    return IntState(v=v, isyn=z, rate=z, spike=jnp.zeros((n,), bool))


def _sat(x: jax.Array, width: int) -> jax.Array:
    return jnp.clip(x, -(1 << (width - 1)), (1 << (width - 1)) - 1)


def _decay(x: jax.Array, leak: tuple[int, int]) -> jax.Array:
    a, b = leak
    return x + jnp.right_shift(-jnp.left_shift(x, b - a) - x, b)


def _gain(x: jax.Array, leak: tuple[int, int]) -> jax.Array:
    a, b = leak
    return jnp.right_shift(jnp.left_shift(x, b - a) + x, b)


def int_env_step(spec: Spec, masks: IntMasks, state: IntState, xq: jax.Array):
    """One env step of one network; equal to :func:`evoconn.spec.oracle_env_step` bit for bit.

    ``xq`` is (d,) int32, the quantized observation (:meth:`Spec.quantize_obs`). Returns
    ``(state, out (a,) int32, spikes (K,) int32)``, spikes being the neurons fired per sub-step.
    """
    _check_int_spec(spec)
    n, ne = spec.n_neurons, spec.n_exc
    W, RW = spec.state_width, spec.rate_width
    exc = jnp.arange(n) < ne
    sgn = jnp.where(exc, 1, -1).astype(jnp.int32)
    i_in = _sat(jnp.asarray(xq, jnp.int32) @ masks.coef_in, W)

    count = _recurrent_count(masks.h_cols, n, ne)

    def substep(carry, _):
        v, isyn, rate, spike = carry
        cnt = count(spike)
        isyn = _sat(_decay(isyn, spec.syn_leak) + jnp.left_shift(cnt, spec.rec_shift), W)
        u = _sat(isyn + i_in, W)
        v = _sat(v + _gain(u - v, spec.mem_leak), W)
        spike = v > spec.threshold
        v = jnp.where(spike, 0, v)
        target = jnp.where(spike, sgn * spec.rate_target, 0)
        rate = _sat(rate + _gain(target - rate, spec.out_leak), RW)
        return IntState(v, isyn, rate, spike), jnp.sum(spike, dtype=jnp.int32)

    state, fired = jax.lax.scan(substep, IntState(*state), None, length=spec.substeps)
    out = state.rate @ masks.out
    return state, out, fired


# =====================================================================================
# The float model: the paper's ConnSNN
# =====================================================================================


class FloatParams(NamedTuple):
    """The float network's constants (ec-method.md section 1). Defaults via :meth:`paper`."""

    r_in: float
    r: float
    r_out: float
    alpha_syn: float
    alpha_m: float
    alpha_out: float
    dt: float
    v_th: float
    v_r: float

    @classmethod
    def paper(cls, spec: Spec) -> FloatParams:
        dt = 0.5
        return cls(
            r_in=spec.r_in,
            r=4.0 / math.sqrt(spec.n_neurons),
            r_out=spec.r_out,
            alpha_syn=math.exp(-dt / 5.0),
            alpha_m=math.exp(-dt / 10.0),
            alpha_out=math.exp(-dt / 10.0),
            dt=dt,
            v_th=1.0,
            v_r=0.0,
        )


class FloatState(NamedTuple):
    """State of the float network, shapes (..., N) float32; ``spike`` int8 signed."""

    v: jax.Array
    isyn: jax.Array
    rate: jax.Array
    spike: jax.Array


def float_init_state(spec: Spec, v0=None) -> FloatState:
    n = spec.n_neurons
    z = jnp.zeros((n,), jnp.float32)
    v = z if v0 is None else jnp.asarray(v0, jnp.float32)
    return FloatState(v=v, isyn=z, rate=z, spike=jnp.zeros((n,), jnp.int8))


class FloatMasks(NamedTuple):
    """Masks of one float network in the form :func:`float_env_step` computes with.

    ``mask_in`` (2d, N) and ``mask_out`` (N, a) float32 (0/1); ``h_cols`` (N, W) uint32 packs
    column j of ``mask_h`` into W = ceil(N/32) words, as in :class:`IntMasks`.
    """

    mask_in: jax.Array
    h_cols: jax.Array
    mask_out: jax.Array


def prepare_float_masks(spec: Spec, mask_in, mask_h, mask_out) -> FloatMasks:
    """Turn one network's boolean masks (paper orientation) into :class:`FloatMasks`. Jittable;
    done once per member per generation, not per env step."""
    return FloatMasks(
        mask_in=jnp.asarray(mask_in).astype(jnp.float32),
        h_cols=_pack_bits(jnp.asarray(mask_h, bool).T),
        mask_out=jnp.asarray(mask_out).astype(jnp.float32),
    )


def float_env_step(spec: Spec, params: FloatParams, masks, state: FloatState, x: jax.Array):
    """One env step of the paper's ConnSNN. ``masks`` is a :class:`FloatMasks`, or the tuple
    ``(mask_in, mask_h, mask_out)`` of bool arrays (then prepared here, on every call).

    Spikes and masks are binary, so the recurrent input ``R * (spike @ mask_h)`` is ``R`` times an
    exact integer count: it is computed as the integer model does (packed bits, popcount, int32),
    then scaled in float32. The float32 product of the dense version is the same integer (every
    partial sum is an integer below 2**24), so the two agree exactly; everything else is float32.

    Returns ``(state, output (a,) float32)``; the output is ``R_out * rate @ mask_out``
    *before* the clip to [-1, 1] (the caller clips when it makes an action).
    """
    if not isinstance(masks, FloatMasks):
        masks = prepare_float_masks(spec, *masks)
    n = spec.n_neurons
    exc = jnp.arange(n) < spec.n_exc
    count = _recurrent_count(masks.h_cols, n, spec.n_exc)
    x = jnp.asarray(x, jnp.float32)
    xx = jnp.concatenate([x, -x], axis=-1)
    i_in = params.r_in * (xx @ masks.mask_in)

    def substep(carry, _):
        v, isyn, rate, spike = carry
        i_rec = params.r * count(spike != 0).astype(jnp.float32)
        isyn = params.alpha_syn * isyn + i_rec
        v = params.alpha_m * v + (1.0 - params.alpha_m) * (isyn + i_in)
        z = v > params.v_th
        v = jnp.where(z, params.v_r, v)
        s = jnp.where(z, jnp.where(exc, 1, -1), 0).astype(jnp.int8)
        rate = params.alpha_out * rate + (1.0 - params.alpha_out) * s.astype(jnp.float32) / params.dt
        return FloatState(v, isyn, rate, s), None

    state, _ = jax.lax.scan(substep, FloatState(*state), None, length=spec.substeps)
    out = params.r_out * (state.rate @ masks.mask_out)
    return state, out
