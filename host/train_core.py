"""EC with every member scored through a :class:`~evoconn.host.core.Core`: the Core runner, and the
numpy trainer that runs it without JAX.

The loop is the one loop (:func:`evoconn.training.loop.train`: one metrics schema, one artifact
writer, one checkpoint format, resume); the strategy is EC behind the one algorithm interface
(:class:`evoconn.algorithm.Strategy`); only the scoring differs: :class:`CoreRunner` sends the
members to :func:`evoconn.host.rollout.score_population` on a core: the JAX model (``jax``), the
register interface on the in-memory core (``fake``), the exported Verilog under cocotb (``rtl``:
the scoring runs inside the simulator's process, one call per generation in one simulator
session) or the board (``pynq``). Cores are deterministic, so every backend gives the same
fitness vectors and the same probabilities, generation after generation: what CI proves on the
RTL is what the board trains with.

Two trainers (the pure part of the run) drive a Core runner, chosen by :func:`trainer_kind`:
the JAX :class:`~evoconn.training.trainer.Trainer` (jitted ask/tell, where JAX is installed) and
:class:`NumpyTrainer` (:mod:`evoconn.ec_numpy` and the keys of :mod:`evoconn.spec.prng`: a PYNQ
board, which has no JAX). They give the same rows (timing fields aside), states, checkpoints and
``best/`` artifacts bit for bit, so a run started on one resumes on the other.

Imports no JAX (``import evoconn.host`` does not import this module either).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from evoconn import ec_numpy
from evoconn.artifact import Normalizer
from evoconn.host.core import Core, MissingDependency
from evoconn.host.rollout import make_env, score_population
from evoconn.spec import Spec, prng
from evoconn.training import loop
from evoconn.training.config import TrainConfig
from evoconn.training.errors import ConfigError

__all__ = ["CoreNorm", "CoreRunner", "CoreState", "LocalRunner", "NumpyTrainer", "TrainResult",
           "core_config", "generation_seed", "make_trainer", "run_core_training", "sampled_members",
           "train_core", "trainer_kind"]

#: the trainers a Core run may use (``auto``: JAX where it is installed, else numpy)
TRAINERS = ("auto", "jax", "numpy")


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


class CoreNorm(NamedTuple):
    """The observation normalizer's state on the host (float64; a pytree under JAX)."""

    mean: np.ndarray
    var: np.ndarray
    count: np.float64


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

    def init_norm(self) -> CoreNorm:
        n = Normalizer.identity(self.obs_dim)
        return CoreNorm(n.mean, n.var, np.float64(n.count))

    @staticmethod
    def normalizer(norm) -> Normalizer:
        return Normalizer(np.asarray(norm.mean, np.float64), np.asarray(norm.var, np.float64),
                          float(norm.count))

    def score(self, members: dict[str, Any], norm, pool, key, generation,
              sampled: tuple[dict[str, Any], Any] | None = None) -> loop.Scores:
        """Score ``members`` (masks, (n, ...) each); ``sampled = (rho, keys)``: the first
        ``len(keys)`` are EC's draws from rho under those member keys, which the core is sent
        instead of their masks (:func:`evoconn.host.rollout.score_population`)."""
        del pool, key  # the reset pool and membranes come from the seed and the generation
        theta = {k: np.asarray(v) for k, v in members.items()}
        n = len(next(iter(theta.values())))
        ms = [{k: theta[k][i] for k in self.spec.mask_shapes} for i in range(n)]
        extra_kw = {}
        if sampled is not None:
            extra_kw["sampled"] = ({k: np.asarray(v, np.float32) for k, v in sampled[0].items()},
                                   np.asarray(sampled[1], np.uint32))
        t0 = time.perf_counter()
        pop = self.session.call(score_population, self.env_factory, ms, self.normalizer(norm),
                                seed=generation_seed(self.seed, int(generation)),
                                max_steps=self.max_steps, **extra_kw)
        extra = {"train/fitness": [float(f) for f in pop.fitness], "train/horizon": int(pop.horizon),
                 "train/reruns": int(pop.reruns), "score_s": time.perf_counter() - t0}
        return loop.Scores(np.asarray(pop.fitness, np.float32), pop.final_obs, np.asarray(pop.episodes),
                           int(pop.timer.env_steps), None, extra)

    def update_norm(self, norm, final_obs) -> CoreNorm:
        if not self.normalize:
            return norm
        n = self.normalizer(norm).update(final_obs)
        return CoreNorm(n.mean, n.var, np.float64(n.count))

    def env_steps(self, gen_steps: float) -> int:
        return int(gen_steps)  # score_population counts every member's steps


def sampled_members(rho: dict[str, Any], rho_bits: int | None, k_ask: Any, n: int) -> tuple[dict, np.ndarray] | None:
    """``(rho, member keys)`` of EC's ``n`` members asked with ``k_ask`` (``prng.member_keys``), for
    a Core runner to send keys instead of masks; ``None`` when the masks are not the core's
    sampling rule's (``rho_bits`` other than the core's RHO_BITS, or float sampling)."""
    if rho_bits != prng.RHO_BITS:
        return None
    return ({k: np.asarray(v, np.float32) for k, v in rho.items()},
            prng.member_keys(np.asarray(k_ask, np.uint32), n))


@dataclasses.dataclass
class CoreState:
    """The numpy trainer's state; its leaves are the JAX trainer's ``RunnerState``'s, in order."""

    algo: ec_numpy.ECState
    norm: CoreNorm
    reset_pool: None
    generation: int


class NumpyTrainer:
    """The pure part of a Core-scored EC run without JAX (the loop's trainer, see
    :mod:`evoconn.training.loop`): :class:`evoconn.ec_numpy.ECStrategy` and the keys of
    :mod:`evoconn.spec.prng`, the same generation as :class:`evoconn.training.trainer.Trainer`'s with
    a Core runner: key ``fold_in(PRNGKey(seed), g + 1)`` split into the ask and rollout keys, the
    members asked, scored with the evaluation copies, told, the normalizer updated."""

    def __init__(self, cfg: TrainConfig, runner: Any, spec: Spec):
        cfg.validate()
        if cfg.algo != "ec" or cfg.model != "int":
            raise ConfigError(f"a Core scores EC's masks on the integer model; got {cfg.label}")
        if runner.traceable or runner.name != cfg.runner:
            raise ConfigError(f"config says runner {cfg.runner!r}, got a {runner.name!r} runner "
                              "(the numpy trainer drives Core runners only)")
        self.cfg, self.runner, self.spec = cfg, runner, spec
        try:
            self.strategy = ec_numpy.ECStrategy.create(spec.mask_shapes, cfg.n_train, lr=cfg.lr,
                                                       clip_eps=cfg.clip_eps)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        runner.bind(self)

    def init(self) -> CoreState:
        k_pool, k_algo = prng.split(prng.seed_key(self.cfg.seed))
        return CoreState(algo=self.strategy.init(k_algo), norm=self.runner.init_norm(),
                         reset_pool=self.runner.init_pool(k_pool), generation=0)

    def gen_key(self, g: int) -> np.ndarray:
        """The key of the generation of index ``g`` (0-based; its metrics row says g + 1)."""
        return prng.fold_in(prng.seed_key(self.cfg.seed), g + 1)

    def eval_params(self, algo_state: ec_numpy.ECState) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.strategy.eval_members(algo_state, 1).items()}

    def generation(self, s: CoreState, key: np.ndarray) -> tuple[CoreState, dict[str, Any]]:
        nt, ne = self.cfg.n_train, self.cfg.n_eval
        k_ask, k_roll = prng.split(key)
        pop, algo = self.strategy.ask(k_ask, s.algo)
        evals = self.strategy.eval_members(s.algo, ne)
        members = {k: np.concatenate([pop.members[k], evals[k]]) for k in pop.members}
        res = self.runner.score(members, s.norm, s.reset_pool, k_roll, s.generation,
                                sampled=sampled_members(s.algo.rho, s.algo.rho_bits, k_ask, nt))
        fitness = np.asarray(res.fitness, np.float32)
        algo, am = self.strategy.tell(pop, fitness[:nt], algo)
        norm = self.runner.update_norm(s.norm, res.final_obs)
        metrics = {**loop.summary_metrics(fitness[:nt], fitness[nt:], res.episodes, res.rate),
                   "gen_steps": res.steps, **{f"train/{k}": v for k, v in am.items()}, **res.extra}
        return CoreState(algo=algo, norm=norm, reset_pool=s.reset_pool, generation=s.generation + 1), metrics

    # --- what the loop needs besides ------------------------------------------------------
    def fetch(self, tree: Any) -> Any:
        return tree  # everything lives on the host

    def state_leaves(self, s: CoreState) -> list[np.ndarray]:
        """The JAX trainer's checkpoint leaves: ρ, Adam's μ and ν (each by sorted name), the update
        count, the normalizer (mean, var, count), the generation."""
        a = s.algo
        names = sorted(a.rho)
        return [*(a.rho[k] for k in names), *(a.mu[k] for k in names), *(a.nu[k] for k in names),
                np.asarray(a.generation, np.int32), np.asarray(s.norm.mean), np.asarray(s.norm.var),
                np.asarray(s.norm.count), np.asarray(s.generation, np.int32)]

    def restore(self, template: CoreState, arrays: list[np.ndarray]) -> CoreState:
        names = sorted(template.algo.rho)
        k = len(names)
        part = lambda i: {n: np.asarray(arrays[i * k + j], np.float32) for j, n in enumerate(names)}  # noqa: E731
        algo = ec_numpy.ECState(rho=part(0), mu=part(1), nu=part(2), generation=int(arrays[3 * k]),
                                rho_bits=template.algo.rho_bits)
        norm = CoreNorm(np.asarray(arrays[3 * k + 1], np.float64), np.asarray(arrays[3 * k + 2], np.float64),
                        np.float64(arrays[3 * k + 3]))
        return CoreState(algo=algo, norm=norm, reset_pool=template.reset_pool,
                         generation=int(arrays[3 * k + 4]))

    def describe(self) -> list[str]:
        return []  # no JAX devices: the host CPU

    writer = True  #: one process: it writes the run's files


def trainer_kind(kind: str = "auto") -> str:
    """``jax`` or ``numpy``: ``auto`` is JAX where JAX and flax are installed (today's trainer),
    numpy elsewhere (a board)."""
    if kind not in TRAINERS:
        raise ConfigError(f"unknown trainer {kind!r}; one of {', '.join(TRAINERS)}")
    if kind != "auto":
        return kind
    return "jax" if all(_importable(m) for m in ("jax", "flax")) else "numpy"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it (the board-safety test's blocker)
        return False


def make_trainer(cfg: TrainConfig, runner: Any, spec: Spec, kind: str = "auto") -> Any:
    """The trainer of a Core run: the JAX one or :class:`NumpyTrainer` (:func:`trainer_kind`)."""
    if trainer_kind(kind) == "numpy":
        return NumpyTrainer(cfg, runner, spec)
    try:
        from evoconn.training.trainer import Trainer
    except ImportError as e:
        raise MissingDependency(f"the jax trainer needs jax ({e}); pip install 'evoconn[train]', or "
                                "--trainer numpy (the same run)") from None
    return Trainer(cfg, runner=runner, spec=spec)


def core_config(env: str, backend: str, *, neurons: int, population: int, generations: int,
                seed: int = 0, max_steps: int = 1000, lr: float = 0.15, clip_eps: float = 1e-3,
                substeps: int | None = None, physics: str = "positional",
                checkpoint_every: int | None = None) -> TrainConfig:
    """The :class:`~evoconn.training.config.TrainConfig` of a Core-scored EC run (no evaluation
    copies: ``best/`` is the final state's ρ > 0.5 masks); a checkpoint every ``checkpoint_every``
    generations (default: at the end)."""
    return TrainConfig(env=env, runner=backend, neurons=neurons, population=population,
                       eval_copies=0, generations=generations, episode_len=max_steps,
                       seed=seed, lr=lr, clip_eps=clip_eps, substeps=substeps,
                       physics=physics, checkpoint_every=checkpoint_every or generations)


def run_core_training(cfg: TrainConfig, session: Any, spec: Spec, out: str | Path | None = None,
                      progress: Callable[[dict[str, Any]], None] | None = None,
                      normalize: bool = True, *, resume: bool = False,
                      trainer: str = "auto") -> TrainResult:
    """Train ``cfg`` (a Core config, :func:`core_config`) with every member scored by ``session``,
    through the one loop into ``out`` (or in memory); ``resume`` continues the run in ``out``.
    ``trainer``: ``auto`` (JAX where installed), ``jax`` or ``numpy``."""
    runner = CoreRunner(session, cfg.runner, cfg.env, seed=cfg.seed, max_steps=cfg.episode_len,
                        physics=cfg.physics, normalize=normalize)
    tr = make_trainer(cfg, runner, spec, trainer)
    rows = loop.train(cfg, out, resume=resume, progress_fn=progress, trainer=tr)
    state = tr.fetch(tr.final_state)
    rho = {k: np.asarray(v, np.float32) for k, v in tr.strategy.distribution(state.algo).items()}
    return TrainResult(rows, rho, runner.normalizer(state.norm))


def train_core(session: Any, env: str, spec: Spec, *, generations: int, population: int, seed: int = 0,
               max_steps: int = 1000, lr: float = 0.15, clip_eps: float = 1e-3, normalize: bool = True,
               brax_backend: str = "positional", physics: str | None = None,
               progress: Callable[[dict[str, Any]], None] | None = None,
               backend: str = "jax", out: str | Path | None = None, trainer: str = "auto") -> TrainResult:
    """EC for ``generations`` generations of ``population`` members, each scored through ``session``
    (see :class:`CoreRunner`), in memory unless ``out`` is given.

    The key of generation g (rows count from 1) is ``fold_in(PRNGKey(seed), g)``, split into the
    ask key and the rollout key (:mod:`evoconn.spec.prng` computes it without JAX).
    ``brax_backend`` is the old name of ``physics``; ``trainer`` picks the implementation
    (:func:`trainer_kind`).
    """
    cfg = core_config(env, backend, neurons=spec.n_neurons, population=population,
                      generations=generations, seed=seed, max_steps=max_steps, lr=lr,
                      clip_eps=clip_eps, substeps=spec.substeps, physics=physics or brax_backend)
    return run_core_training(cfg, session, spec, out, progress, normalize, trainer=trainer)
