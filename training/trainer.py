"""The training run: config, the generation, and the one impure outer loop.

A generation is one pure function ``(RunnerState, key) -> (RunnerState, metrics)``: ask the
strategy (:class:`evoconn.algorithm.Strategy`: EC or ES, the same interface) for the members,
append the evaluation copies, score the population through the runner
(:mod:`evoconn.training.runners`), tell the strategy the training members' fitness, update the
observation normalizer. With the in-process Brax runner the whole generation is one jitted
function and the population axis is sharded across the local JAX devices
(:class:`evoconn.training.devices.Placement`, the one place that knows about devices). Every sum
over the population is integer (EC's gradient) or taken in a fixed order (:func:`ec.ordered_sum`:
ES's gradient, the normalizer), so the sharded run equals the unsharded one bit for bit wherever
XLA compiles a member's float physics the same way for both batch sizes (tested on CPU with the
ISA capped at AVX; with AVX-512, XLA rounds a batch of 8 and one of 16 differently in the last
bit). With a Core runner (:mod:`evoconn.host.train_core`) ``ask`` and ``tell`` are jitted on their
own and the scoring runs between them, in Python, on the core.

Everything impure lives in :func:`train`, for every runner: the metrics log (``metrics.jsonl``,
one schema), the learning curve, the best artifact (one writer), checkpoints (atomic, every
``checkpoint_every`` generations), resume, and a ``progress_fn`` called after each generation.
Generation g (the row with ``"generation": g``, counting from 1) runs with the key
``fold_in(PRNGKey(seed), g)`` (:meth:`Trainer.gen_key` of index g - 1), so a resumed run
repeats the uninterrupted one exactly; the initial state comes from ``split(PRNGKey(seed))``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoconn.algorithm import Strategy
from evoconn.artifact import (
    Artifact,
    Normalizer,
    atomic_write_bytes,
    atomic_write_text,
    base_manifest,
    save_artifact,
)
from evoconn.spec import Spec
from evoconn.training.devices import Placement
from evoconn.training.errors import CheckpointError, ConfigError, RunError, TrainError
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
           "Trainer", "make_env", "train"]

#: Tasks the Brax runner knows; the fast ones are for quick runs and CI.
ENVS = ("hopper", "walker2d", "humanoid", "ant", "halfcheetah", "inverted_pendulum",
        "inverted_double_pendulum", "reacher")
#: Brax physics pipelines (``TrainConfig.physics``, ``--physics``).
PHYSICS = ("generalized", "positional", "spring", "mjx")
BACKENDS = PHYSICS  # the old name, kept for importers
FAST_ENV = "inverted_double_pendulum"
CHECKPOINT = "checkpoint.npz"
#: config fields renamed since: old name -> new name (old config.json files still load)
RENAMED = {"backend": "physics"}


# =====================================================================================
# The algorithms: strategy and the network its members run
# =====================================================================================


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """How a config's ``algo`` becomes a strategy and the policy its members run on Brax."""

    make: Callable[[TrainConfig, Spec, int], Strategy]
    policy: Callable[[TrainConfig, Spec], Any]
    shapes: Callable[[TrainConfig, Spec], dict[str, tuple[int, ...]]]
    label: Callable[[TrainConfig], str]
    #: a rule the training population must meet, as (predicate, message) on n_train
    size_rule: tuple[Callable[[int], bool], str] | None = None


def _dense_shapes(cfg: TrainConfig, spec: Spec) -> dict[str, tuple[int, ...]]:
    n, d, a = cfg.neurons, spec.obs_dim, spec.act_dim
    return {"w_in": (d, n), "w_h": (n, n), "w_out": (n, a)}


ALGORITHMS: dict[str, Algorithm] = {
    "ec": Algorithm(
        make=lambda cfg, spec, n: ECStrategy.create(spec.mask_shapes, n, lr=cfg.lr,
                                                    clip_eps=cfg.clip_eps),
        policy=lambda cfg, spec: int_policy(spec) if cfg.model == "int" else float_policy(spec),
        shapes=lambda cfg, spec: dict(spec.mask_shapes),
        label=lambda cfg: f"EC-{cfg.model}"),
    "es": Algorithm(
        make=lambda cfg, spec, n: ESStrategy.create(_dense_shapes(cfg, spec), n, lr=cfg.lr,
                                                    sigma=cfg.sigma, weight_decay=cfg.weight_decay),
        policy=lambda cfg, spec: dense_snn_policy(cfg.neurons, spec.obs_dim, spec.act_dim,
                                                  spec.substeps),
        shapes=_dense_shapes,
        label=lambda cfg: "ES-dense",
        size_rule=(lambda n: n % 2 == 0, "ES samples mirrored pairs: population - eval_copies "
                                         "must be even, got {n}")),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; the defaults are the paper's where the paper has one."""

    env: str = "hopper"
    algo: str = "ec"  # ec | es
    model: str = "int"  # int | float (EC); ES always uses the dense float SNN
    physics: str = "positional"  # the Brax physics pipeline (was "backend")
    population: int = 10240  # all members, evaluation copies included
    eval_copies: int | None = None  # None: round(population / 80) (the paper: 128 of 10240)
    generations: int = 1000
    episode_len: int = 1000
    neurons: int = 256
    seed: int = 0
    lr: float = 0.15
    clip_eps: float = 1e-3  # EC
    sigma: float = 0.3  # ES
    weight_decay: float = 0.1  # ES
    checkpoint_every: int = 10
    #: who scores the members: "brax" (in process) or a Core backend ("jax", "fake", "rtl", "pynq")
    runner: str = "brax"
    substeps: int | None = None  # K; None: the spec's default

    #: fields that may change between a run and its resume
    RESUMABLE_CHANGES = ("generations", "checkpoint_every")

    @property
    def n_eval(self) -> int:
        if self.eval_copies is not None:
            return self.eval_copies
        return max(1, round(self.population / 80))

    @property
    def n_train(self) -> int:
        return self.population - self.n_eval

    @property
    def label(self) -> str:
        """e.g. ``EC-int`` or ``ES-dense``."""
        return ALGORITHMS[self.algo].label(self)

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        brax = self.runner == "brax"
        if brax:
            need(self.env in ENVS, f"unknown env {self.env!r}; choose one of {', '.join(ENVS)}")
        need(self.algo in ALGORITHMS, f"unknown algo {self.algo!r} (ec or es)")
        need(self.model in ("int", "float"), f"unknown model {self.model!r} (int or float)")
        need(self.physics in PHYSICS, f"unknown backend {self.physics!r}; one of {PHYSICS}")
        if brax:
            need(self.population >= 3, f"population must be at least 3 (2 training members and "
                                       f"an evaluation copy), got {self.population}")
            need(self.n_eval >= 1, f"eval_copies must be at least 1, got {self.n_eval}")
        else:
            need(self.n_eval >= 0, f"eval_copies must be at least 0, got {self.n_eval}")
        need(self.n_train >= 2, f"population {self.population} leaves {self.n_train} training "
                                f"members after {self.n_eval} evaluation copies; need at least 2")
        rule = ALGORITHMS[self.algo].size_rule
        if rule is not None:
            need(rule[0](self.n_train), rule[1].format(n=self.n_train))
        need(self.generations >= 1, f"generations must be at least 1, got {self.generations}")
        need(self.episode_len >= 1, f"episode_len must be at least 1, got {self.episode_len}")
        need(self.neurons >= 8, f"neurons must be at least 8, got {self.neurons}")
        need(self.checkpoint_every >= 1, "checkpoint_every must be at least 1")
        need(self.lr > 0 and self.sigma > 0, "lr and sigma must be positive")
        need(0 <= self.clip_eps < 0.5, f"clip_eps must lie in [0, 0.5), got {self.clip_eps}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def upgrade(cls, d: dict[str, Any]) -> dict[str, Any]:
        """A config dict with its old field names (``backend``) under their new ones."""
        d = dict(d)
        for old, new in RENAMED.items():
            if old in d:
                if new in d and d[new] != d[old]:
                    raise ConfigError(f"config gives both {old!r} (the old name of {new!r}) and "
                                      f"{new!r}, with different values")
                d[new] = d.pop(old)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = cls.upgrade(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config fields: {sorted(unknown)}")
        return cls(**d)


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


# =====================================================================================
# The impure outer loop
# =====================================================================================


def _save_checkpoint(path: Path | None, placement: Placement, rs: RunnerState,
                     meta: dict[str, Any]) -> None:
    """The state at ``path``; ``None``: gathered (every process must) but not written."""
    leaves = placement.fetch(jax.tree.leaves(rs))
    if path is None:
        return
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **{f"leaf{i}": np.asarray(x)
                                                      for i, x in enumerate(leaves)})
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, template: RunnerState,
                    placement: Placement | None = None) -> tuple[RunnerState, dict[str, Any]]:
    """The state saved at ``path``, placed like ``template`` (whose shapes it must have)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            leaves, treedef = jax.tree.flatten(template)
            loaded = [z[f"leaf{i}"] for i in range(len(leaves))]
    except (OSError, KeyError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    for i, (a, b) in enumerate(zip(leaves, loaded, strict=True)):
        dtype = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype  # a: maybe a global array
        if np.shape(a) != b.shape or dtype != b.dtype:
            raise CheckpointError(f"{path}: leaf {i} is {b.shape} {b.dtype}, this config needs "
                                  f"{np.shape(a)} {dtype}")
    placement = placement or Placement(jax.devices()[:1])
    return jax.tree.unflatten(treedef, placement.put_like(loaded, leaves)), meta


def _normalizer(placement: Placement, norm: NormState) -> Normalizer:
    n = placement.fetch(norm)
    return Normalizer(np.asarray(n.mean, np.float64), np.asarray(n.var, np.float64),
                      float(n.count), NORM_EPS)


def _brax_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("brax")
    except metadata.PackageNotFoundError:
        return None


def plot_curve(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["env_steps"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [r["train/fitness_mean"] for r in rows], label="train mean")
    ax.plot(x, [r["train/fitness_max"] for r in rows], label="train max", alpha=0.6)
    if rows and "eval/fitness" in rows[0]:
        ax.plot(x, [r["eval/fitness"] for r in rows], label="eval (deterministic)")
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise RunError(f"output folder {out} is not writable: {e}") from None


def check_fresh(out: Path) -> None:
    """Refuse to start a run in a folder that already holds one."""
    if (out / CHECKPOINT).exists() or (out / "metrics.jsonl").exists():
        raise RunError(f"{out} already holds a run; pass --resume {out} to continue it, or "
                       "choose another --out")


def saved_config(out: Path) -> dict[str, Any]:
    """The config dict a run folder was started with (old field names upgraded)."""
    path = out / "config.json"
    try:
        return TrainConfig.upgrade(json.loads(path.read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"cannot resume {out}: unreadable {path.name} ({type(e).__name__}: {e})") \
            from None


def check_resume(out: Path, cfg: TrainConfig, spec_hash: str) -> None:
    """Refuse to resume into a run made with another config or spec."""
    cfg_path = out / "config.json"
    if not cfg_path.exists():  # without a checkpoint the run resumes from generation 0
        raise RunError(f"cannot resume {out}: no config.json there")
    old = {**TrainConfig().to_dict(), **saved_config(out)}  # fields added since: their defaults
    saved = json.loads(cfg_path.read_text())
    diff = {k: (old.get(k), v) for k, v in cfg.to_dict().items()
            if k not in TrainConfig.RESUMABLE_CHANGES and old.get(k) != v}
    if diff:
        raise RunError(f"cannot resume {out}: it was started with a different config ("
                       + ", ".join(f"{k}: {a!r} there vs {b!r} now" for k, (a, b) in diff.items())
                       + ")")
    if saved.get("spec_hash") != spec_hash:
        raise RunError(f"cannot resume {out}: its spec hash {str(saved.get('spec_hash'))[:16]} "
                       f"differs from this build's {spec_hash[:16]}")


def _py(v: Any) -> float | list[float]:
    a = np.asarray(v)
    return float(a) if a.ndim == 0 else [float(x) for x in a.ravel()]


def train(cfg: TrainConfig, out: str | Path | None, resume: bool = False,
          progress_fn: Callable[[dict], None] | None = None, trainer: Trainer | None = None,
          stop_after: int | None = None) -> list[dict]:
    """Run (or resume) a training run into ``out``; returns the metrics rows of this call.

    Every runner goes through this loop. ``out=None`` keeps everything in memory (no metrics
    file, checkpoint or artifact). ``stop_after`` ends the call after that many generations
    (tests, benchmarks); the run can be resumed later. A run without evaluation copies has no
    ``eval/fitness``: its ``best/`` artifact is the final state's deterministic member.
    """
    out = Path(out) if out is not None else None
    trainer = trainer or Trainer(cfg)
    spec, place, runner, strategy = trainer.spec, trainer.placement, trainer.runner, trainer.strategy
    # several processes (jax.distributed): all compute the same state, one writes the files
    writes = out is not None and place.writer
    if out is not None:
        if resume:
            check_resume(out, cfg, spec.hash)
        elif writes:
            check_fresh(out)
            check_out_dir(out)
    brax_version = _brax_version()
    if writes:
        atomic_write_text(out / "config.json", json.dumps(
            {"config": cfg.to_dict(), "spec_hash": spec.hash, "spec": spec.to_dict(),
             "brax_version": brax_version, "physics": cfg.physics, "runner": runner.name,
             "jax_devices": place.describe()}, indent=1) + "\n")
    metrics_path = out / "metrics.jsonl" if out is not None else None

    state = trainer.init()
    meta = {"generation": 0, "env_steps": 0, "wall_time": 0.0, "best_eval": None}
    rows: list[dict] = []
    if resume and out is not None:
        # a run killed before its first checkpoint resumes from generation 0: its start is a pure
        # function of the config, so nothing of it is lost
        if (out / CHECKPOINT).exists():
            state, meta = load_checkpoint(out / CHECKPOINT, state, place)
        kept = []
        if metrics_path.exists():  # drop what the killed run logged after its last checkpoint
            for line in metrics_path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    break
                if r["generation"] <= meta["generation"]:
                    kept.append(r)
        if writes:
            atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        rows = kept
    all_rows = list(rows)
    new_rows: list[dict] = []
    env_steps, wall, best = int(meta["env_steps"]), float(meta["wall_time"]), meta["best_eval"]
    g = int(meta["generation"])
    title = f"{cfg.label} on {cfg.env} (brax {brax_version}, {cfg.physics}), pop " \
            f"{cfg.population}, seed {cfg.seed}" + ("" if runner.name == "brax" else
                                                    f", scored on {runner.name}")

    def snapshot(s: RunnerState):
        """What the evaluation copies of the next generation run (the state is donated)."""
        return place.fetch((trainer.eval_params(s.algo), strategy.distribution(s.algo), s.norm))

    def save_best(snap, gen: int, ev: float | None) -> None:
        _save_best(trainer, out / "best", *snap, gen, ev, brax_version)

    log = metrics_path.open("a") if writes else None
    try:
        while g < cfg.generations:
            if stop_after is not None and len(new_rows) >= stop_after:
                break
            snap = snapshot(state) if cfg.n_eval else None
            t0 = time.perf_counter()
            state, m = trainer.generation(state, trainer.gen_key(g))
            m = {k: _py(v) for k, v in place.fetch(m).items()}
            dt = time.perf_counter() - t0
            g += 1
            steps = runner.env_steps(m.pop("gen_steps"))
            env_steps += steps
            wall += dt
            row = {"generation": g, **m, "env_steps": env_steps, "gen_steps": steps,
                   "wall_time": wall, "gen_time": dt, "env_steps_per_s": steps / dt}
            all_rows.append(row)
            new_rows.append(row)
            if out is not None:  # every process: fetch gathers across processes
                if log is not None:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                ev = row.get("eval/fitness")
                if snap is not None and math.isfinite(ev) and (best is None or ev > best):
                    best = ev
                    if writes:
                        save_best(snap, g, ev)
                if not cfg.n_eval and g == cfg.generations:
                    final = snapshot(state)
                    if writes:
                        save_best(final, g, None)
                if g % cfg.checkpoint_every == 0 or g == cfg.generations:
                    _save_checkpoint(out / CHECKPOINT if writes else None, place, state,
                                     {"generation": g, "env_steps": env_steps, "wall_time": wall,
                                      "best_eval": best})
                    if writes:
                        plot_curve(all_rows, out / "learning_curve.png", title)
            if progress_fn is not None:
                progress_fn(row)
    finally:
        if log is not None:
            log.close()
    trainer.final_state = state
    return new_rows


def _save_best(trainer: Trainer, path: Path, params, probs, norm: NormState, g: int,
               eval_fitness: float | None, brax_version: str | None) -> None:
    """The one artifact writer: the deterministic member, its normalizer and a manifest."""
    cfg = trainer.cfg
    manifest = base_manifest(trainer.spec, "artifact", env=cfg.env, brax_version=brax_version,
                             physics=cfg.physics, seed=cfg.seed, generation=g, algo=cfg.algo,
                             model=cfg.model, eval_fitness=eval_fitness,
                             scored_on=trainer.runner.name, config=cfg.to_dict())
    norm_ = _normalizer(trainer.placement, norm)
    if trainer.strategy.member_kind == "masks":
        # the masks and normalizer that scored eval_fitness: ρ and statistics before the update
        masks = {k: np.asarray(v) for k, v in params.items()}
        probs = {k: np.asarray(v) for k, v in probs.items()} if probs is not None else None
        save_artifact(path, Artifact(spec=trainer.spec, masks=masks, probs=probs,
                                     normalizer=norm_, manifest=manifest))
    else:  # weights are not masks: a weights file and a manifest
        path.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in params.items()}, norm_mean=norm_.mean,
                 norm_var=norm_.var, norm_count=np.float64(norm_.count))
        atomic_write_bytes(path / "weights.npz", buf.getvalue())
        atomic_write_text(path / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
