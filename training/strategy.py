"""EC and ES behind the one algorithm interface (:class:`evoconn.algorithm.Strategy`).

Thin wrappers: the math stays in :mod:`evoconn.training.ec` and :mod:`evoconn.training.es`
(whose ``init/ask/tell`` keep their own signatures); these classes only give both the same
``init(key) / ask(key, state) / tell(population, fitness, state) / eval_members(state, n)`` shape,
so a trainer drives either without asking which it is. Every method is pure and jittable; a
strategy is hashable (its fields are static), so it can be closed over by ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from evoconn.algorithm import Population, Strategy
from evoconn.training import ec, es

__all__ = ["ECStrategy", "ESStrategy", "Population", "Strategy"]

Shapes = tuple[tuple[str, tuple[int, ...]], ...]


def _shapes(shapes: dict[str, tuple[int, ...]]) -> Shapes:
    return tuple((k, tuple(int(x) for x in s)) for k, s in shapes.items())


@dataclasses.dataclass(frozen=True)
class ECStrategy:
    """Evolving Connectivity: Bernoulli masks θ ~ ρ, the exact integer NES gradient, Adam on ρ."""

    shapes: Shapes
    popsize: int
    params: ec.ECParams = dataclasses.field(default_factory=ec.ECParams)
    name: str = dataclasses.field(default="ec", init=False)
    member_kind: str = dataclasses.field(default="masks", init=False)

    @classmethod
    def create(cls, shapes: dict[str, tuple[int, ...]], popsize: int, **hyper: Any) -> ECStrategy:
        if popsize < 2:
            raise ValueError(f"EC needs a population of at least 2, got {popsize}")
        return cls(_shapes(shapes), popsize, ec.ECParams(**hyper))

    def init(self, key: jax.Array) -> ec.ECState:
        del key  # ρ starts at init_prob everywhere
        return ec.init(self.params, dict(self.shapes))

    def ask(self, key: jax.Array, state: ec.ECState) -> tuple[Population, ec.ECState]:
        return Population(ec.ask(state, key, self.popsize)), state

    def tell(self, population: Population, fitness: jax.Array,
             state: ec.ECState) -> tuple[ec.ECState, dict]:
        return ec.tell(self.params, state, population.members, fitness)

    def eval_members(self, state: ec.ECState, n: int) -> dict[str, jax.Array]:
        return ec.eval_masks(state, n)

    def distribution(self, state: ec.ECState) -> dict[str, jax.Array]:
        return state.rho


@dataclasses.dataclass(frozen=True)
class ESStrategy:
    """OpenAI-ES (the ES-RSNN baseline): mirrored Gaussian noise around μ, AdamW on μ."""

    shapes: Shapes
    popsize: int
    params: es.ESParams = dataclasses.field(default_factory=es.ESParams)
    name: str = dataclasses.field(default="es", init=False)
    member_kind: str = dataclasses.field(default="weights", init=False)

    @classmethod
    def create(cls, shapes: dict[str, tuple[int, ...]], popsize: int, **hyper: Any) -> ESStrategy:
        if popsize < 2 or popsize % 2:
            raise ValueError(f"ES samples mirrored pairs: the population must be even and at "
                             f"least 2, got {popsize}")
        return cls(_shapes(shapes), popsize, es.ESParams(**hyper))

    def init(self, key: jax.Array) -> es.ESState:
        return es.init(self.params, dict(self.shapes), key)

    def ask(self, key: jax.Array, state: es.ESState) -> tuple[Population, es.ESState]:
        theta, eps = es.ask(self.params, state, key, self.popsize)
        return Population(theta, eps), state

    def tell(self, population: Population, fitness: jax.Array,
             state: es.ESState) -> tuple[es.ESState, dict]:
        return es.tell(self.params, state, population.noise, fitness)

    def eval_members(self, state: es.ESState, n: int) -> dict[str, jax.Array]:
        return {k: jnp.broadcast_to(m, (n, *m.shape)) for k, m in state.mean.items()}

    def distribution(self, state: es.ESState) -> None:
        return None
