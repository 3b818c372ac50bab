"""Evolving Connectivity: Bernoulli NES over connection probabilities (ec-method.md section 2).

evosax-shaped: :func:`init`, :func:`ask`, :func:`tell` are pure, jittable functions over frozen
:class:`ECParams` (hyperparameters) and :class:`ECState` (probabilities, Adam state). The
probabilities are a dict of leaves ``{"mask_in", "mask_h", "mask_out"}`` (any dict of arrays
works), each entry the probability that the connection exists.

One update, for n sampled members with masks θ_i ~ Bernoulli(ρ) and fitness F_i::

    u_i = rank(F_i) / (n - 1) - 0.5
    g   = (1/n) Σ_i u_i (θ_i - ρ)            (computed exactly from integer sums, see tell)
    ρ  <- clip(ρ + Adam(lr, b1, b2, eps) step along g, clip_eps, 1 - clip_eps)

Evaluation copies use the deterministic mask θ = (ρ > 0.5).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

__all__ = ["ECParams", "ECState", "ask", "centered_ranks", "eval_masks", "init", "ordered_sum", "tell"]

Tree = dict[str, jax.Array]


@struct.dataclass
class ECParams:
    """EC hyperparameters; the defaults are the paper's."""

    lr: float = struct.field(pytree_node=False, default=0.15)
    b1: float = struct.field(pytree_node=False, default=0.9)
    b2: float = struct.field(pytree_node=False, default=0.999)
    eps: float = struct.field(pytree_node=False, default=1e-8)
    clip_eps: float = struct.field(pytree_node=False, default=1e-3)
    init_prob: float = struct.field(pytree_node=False, default=0.5)

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.clip_eps < 0.5:
            raise ValueError(f"clip_eps must lie in [0, 0.5), got {self.clip_eps}")
        if not 0 < self.init_prob < 1:
            raise ValueError(f"init_prob must lie in (0, 1), got {self.init_prob}")

    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.lr, b1=self.b1, b2=self.b2, eps=self.eps)


@struct.dataclass
class ECState:
    """The search distribution: ``rho`` (dict of float32 leaves) and the Adam state."""

    rho: Tree
    opt_state: Any
    generation: jax.Array


def init(params: ECParams, shapes: dict[str, tuple[int, ...]]) -> ECState:
    """ρ = init_prob everywhere, a fresh Adam state, generation 0."""
    rho = {k: jnp.full(s, params.init_prob, jnp.float32) for k, s in shapes.items()}
    return ECState(rho=rho, opt_state=params.optimizer().init(rho), generation=jnp.int32(0))


def ask(state: ECState, key: jax.Array, n: int) -> Tree:
    """n masks θ ~ Bernoulli(ρ), as ``uniform < ρ``; leaves (n, *shape) bool."""
    keys = jax.random.split(key, len(state.rho))
    return {k: jax.random.uniform(kk, (n, *r.shape)) < r
            for kk, (k, r) in zip(keys, sorted(state.rho.items()), strict=True)}


def eval_masks(state: ECState, n: int) -> Tree:
    """n copies of the deterministic mask θ = (ρ > 0.5); leaves (n, *shape) bool."""
    return {k: jnp.broadcast_to(r > 0.5, (n, *r.shape)) for k, r in state.rho.items()}


def centered_ranks(fitness: jax.Array) -> jax.Array:
    """rank(F_i) / (n - 1) - 0.5 in [-0.5, 0.5]; rank 0 is the lowest fitness (ties by index)."""
    n = fitness.shape[0]
    ranks = jnp.argsort(jnp.argsort(fitness, stable=True), stable=True)
    return ranks.astype(jnp.float32) / (n - 1) - 0.5


def ordered_sum(x: jax.Array) -> jax.Array:
    """Σ over axis 0 in one fixed pairwise order (halves added elementwise, zero-padded to a power
    of two), so that a float sum over the population gives the same bits however XLA fuses it and
    however the population is sharded: elementwise adds are never reassociated, reductions may be.
    """
    n = x.shape[0]
    m = 1 << max(0, (n - 1).bit_length())
    if m != n:
        x = jnp.concatenate([x, jnp.zeros((m - n, *x.shape[1:]), x.dtype)])
    while m > 1:
        m //= 2
        x = x[:m] + x[m:]
    return x[0]


def tell(params: ECParams, state: ECState, theta: Tree, fitness: jax.Array) -> tuple[ECState, dict]:
    """One NES step from the sampled masks ``theta`` and their ``fitness`` (higher is better)."""
    n = fitness.shape[0]
    if n > 46340:
        raise ValueError(f"the exact integer gradient supports up to 46340 members, got {n}")
    ranks = jnp.argsort(jnp.argsort(fitness, stable=True), stable=True).astype(jnp.int32)

    def grad(th, r):
        # Σ_i u_i (θ_i - ρ) with u_i = rank_i/(n-1) - 1/2 and Σ_i u_i = 0 (ranks are a
        # permutation) is (2 Σ_i rank_i θ_i - (n-1) Σ_i θ_i) / (2 (n-1)): integer sums, exact, so
        # the result does not depend on summation order or on how the population is sharded,
        # and an entry whose gradient is 0 gets exactly 0 (not round-off that Adam would scale
        # up to a full step).
        t = th.astype(jnp.int32)
        num = 2 * jnp.tensordot(ranks, t, axes=1) - (n - 1) * jnp.sum(t, axis=0)
        return num.astype(jnp.float32) / jnp.float32(2 * n * (n - 1))

    g = {k: grad(theta[k], state.rho[k]) for k in state.rho}
    neg = jax.tree.map(jnp.negative, g)
    updates, opt_state = params.optimizer().update(neg, state.opt_state, state.rho)
    rho = optax.apply_updates(state.rho, updates)
    rho = jax.tree.map(lambda r: jnp.clip(r, params.clip_eps, 1.0 - params.clip_eps), rho)
    leaves = jax.tree.leaves(rho)
    size = sum(x.size for x in leaves)
    metrics = {
        "mean_rho": sum(jnp.sum(x) for x in leaves) / size,
        # mean Bernoulli entropy in bits: 1 at ρ = 0.5, near 0 when the masks have converged
        "entropy": sum(jnp.sum(-(x * jnp.log2(x) + (1 - x) * jnp.log2(1 - x))) for x in leaves) / size,
        "grad_norm": optax.tree.norm(g),
    }
    return ECState(rho=rho, opt_state=opt_state, generation=state.generation + 1), metrics
