"""Evolving Connectivity: Bernoulli NES over connection probabilities (ec-method.md section 2).

evosax-shaped: :func:`init`, :func:`ask`, :func:`tell` are pure, jittable functions over frozen
:class:`ECParams` (hyperparameters) and :class:`ECState` (probabilities, Adam state). The
probabilities are a dict of leaves ``{"mask_in", "mask_h", "mask_out"}`` (any dict of arrays
works), each entry the probability that the connection exists.

Members are identified by keys (seeds): :func:`member_keys` draws member i's key from the
generation key, and its masks are the integer rule of :mod:`evoconn.spec.prng` (Threefry-2x32, here
JAX's own ``jax.extend.random.threefry_2x32``; a bit is ``(word >> (32 - b)) < rint(ρ 2**b)``),
so what the trainer scores is what the host or the core regenerates from the same key.
:func:`tell` takes the members' keys (and regenerates their masks) or their masks.

One update, for n sampled members with masks θ_i ~ Bernoulli(ρ) and fitness F_i::

    u_i = rank(F_i) / (n - 1) - 0.5
    g   = (1/n) Σ_i u_i (θ_i - ρ)            (computed exactly from integer sums, see tell)
    ρ  <- clip(ρ + Adam(lr, b1, b2, eps) step along g, clip_eps, 1 - clip_eps)

The Adam step is :func:`evoconn.ec_numpy.adam_step` (one definition for numpy and JAX, exact in
both; run here under ``jax.enable_x64``), so :mod:`evoconn.ec_numpy` computes the same states bit
for bit without JAX. Evaluation copies use the deterministic mask θ = (ρ > 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.extend.random import threefry_2x32

from evoconn import ec_numpy
from evoconn.spec import prng

__all__ = ["AdamState", "ECParams", "ECState", "ask", "centered_ranks", "eval_masks", "from_numpy", "init",
           "mask_words", "member_keys", "ordered_sum", "sample", "tell", "to_numpy"]

Tree = dict[str, jax.Array]


@struct.dataclass
class ECParams:
    """EC hyperparameters; the defaults are the paper's. ``rho_bits`` is b of the sampling rule
    (:data:`evoconn.spec.prng.RHO_BITS`); ``None`` samples ``uniform < ρ`` in float32 from the same
    random words instead (for comparisons only: the host and the core sample with b bits)."""

    lr: float = struct.field(pytree_node=False, default=0.15)
    b1: float = struct.field(pytree_node=False, default=0.9)
    b2: float = struct.field(pytree_node=False, default=0.999)
    eps: float = struct.field(pytree_node=False, default=1e-8)
    clip_eps: float = struct.field(pytree_node=False, default=1e-3)
    init_prob: float = struct.field(pytree_node=False, default=0.5)
    rho_bits: int | None = struct.field(pytree_node=False, default=prng.RHO_BITS)

    def __post_init__(self) -> None:
        ec_numpy.check_params(self)


@struct.dataclass
class AdamState:
    """Adam's moments (dicts like ρ, float32); the step count is ``ECState.generation``."""

    mu: Tree
    nu: Tree


@struct.dataclass
class ECState:
    """The search distribution: ``rho`` (dict of float32 leaves), the Adam state, and the sampling
    rule's b (static)."""

    rho: Tree
    opt_state: AdamState
    generation: jax.Array
    rho_bits: int | None = struct.field(pytree_node=False, default=prng.RHO_BITS)


def init(params: ECParams, shapes: dict[str, tuple[int, ...]]) -> ECState:
    """ρ = init_prob everywhere, a fresh Adam state, generation 0."""
    rho = {k: jnp.full(s, params.init_prob, jnp.float32) for k, s in shapes.items()}
    zeros = {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
    opt = AdamState(mu=zeros, nu=dict(zeros))
    return ECState(rho=rho, opt_state=opt, generation=jnp.int32(0), rho_bits=params.rho_bits)


def _raw(key: jax.Array) -> jax.Array:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return jnp.asarray(key, jnp.uint32)


def _block(key: jax.Array, x0: jax.Array, x1: int) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 of counters (x0, x1) under one raw key; the public function splits its flat
    count into halves, the first half being counter word 0."""
    out = threefry_2x32(key, jnp.concatenate([x0, jnp.full(x0.shape, x1, jnp.uint32)]))
    return out[:x0.shape[0]], out[x0.shape[0]:]


def member_keys(key: jax.Array, n: int) -> jax.Array:
    """Members' keys from a generation key (:func:`evoconn.spec.prng.member_keys`): (n, 2) uint32."""
    y0, y1 = _block(_raw(key), jnp.arange(n, dtype=jnp.uint32), prng.STREAM_MEMBER)
    return jnp.stack([y0, y1], axis=-1)


def mask_words(keys: jax.Array, stream: int, shape: tuple[int, ...]) -> jax.Array:
    """:func:`evoconn.spec.prng.mask_words`: one word per entry, (n, *shape) uint32 for keys (n, 2)."""
    size = int(np.prod(shape, dtype=np.int64))
    blocks = (size + 1) // 2

    def one(k):
        y0, y1 = _block(k, jnp.arange(blocks, dtype=jnp.uint32), stream)
        return jnp.stack([y0, y1], axis=-1).reshape(2 * blocks)[:size].reshape(shape)

    return jax.vmap(one)(keys)


def initial_membrane(keys: jax.Array, n_neurons: int, state_frac: int) -> jax.Array:
    """:func:`evoconn.spec.prng.initial_membrane` for keys (n, 2): (n, N) int32 in [0, 2**F)."""
    w = mask_words(keys, prng.STREAM_V0, (n_neurons,))
    return (w >> jnp.uint32(32 - state_frac)).astype(jnp.int32)


def sample(rho: Tree, keys: jax.Array, bits: int | None = prng.RHO_BITS) -> Tree:
    """The masks of members ``keys`` (n, 2): :func:`evoconn.spec.prng.sample_masks`; leaves (n, *shape)."""
    streams = prng.mask_streams(rho)
    out = {}
    for k, r in rho.items():
        r = r.astype(jnp.float32)
        w = mask_words(keys, streams[k], r.shape)
        if bits is None:  # float sampling from the same words: 24-bit uniform in [0, 1)
            out[k] = (w >> jnp.uint32(8)).astype(jnp.float32) * jnp.float32(2.0 ** -24) < r
        else:
            rq = jnp.rint(r * jnp.float32(1 << bits)).astype(jnp.uint32)
            out[k] = (w >> jnp.uint32(32 - bits)) < rq
    return out


def ask(state: ECState, key: jax.Array, n: int) -> Tree:
    """n members' masks θ ~ Bernoulli(ρ) for the generation ``key``; leaves (n, *shape) bool.
    Member i's masks are those of key ``member_keys(key, n)[i]``."""
    return sample(state.rho, member_keys(key, n), state.rho_bits)


def eval_masks(state: ECState, n: int) -> Tree:
    """n copies of the deterministic mask θ = (ρ > 0.5); leaves (n, *shape) bool."""
    return {k: jnp.broadcast_to(r > 0.5, (n, *r.shape)) for k, r in state.rho.items()}


def _ranks(fitness: jax.Array) -> jax.Array:
    f = fitness.astype(jnp.float32)
    f = jnp.where(f == 0, jnp.float32(0), f)  # -0.0 ranks as 0.0 (as numpy's sort has it)
    return jnp.argsort(jnp.argsort(f, stable=True), stable=True)


def centered_ranks(fitness: jax.Array) -> jax.Array:
    """rank(F_i) / (n - 1) - 0.5 in [-0.5, 0.5]; rank 0 is the lowest fitness (ties by index)."""
    n = fitness.shape[0]
    return _ranks(fitness).astype(jnp.float32) / (n - 1) - 0.5


def ordered_sum(x: jax.Array) -> jax.Array:
    """Σ over axis 0 in one fixed pairwise order (halves added elementwise, zero-padded to a power
    of two), so that a float sum over the population gives the same bits however XLA fuses it and
    however the population is sharded: elementwise adds are never reassociated, reductions may be.
    """
    return ec_numpy.ordered_sum(jnp, x)


def tell(params: ECParams, state: ECState, theta: Tree | jax.Array, fitness: jax.Array) -> tuple[ECState, dict]:
    """One NES step from the members and their ``fitness`` (higher is better). ``theta`` is the
    members' keys (n, 2) uint32, whose masks are regenerated from ``state.rho`` (the ρ they were
    asked with), or their masks (dict of (n, *shape) bool)."""
    n = fitness.shape[0]
    if n > ec_numpy.max_members:
        raise ValueError(f"the exact integer gradient supports up to {ec_numpy.max_members} members, got {n}")
    if not isinstance(theta, Mapping):
        theta = sample(state.rho, theta, state.rho_bits)
    ranks = _ranks(fitness).astype(jnp.int32)

    def numerator(th):
        # Σ_i u_i (θ_i - ρ) with u_i = rank_i/(n-1) - 1/2 and Σ_i u_i = 0 (ranks are a
        # permutation) is (2 Σ_i rank_i θ_i - (n-1) Σ_i θ_i) / (2 (n-1)): integer sums, exact, so
        # the result does not depend on summation order or on how the population is sharded,
        # and an entry whose gradient is 0 gets exactly 0 (not round-off that Adam would scale
        # up to a full step).
        t = th.astype(jnp.int32)
        return 2 * jnp.tensordot(ranks, t, axes=1) - (n - 1) * jnp.sum(t, axis=0)

    num = {k: numerator(theta[k]) for k in state.rho}
    opt = state.opt_state
    a1, i2 = ec_numpy.bias_tables(params.lr, params.b1, params.b2)
    t = jnp.minimum(state.generation + 1, len(a1) - 1)
    rho, mu, nu = {}, {}, {}
    with jax.enable_x64(True):  # the exact step (ec_numpy.adam_step) in float64, scoped to here
        a1_t, i2_t = jnp.asarray(a1)[t], jnp.asarray(i2)[t]
        for k in state.rho:
            rho[k], mu[k], nu[k] = ec_numpy.adam_step(jnp, params, state.rho[k], opt.mu[k], opt.nu[k], a1_t,
                                                      i2_t, num[k], n)
        # the diagnostics, computed as the numpy module computes them (float64, fixed order)
        metrics = ec_numpy.tell_metrics(jnp, rho, num, n, state.rho_bits)
    opt = AdamState(mu=mu, nu=nu)
    return ECState(rho=rho, opt_state=opt, generation=state.generation + 1, rho_bits=state.rho_bits), metrics


def to_numpy(state: ECState) -> ec_numpy.ECState:
    """The same state as an :class:`evoconn.ec_numpy.ECState` (host arrays)."""
    s = jax.device_get(state)
    o = s.opt_state
    arr = lambda d: {k: np.asarray(v, np.float32) for k, v in d.items()}  # noqa: E731
    return ec_numpy.ECState(rho=arr(s.rho), mu=arr(o.mu), nu=arr(o.nu), generation=int(s.generation),
                            rho_bits=s.rho_bits)


def from_numpy(state: ec_numpy.ECState) -> ECState:
    """An :class:`evoconn.ec_numpy.ECState` as this module's state."""
    arr = lambda d: {k: jnp.asarray(v, jnp.float32) for k, v in d.items()}  # noqa: E731
    opt = AdamState(mu=arr(state.mu), nu=arr(state.nu))
    return ECState(rho=arr(state.rho), opt_state=opt, generation=jnp.int32(state.generation),
                   rho_bits=state.rho_bits)
