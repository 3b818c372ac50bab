"""OpenAI-ES on real-valued weights: the ES-RSNN baseline ("directly evolving parameters").

Mirrored sampling (θ = μ ± σ ε for n/2 noise vectors ε), centered ranks over all n members, the
search gradient ``g = Σ_i u_i ε_i / (n σ)`` (with ε_i signed per mirror), and an AdamW ascent
step (optax, lr 0.15, weight decay 0.1). The defaults are the paper's (ec-method.md section 3).
The same init/ask/tell shape as :mod:`evoconn.training.ec`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from evoconn.training.ec import centered_ranks, ordered_sum

__all__ = ["ESParams", "ESState", "ask", "init", "tell"]

Tree = dict[str, jax.Array]


@struct.dataclass
class ESParams:
    lr: float = struct.field(pytree_node=False, default=0.15)
    sigma: float = struct.field(pytree_node=False, default=0.3)
    weight_decay: float = struct.field(pytree_node=False, default=0.1)
    b1: float = struct.field(pytree_node=False, default=0.9)
    b2: float = struct.field(pytree_node=False, default=0.999)
    eps: float = struct.field(pytree_node=False, default=1e-8)

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.sigma > 0 and self.weight_decay >= 0):
            raise ValueError(f"need lr > 0, sigma > 0, weight_decay >= 0; got {self}")

    def optimizer(self) -> optax.GradientTransformation:
        return optax.adamw(self.lr, b1=self.b1, b2=self.b2, eps=self.eps,
                           weight_decay=self.weight_decay)


@struct.dataclass
class ESState:
    mean: Tree
    opt_state: Any
    generation: jax.Array


def init(params: ESParams, shapes: dict[str, tuple[int, ...]], key: jax.Array) -> ESState:
    """μ ~ N(0, 1) (the DenseSNN's weight init), a fresh AdamW state."""
    keys = jax.random.split(key, len(shapes))
    mean = {k: jax.random.normal(kk, s, jnp.float32)
            for kk, (k, s) in zip(keys, sorted(shapes.items()), strict=True)}
    return ESState(mean=mean, opt_state=params.optimizer().init(mean), generation=jnp.int32(0))


def ask(params: ESParams, state: ESState, key: jax.Array, n: int) -> tuple[Tree, Tree]:
    """n (even) members μ + σ ε, with ε mirrored: rows i and n/2 + i are ±. Returns (θ, ε)."""
    if n % 2:
        raise ValueError(f"mirrored sampling needs an even number of members, got {n}")
    keys = jax.random.split(key, len(state.mean))
    half = {k: jax.random.normal(kk, (n // 2, *m.shape), jnp.float32)
            for kk, (k, m) in zip(keys, sorted(state.mean.items()), strict=True)}
    eps = {k: jnp.concatenate([e, -e], axis=0) for k, e in half.items()}
    theta = {k: state.mean[k] + params.sigma * eps[k] for k in eps}
    return theta, eps


def tell(params: ESParams, state: ESState, eps: Tree, fitness: jax.Array) -> tuple[ESState, dict]:
    u = centered_ranks(fitness)
    n = fitness.shape[0]
    if n % 2:
        raise ValueError(f"mirrored sampling needs an even number of members, got {n}")
    h = n // 2
    # Σ_i u_i ε_i = Σ_{i<h} (u_i - u_{i+h}) ε_i (row i + h is -ε_i), summed in a fixed order so
    # that it has the same bits sharded or not (a tensordot's order is XLA's)
    du = u[:h] - u[h:]
    g = {k: ordered_sum(du.reshape((h,) + (1,) * (e.ndim - 1)) * e[:h]) / (n * params.sigma)
         for k, e in eps.items()}
    updates, opt_state = params.optimizer().update(
        jax.tree.map(jnp.negative, g), state.opt_state, state.mean)
    mean = optax.apply_updates(state.mean, updates)
    metrics = {"grad_norm": _norm(g), "weight_norm": _norm(mean)}
    return ESState(mean=mean, opt_state=opt_state, generation=state.generation + 1), metrics


def _norm(tree: Tree) -> jax.Array:
    """The global L2 norm, summed in a fixed order (the same bits however ``tree`` is sharded)."""
    return jnp.sqrt(ordered_sum(jnp.concatenate([jnp.square(x).ravel() for x in jax.tree.leaves(tree)])))
