"""The JAX trainer: the pure part of a run (init, generation, keys, evaluation snapshot) on JAX.

A generation is one pure function ``(RunnerState, key) -> (RunnerState, metrics)``: ask the
strategy (:class:`evoconn.algorithm.Strategy`: EC or ES, the same interface) for the members,
append the evaluation copies, score the population through the runner
(:mod:`evoconn.training.runners`), tell the strategy the training members' fitness, update the
observation normalizer. With the in-process Brax runner the whole generation is one jitted
function and the population axis is sharded across the JAX devices (of every process, in a jax.distributed run)
(:class:`evoconn.training.devices.Placement`, the one place that knows about devices). Every sum
over the population is integer (EC's gradient) or taken in a fixed order (:func:`ec.ordered_sum`:
ES's gradient, the normalizer), so the sharded run equals the unsharded one bit for bit wherever
XLA compiles a member's float physics the same way for both batch sizes (tested on CPU with the
ISA capped at AVX; with AVX-512, XLA rounds a batch of 8 and one of 16 differently in the last
bit). With a Core runner (:mod:`evoconn.host.train_core`) ``ask`` and ``tell`` are jitted on their
own and the scoring runs between them, in Python, on the core; that generation is the one
:class:`evoconn.host.train_core.NumpyTrainer` computes without JAX, bit for bit.

Everything impure (metrics, curve, best artifact, checkpoints, resume, progress) is the one loop
of :mod:`evoconn.training.loop` (JAX-free), re-exported here: :func:`train`. Generation g (the row
with ``"generation": g``, counting from 1) runs with the key ``fold_in(PRNGKey(seed), g)``
(:meth:`Trainer.gen_key` of index g - 1), split into the ask key and the rollout key; the initial
state comes from ``split(PRNGKey(seed))``. :class:`TrainConfig` lives in
:mod:`evoconn.training.config` (JAX-free) and is re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoconn.algorithm import Strategy
from evoconn.spec import Spec
from evoconn.training import loop
from evoconn.training.config import (  # noqa: F401  (the names importers know from here)
    BACKENDS,
    CHECKPOINT,
    ENVS,
    FAST_ENV,
    PHYSICS,
    RENAMED,
    TrainConfig,
)
from evoconn.training.devices import Placement
from evoconn.training.errors import CheckpointError, ConfigError, RunError, TrainError
from evoconn.training.loop import (  # noqa: F401  (the one loop, re-exported)
    check_fresh,
    check_out_dir,
    check_resume,
    plot_curve,
    save_best,
    saved_config,
    train,
)
from evoconn.training.rollout import (
    NORM_EPS,
    NormState,
    dense_snn_policy,
    float_policy,
    int_policy,
)
from evoconn.training.runners import BraxRunner, make_env
from evoconn.training.strategy import ECStrategy, ESStrategy

__all__ = ["CheckpointError", "ConfigError", "RunError", "RunnerState", "TrainConfig", "TrainError",
           "Trainer", "load_checkpoint", "make_env", "train"]

assert NORM_EPS == loop.NORM_EPS  # the loop (no JAX) writes artifacts with the rollout's epsilon

# =====================================================================================
# The algorithms: strategy and the network its members run
# =====================================================================================


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """How a config's ``algo`` becomes a strategy and the policy its members run on Brax."""

    make: Callable[[TrainConfig, Spec, int], Strategy]
    policy: Callable[[TrainConfig, Spec], Any]
    shapes: Callable[[TrainConfig, Spec], dict[str, tuple[int, ...]]]


def _dense_shapes(cfg: TrainConfig, spec: Spec) -> dict[str, tuple[int, ...]]:
    n, d, a = cfg.neurons, spec.obs_dim, spec.act_dim
    return {"w_in": (d, n), "w_h": (n, n), "w_out": (n, a)}


ALGORITHMS: dict[str, Algorithm] = {
    "ec": Algorithm(
        make=lambda cfg, spec, n: ECStrategy.create(spec.mask_shapes, n, lr=cfg.lr,
                                                    clip_eps=cfg.clip_eps),
        policy=lambda cfg, spec: int_policy(spec) if cfg.model == "int" else float_policy(spec),
        shapes=lambda cfg, spec: dict(spec.mask_shapes)),
    "es": Algorithm(
        make=lambda cfg, spec, n: ESStrategy.create(_dense_shapes(cfg, spec), n, lr=cfg.lr,
                                                    sigma=cfg.sigma, weight_decay=cfg.weight_decay),
        policy=lambda cfg, spec: dense_snn_policy(cfg.neurons, spec.obs_dim, spec.act_dim,
                                                  spec.substeps),
        shapes=_dense_shapes),
}  # labels and size rules: evoconn.training.config.ALGOS


@struct.dataclass
class RunnerState:
    algo: Any  # the strategy's state (ec.ECState | es.ESState)
    norm: NormState
    reset_pool: Any  # the runner's reset pool (brax State with a leading population axis), or None
    generation: jax.Array


class Trainer:
    """The pure parts of a run, built from a :class:`TrainConfig` and a runner.

    ``runner`` scores the members (default: :class:`~evoconn.training.runners.BraxRunner` on
    ``cfg.env``); ``spec`` overrides the spec built from ``cfg`` and the runner's sizes.
    """

    def __init__(self, cfg: TrainConfig, devices: list | None = None, runner: Any = None,
                 spec: Spec | None = None):
        cfg.validate()
        self.cfg = cfg
        self.runner = runner if runner is not None else BraxRunner(cfg.env, cfg.physics,
                                                                    cfg.population, cfg.episode_len)
        if self.runner.name != cfg.runner and not (cfg.runner == "brax" and self.runner.traceable):
            raise ConfigError(f"config says runner {cfg.runner!r}, got a {self.runner.name!r} runner")
        d, a = self.runner.obs_dim, self.runner.act_dim
        sizes = {"substeps": cfg.substeps} if cfg.substeps else {}
        try:
            self.spec = spec if spec is not None else Spec(n_neurons=cfg.neurons, obs_dim=d,
                                                           act_dim=a, **sizes)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        algo = ALGORITHMS[cfg.algo]
        try:
            self.strategy = algo.make(cfg, self.spec, cfg.n_train)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not self.runner.traceable and self.strategy.member_kind != "masks":
            raise ConfigError(f"a Core scores masks; {cfg.label} evolves {self.strategy.member_kind}")
        self.shapes = algo.shapes(cfg, self.spec)
        self.policy = algo.policy(cfg, self.spec) if self.runner.traceable else None
        # a Core runner scores in Python: the strategy's arrays live on one device
        self.placement = Placement(devices if devices is not None or self.runner.traceable
                                   else jax.devices()[:1])
        self.devices = self.placement.devices
        if cfg.population % len(self.placement):
            raise ConfigError(f"population {cfg.population} must be a multiple of the "
                              f"{len(self.placement)} devices it is sharded over")
        self.runner.bind(self)
        if self.runner.traceable:  # the whole generation is one XLA program
            self._ask, self._tell = self.strategy.ask, self.strategy.tell
            self.generation = jax.jit(self._generation, donate_argnums=(0,))
        else:  # the scoring runs in Python between a jitted ask and a jitted tell
            self._ask, self._tell = jax.jit(self.strategy.ask), jax.jit(self.strategy.tell)
            self.generation = self._generation

    # --- pure functions -------------------------------------------------------------------
    def init(self) -> RunnerState:
        k_pool, k_algo = jax.random.split(jax.random.PRNGKey(self.cfg.seed))
        pool, algo = self._init(k_pool, k_algo)
        return self.placement.put(RunnerState(algo=algo, norm=self.runner.init_norm(),
                                              reset_pool=pool, generation=jnp.int32(0)))

    @partial(jax.jit, static_argnums=(0,))
    def _init(self, k_pool, k_algo):
        return self.runner.init_pool(k_pool), self.strategy.init(k_algo)

    def gen_key(self, g: int) -> jax.Array:
        """The key of the generation of index ``g`` (0-based; its metrics row says g + 1)."""
        return jax.random.fold_in(jax.random.PRNGKey(self.cfg.seed), g + 1)

    def eval_params(self, algo_state) -> dict[str, jax.Array]:
        """One evaluation member's parameters: masks ρ > 0.5 (EC) or the mean weights (ES)."""
        return {k: v[0] for k, v in self.strategy.eval_members(algo_state, 1).items()}

    def _generation(self, rs: RunnerState, key: jax.Array) -> tuple[RunnerState, dict]:
        cfg = self.cfg
        shard = self.placement.shard
        k_ask, k_roll = jax.random.split(key)
        nt, ne = cfg.n_train, cfg.n_eval
        pop, algo = self._ask(k_ask, rs.algo)
        evals = self.strategy.eval_members(rs.algo, ne)
        if not self.runner.traceable:  # a Core runner: the scoring and the summary on the host
            members = {k: np.concatenate([np.asarray(pop.members[k]), np.asarray(evals[k])])
                       for k in pop.members}
            extra = {}
            if cfg.algo == "ec":  # the core is sent the member keys, not their masks (on-chip sampling)
                from evoconn.host.train_core import sampled_members

                extra["sampled"] = sampled_members(rs.algo.rho, rs.algo.rho_bits, k_ask, nt)
            res = self.runner.score(members, rs.norm, rs.reset_pool, k_roll, rs.generation, **extra)
            fitness = np.asarray(res.fitness, np.float32)
            algo, am = self._tell(pop, jnp.asarray(fitness[:nt]), algo)
            norm = self.runner.update_norm(rs.norm, res.final_obs)
            metrics = {**loop.summary_metrics(fitness[:nt], fitness[nt:], res.episodes, res.rate),
                       "gen_steps": res.steps, **{f"train/{k}": v for k, v in am.items()}, **res.extra}
            return RunnerState(algo=algo, norm=norm, reset_pool=rs.reset_pool,
                               generation=rs.generation + 1), metrics
        members = shard({k: jnp.concatenate([pop.members[k], evals[k]]) for k in pop.members})
        res = self.runner.score(members, rs.norm, rs.reset_pool, k_roll, rs.generation)
        fitness, final_obs, rate = self.placement.replicate((res.fitness, res.final_obs, res.rate))
        fit, fit_eval = fitness[:nt], fitness[nt:]
        algo, am = self._tell(pop, fit, algo)
        norm = self.runner.update_norm(rs.norm, final_obs)
        metrics = {
            "train/fitness_mean": jnp.mean(fit),
            "train/fitness_max": jnp.max(fit),
            "train/fitness_min": jnp.min(fit),
            "train/episodes_mean": jnp.mean(jnp.asarray(res.episodes).astype(jnp.float32)),
            **({"train/firing_rate": jnp.mean(rate)} if rate is not None else {}),
            **({"eval/fitness": jnp.mean(fit_eval)} if ne else {}),
            "gen_steps": res.steps,
            **{f"train/{k}": v for k, v in am.items()},
            **res.extra,
        }
        rs = RunnerState(algo=algo, norm=norm, reset_pool=rs.reset_pool,
                         generation=rs.generation + 1)
        return rs, metrics

    # --- what the loop (evoconn.training.loop) needs besides ------------------------------
    def fetch(self, tree: Any) -> Any:
        """The tree as host numpy (every shard gathered)."""
        return self.placement.fetch(tree)

    def state_leaves(self, rs: RunnerState) -> list[np.ndarray]:
        """The state's leaves as host arrays, in the checkpoint's order."""
        return [np.asarray(x) for x in self.placement.fetch(jax.tree.leaves(rs))]

    def restore(self, template: RunnerState, arrays: list[np.ndarray]) -> RunnerState:
        """A checkpoint's arrays as a state placed like ``template``."""
        leaves, treedef = jax.tree.flatten(template)
        return jax.tree.unflatten(treedef, self.placement.put_like(arrays, leaves))

    def describe(self) -> list[str]:
        return self.placement.describe()

    @property
    def writer(self) -> bool:
        """Whether this process writes the run's files (process 0 of a jax.distributed run)."""
        return self.placement.writer


def load_checkpoint(path: Path, template: RunnerState,
                    placement: Placement | None = None) -> tuple[RunnerState, dict[str, Any]]:
    """The state saved at ``path``, placed like ``template`` (whose shapes it must have)."""
    leaves, treedef = jax.tree.flatten(template)
    loaded, meta = loop.read_checkpoint(path, leaves)
    placement = placement or Placement(jax.devices()[:1])
    return jax.tree.unflatten(treedef, placement.put_like(loaded, leaves)), meta
