"""Runners: what scores a population for the trainer (:class:`evoconn.training.trainer.Trainer`).

A runner turns the members a strategy asked for into fitness, under the paper's rules, and owns
the observation normalizer those members see. Two kinds exist:

- :class:`BraxRunner` (here): the JAX/Brax model in this process. ``traceable``: its ``score`` runs
  inside the jitted generation, the population sharded over the local devices.
- ``CoreRunner`` (:mod:`evoconn.host.train_core`): every member through a
  :class:`~evoconn.host.core.Core` (the JAX model, the in-memory core, the RTL under cocotb, the
  board) by :func:`evoconn.host.rollout.score_population`. Not traceable: the trainer jits the
  strategy's ``ask`` and ``tell`` and calls ``score`` between them.

The interface (duck-typed)::

    name: str                   # what manifests record as ``scored_on``
    traceable: bool             # whether score may run inside jax.jit
    obs_dim, act_dim: int
    bind(trainer)               # once, after the trainer has its spec, strategy and placement
    init_pool(key)              # the reset pool carried in the state (or None)
    init_norm()                 # a NormState
    score(members, norm, pool, key, generation) -> Scores
    update_norm(norm, final_obs) -> NormState
    env_steps(gen_steps) -> int # the generation's env steps from the ``gen_steps`` metric
"""

from __future__ import annotations

from typing import Any

import jax

from evoconn.training.errors import ConfigError
from evoconn.training.loop import Scores
from evoconn.training.rollout import norm_init, norm_update, rollout

__all__ = ["BraxRunner", "Scores", "make_env"]


def make_env(name: str, physics: str):
    from brax import envs

    try:
        return envs.get_environment(name, backend=physics)
    except (KeyError, ValueError, NotImplementedError) as e:
        raise ConfigError(f"cannot create env {name!r} with backend {physics!r}: {e}") from None


class BraxRunner:
    """The population on Brax in this process (:func:`evoconn.training.rollout.rollout`)."""

    name = "brax"
    traceable = True

    def __init__(self, env: str, physics: str, population: int, episode_len: int):
        self.env = make_env(env, physics)
        self.obs_dim, self.act_dim = int(self.env.observation_size), int(self.env.action_size)
        self.population, self.episode_len = population, episode_len

    def bind(self, trainer: Any) -> None:
        self.policy = trainer.policy
        self._shard = trainer.placement.shard
        self.env.sys = trainer.placement.localize(self.env.sys)  # several processes: see there

    def init_pool(self, key: jax.Array) -> Any:
        pool = jax.vmap(self.env.reset)(jax.random.split(key, self.population))
        return self._shard(pool)

    def init_norm(self):
        return norm_init(self.obs_dim)

    def score(self, members: dict, norm, pool, key: jax.Array, generation: jax.Array) -> Scores:
        del generation  # the reset pool is fixed; the key carries the generation
        res = rollout(self.env, self.policy, members, pool, norm, key, self.episode_len, self._shard)
        return Scores(res.fitness, res.final_obs, res.episodes, res.steps, res.rate)

    def update_norm(self, norm, final_obs):
        return norm_update(norm, final_obs)

    def env_steps(self, gen_steps: float) -> int:
        return int(gen_steps) * self.population  # steps is per member: the rollout is synchronous


