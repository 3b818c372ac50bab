"""EC with every member scored through a :class:`~evoconn.host.core.Core`: the Core runner.

The loop is the trainer's (:func:`evoconn.training.trainer.train`: one loop, one metrics schema,
one artifact writer, checkpoints); the strategy is the same :class:`~evoconn.algorithm.Strategy`
(EC, :mod:`evoconn.training.strategy`); only the scoring differs: :class:`CoreRunner` sends the
members to :func:`evoconn.host.rollout.score_population` on a core: the JAX model (``jax``), the
register interface on the in-memory core (``fake``), the exported Verilog under cocotb (``rtl``:
the scoring runs inside the simulator's process, one call per generation in one simulator
session) or the board (``pynq``). Cores are deterministic, so every backend gives the same
fitness vectors and the same probabilities, generation after generation: what CI proves on the
RTL is what the board trains with.

Needs JAX (``evoconn[train]``); ``import evoconn.host`` does not import this module.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evoconn.artifact import Normalizer
from evoconn.host.core import Core, MissingDependency
from evoconn.host.rollout import make_env, score_population
from evoconn.spec import Spec

__all__ = ["CoreRunner", "LocalRunner", "TrainResult", "core_config", "generation_seed",
           "run_core_training", "train_core"]


class LocalRunner:
    """A core in this process, with the calling convention of :class:`evoconn.host.rtl.RtlSession`."""

    def __init__(self, core: Core):
        self.core = core

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.core, *args, **kwargs)


@dataclasses.dataclass
class TrainResult:
    rows: list[dict[str, Any]]  #: the metrics rows (the trainer's schema, ``train/fitness`` per member)
    rho: dict[str, np.ndarray]  #: the final connection probabilities
    normalizer: Normalizer


def generation_seed(seed: int, generation: int) -> int:
    """The seed of one generation's reset pool and initial membranes (same on every backend)."""
    return int(np.random.SeedSequence([seed, generation]).generate_state(1)[0])


def _import_training():
    try:
        import jax.numpy as jnp

        from evoconn.training import trainer
        from evoconn.training.rollout import NormState
        from evoconn.training.runners import Scores
    except ImportError as e:
        raise MissingDependency(f"training needs jax ({e}); pip install 'evoconn[train]'") from None
    return jnp, trainer, NormState, Scores


class CoreRunner:
    """The trainer's runner that scores every member on a core through ``session.call``.

    ``session`` has ``call(fn, *args, **kwargs)`` running ``fn(core, ...)``: a
    :class:`LocalRunner` or a started :class:`~evoconn.host.rtl.RtlSession`. ``name`` is the
    backend (recorded as the artifact's ``scored_on``). The reset pool and initial membranes of
    generation g come from :func:`generation_seed` (seed, g). With ``normalize``, the observation
    normalizer (float64, :meth:`Normalizer.update`) is updated from the members' final
    observations after each generation (used from the next one on).
    """

    traceable = False

    def __init__(self, session: Any, name: str, env: str, *, seed: int = 0, max_steps: int = 1000,
                 physics: str = "positional", normalize: bool = True):
        self.session, self.name, self.env = session, name, env
        self.seed, self.max_steps, self.physics, self.normalize = seed, max_steps, physics, normalize
        probe = make_env(env, None, physics)
        self.obs_dim, self.act_dim = int(probe.obs_dim), int(probe.act_dim)

    def bind(self, trainer: Any) -> None:
        self.spec = trainer.spec
        self.env_factory = functools.partial(make_env, self.env, self.spec, self.physics)
        make_env(self.env, self.spec, self.physics)  # refuse a mismatched env before any work

    def init_pool(self, key: Any) -> None:
        return None  # score_population resets every member from generation_seed

    def init_norm(self):
        _, _, NormState, _ = _import_training()
        n = Normalizer.identity(self.obs_dim)
        return NormState(n.mean, n.var, np.float64(n.count))

    @staticmethod
    def normalizer(norm) -> Normalizer:
        return Normalizer(np.asarray(norm.mean, np.float64), np.asarray(norm.var, np.float64),
                          float(norm.count))

    def score(self, members: dict[str, Any], norm, pool, key, generation) -> Any:
        jnp, _, _, Scores = _import_training()
        del pool, key  # the reset pool and membranes come from the seed and the generation
        theta = {k: np.asarray(v) for k, v in members.items()}
        n = len(next(iter(theta.values())))
        ms = [{k: theta[k][i] for k in self.spec.mask_shapes} for i in range(n)]
        t0 = time.perf_counter()
        pop = self.session.call(score_population, self.env_factory, ms, self.normalizer(norm),
                                seed=generation_seed(self.seed, int(generation)),
                                max_steps=self.max_steps)
        extra = {"train/fitness": [float(f) for f in pop.fitness], "train/horizon": int(pop.horizon),
                 "train/reruns": int(pop.reruns), "score_s": time.perf_counter() - t0}
        return Scores(jnp.asarray(pop.fitness, jnp.float32), pop.final_obs, np.asarray(pop.episodes),
                      int(pop.timer.env_steps), None, extra)

    def update_norm(self, norm, final_obs):
        if not self.normalize:
            return norm
        _, _, NormState, _ = _import_training()
        n = self.normalizer(norm).update(final_obs)
        return NormState(n.mean, n.var, np.float64(n.count))

    def env_steps(self, gen_steps: float) -> int:
        return int(gen_steps)  # score_population counts every member's steps


def core_config(env: str, backend: str, *, neurons: int, population: int, generations: int,
                seed: int = 0, max_steps: int = 1000, lr: float = 0.15, clip_eps: float = 1e-3,
                substeps: int | None = None, physics: str = "positional"):
    """The :class:`~evoconn.training.trainer.TrainConfig` of a Core-scored EC run (no evaluation
    copies: ``best/`` is the final state's ρ > 0.5 masks)."""
    _, trainer, _, _ = _import_training()
    return trainer.TrainConfig(env=env, runner=backend, neurons=neurons, population=population,
                               eval_copies=0, generations=generations, episode_len=max_steps,
                               seed=seed, lr=lr, clip_eps=clip_eps, substeps=substeps,
                               physics=physics, checkpoint_every=generations)


def run_core_training(cfg: Any, session: Any, spec: Spec, out: str | Path | None = None,
                      progress: Callable[[dict[str, Any]], None] | None = None,
                      normalize: bool = True) -> TrainResult:
    """Train ``cfg`` (a Core config, :func:`core_config`) with every member scored by ``session``,
    through the trainer's loop into ``out`` (or in memory)."""
    _, trainer_mod, _, _ = _import_training()
    runner = CoreRunner(session, cfg.runner, cfg.env, seed=cfg.seed, max_steps=cfg.episode_len,
                        physics=cfg.physics, normalize=normalize)
    trainer = trainer_mod.Trainer(cfg, runner=runner, spec=spec)
    rows = trainer_mod.train(cfg, out, progress_fn=progress, trainer=trainer)
    state = trainer.final_state
    rho = {k: np.asarray(v, np.float32) for k, v in trainer.strategy.distribution(state.algo).items()}
    return TrainResult(rows, rho, runner.normalizer(state.norm))


def train_core(session: Any, env: str, spec: Spec, *, generations: int, population: int, seed: int = 0,
               max_steps: int = 1000, lr: float = 0.15, clip_eps: float = 1e-3, normalize: bool = True,
               brax_backend: str = "positional", physics: str | None = None,
               progress: Callable[[dict[str, Any]], None] | None = None,
               backend: str = "jax", out: str | Path | None = None) -> TrainResult:
    """EC for ``generations`` generations of ``population`` members, each scored through ``session``
    (see :class:`CoreRunner`), in memory unless ``out`` is given.

    The key of generation g (rows count from 1) is the trainer's: ``fold_in(PRNGKey(seed), g)``.
    ``brax_backend`` is the old name of ``physics``.
    """
    cfg = core_config(env, backend, neurons=spec.n_neurons, population=population,
                      generations=generations, seed=seed, max_steps=max_steps, lr=lr,
                      clip_eps=clip_eps, substeps=spec.substeps, physics=physics or brax_backend)
    return run_core_training(cfg, session, spec, out, progress, normalize)
