"""The algorithm interface: every evolution strategy has the same ``init / ask / tell`` shape.

evosax's habit: a strategy is built once with its hyperparameters and its population size, and
then offers four pure functions (jittable where the implementation is JAX)::

    state                 = strategy.init(key)
    population, state     = strategy.ask(key, state)
    state, metrics        = strategy.tell(population, fitness, state)
    members               = strategy.eval_members(state, n)

``population.members`` is what a runner scores: a dict ``name -> (popsize, *shape)`` array whose
row i is member i (EC: boolean masks, ES: float weights). ``population.noise`` is what ``tell``
needs beyond the members (ES's mirrored ε; ``None`` for EC, whose gradient comes from the masks
themselves). ``fitness`` is ``(popsize,)``, higher is better. ``eval_members`` gives ``n`` copies
of the deterministic member (EC: ρ > 0.5, ES: the mean). ``metrics`` is a flat dict of scalars.

The training loop (:mod:`evoconn.training.loop` and the trainers built on it) only speaks this
interface: the JAX strategies (:mod:`evoconn.training.strategy`) and the board's numpy EC are two
implementations of it, not two sets of branches. This module imports neither JAX nor numpy, so a
numpy implementation can use it on the board.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = ["Population", "Strategy"]


class Population(NamedTuple):
    """What ``ask`` samples: the members to score and what ``tell`` needs besides them.

    A ``NamedTuple``, so it is a pytree under JAX (a jitted ``ask`` can return it) and a plain
    tuple anywhere else.
    """

    members: dict[str, Any]  #: name -> (popsize, *shape); row i is member i
    noise: Any = None  #: the strategy's private sample (ES: ε), or None


@runtime_checkable
class Strategy(Protocol):
    """An evolution strategy over a dict of parameter arrays (see the module doc)."""

    #: short name ("ec", "es"), written into manifests and titles
    name: str
    #: the number of members ``ask`` samples (the training members; evaluation copies excluded)
    popsize: int
    #: what the deterministic member is: "masks" (an artifact the core runs) or "weights"
    member_kind: str

    def init(self, key: Any) -> Any:
        """The initial search state (``key`` may go unused, e.g. EC starts at ρ = init_prob)."""
        ...

    def ask(self, key: Any, state: Any) -> tuple[Population, Any]:
        """``popsize`` members sampled from ``state``; the state returned goes to ``tell``."""
        ...

    def tell(self, population: Population, fitness: Any, state: Any) -> tuple[Any, dict[str, Any]]:
        """One update from the population ``ask`` returned and its fitness."""
        ...

    def eval_members(self, state: Any, n: int) -> dict[str, Any]:
        """``n`` copies of the deterministic member: leaves ``(n, *shape)``."""
        ...

    def distribution(self, state: Any) -> dict[str, Any] | None:
        """The search distribution a masks artifact stores beside its masks (EC: ρ), or None."""
        ...
