"""The training run: config, the jitted generation, and the impure outer loop.

A generation is one jitted, pure function ``(RunnerState, key) -> (RunnerState, metrics)``:
ask the algorithm for the members, append the evaluation copies, roll the population out on
Brax under the paper's fitness rules (:mod:`evoconn.training.rollout`), tell the algorithm the
training members' fitness, update the observation normalizer. The population axis is sharded
across the local JAX devices (a 1-D ``Mesh`` over ``jax.devices()``). Every sum over the
population is integer (EC's gradient) or taken in a fixed order (:func:`ec.ordered_sum`: ES's
gradient, the normalizer), so the sharded run equals the unsharded one bit for bit wherever XLA
compiles a member's float physics the same way for both batch sizes (tested on CPU with the ISA
capped at AVX; with AVX-512, XLA rounds a batch of 8 and one of 16 differently in the last bit).

Everything impure lives in :func:`train`: the metrics log (``metrics.jsonl``), the learning
curve, the best artifact, checkpoints (atomic, every ``checkpoint_every`` generations), resume,
and a ``progress_fn`` called after each generation. The key of generation g is
``fold_in(PRNGKey(seed), g)``, so a resumed run repeats the uninterrupted one exactly.
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
from evoconn.training import ec, es
from evoconn.training.rollout import (
    NORM_EPS,
    NormState,
    dense_snn_policy,
    float_policy,
    int_policy,
    norm_init,
    norm_update,
    rollout,
)
from flax import struct

from evoconn.artifact import (
    Artifact,
    Normalizer,
    atomic_write_bytes,
    atomic_write_text,
    base_manifest,
    save_artifact,
)
from evoconn.spec import Spec

__all__ = ["ConfigError", "RunnerState", "TrainConfig", "Trainer", "train"]

#: Tasks this trainer knows; the fast ones are for quick runs and CI.
ENVS = ("hopper", "walker2d", "humanoid", "ant", "halfcheetah", "inverted_pendulum",
        "inverted_double_pendulum", "reacher")
BACKENDS = ("generalized", "positional", "spring", "mjx")
FAST_ENV = "inverted_double_pendulum"
CHECKPOINT = "checkpoint.npz"


class ConfigError(ValueError):
    """A config that cannot run (unknown env, population too small, ...)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; the defaults are the paper's where the paper has one."""

    env: str = "hopper"
    algo: str = "ec"  # ec | es
    model: str = "int"  # int | float (EC); ES always uses the dense float SNN
    backend: str = "positional"
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

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        need(self.env in ENVS, f"unknown env {self.env!r}; choose one of {', '.join(ENVS)}")
        need(self.algo in ("ec", "es"), f"unknown algo {self.algo!r} (ec or es)")
        need(self.model in ("int", "float"), f"unknown model {self.model!r} (int or float)")
        need(self.backend in BACKENDS, f"unknown backend {self.backend!r}; one of {BACKENDS}")
        need(self.population >= 3, f"population must be at least 3 (2 training members and an "
                                   f"evaluation copy), got {self.population}")
        need(self.n_eval >= 1, f"eval_copies must be at least 1, got {self.n_eval}")
        need(self.n_train >= 2, f"population {self.population} leaves {self.n_train} training "
                                f"members after {self.n_eval} evaluation copies; need at least 2")
        if self.algo == "es":
            need(self.n_train % 2 == 0, f"ES samples mirrored pairs: population - eval_copies "
                                        f"must be even, got {self.n_train}")
        need(self.generations >= 1, f"generations must be at least 1, got {self.generations}")
        need(self.episode_len >= 1, f"episode_len must be at least 1, got {self.episode_len}")
        need(self.neurons >= 8, f"neurons must be at least 8, got {self.neurons}")
        need(self.checkpoint_every >= 1, "checkpoint_every must be at least 1")
        need(self.lr > 0 and self.sigma > 0, "lr and sigma must be positive")
        need(0 <= self.clip_eps < 0.5, f"clip_eps must lie in [0, 0.5), got {self.clip_eps}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config fields: {sorted(unknown)}")
        return cls(**d)


@struct.dataclass
class RunnerState:
    algo: Any  # ec.ECState | es.ESState
    norm: NormState
    reset_pool: Any  # brax State with a leading population axis
    generation: jax.Array


def make_env(name: str, backend: str):
    from brax import envs

    try:
        return envs.get_environment(name, backend=backend)
    except (KeyError, ValueError, NotImplementedError) as e:
        raise ConfigError(f"cannot create env {name!r} with backend {backend!r}: {e}") from None


class Trainer:
    """The pure parts of a run, built from a :class:`TrainConfig`."""

    def __init__(self, cfg: TrainConfig, devices: list | None = None):
        cfg.validate()
        self.cfg = cfg
        self.env = make_env(cfg.env, cfg.backend)
        d, a = int(self.env.observation_size), int(self.env.action_size)
        self.spec = Spec(n_neurons=cfg.neurons, obs_dim=d, act_dim=a)
        if cfg.algo == "ec":
            self.ec_params = ec.ECParams(lr=cfg.lr, clip_eps=cfg.clip_eps)
            self.policy = int_policy(self.spec) if cfg.model == "int" else float_policy(self.spec)
            self.shapes = dict(self.spec.mask_shapes)
        else:
            self.es_params = es.ESParams(lr=cfg.lr, sigma=cfg.sigma, weight_decay=cfg.weight_decay)
            self.policy = dense_snn_policy(cfg.neurons, d, a, self.spec.substeps)
            n = cfg.neurons
            self.shapes = {"w_in": (d, n), "w_h": (n, n), "w_out": (n, a)}
        self.devices = list(devices if devices is not None else jax.devices())
        if cfg.population % len(self.devices):
            raise ConfigError(f"population {cfg.population} must be a multiple of the "
                              f"{len(self.devices)} local devices it is sharded over")
        self.mesh = jax.sharding.Mesh(np.array(self.devices), ("pop",))
        self.pop_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("pop"))
        self.generation = jax.jit(self._generation, donate_argnums=(0,))

    # --- pure functions -------------------------------------------------------------------
    def _constrain(self, tree):
        if len(self.devices) == 1:
            return tree
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.pop_sharding), tree)

    def _replicate(self, tree):
        # the ranks and the metrics see the whole population on every device; the float sums
        # that feed the state (ES's gradient, the normalizer) are ec.ordered_sum, whose order
        # holds whatever XLA does with a reduction
        if len(self.devices) == 1:
            return tree
        rep = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, rep), tree)

    def init(self) -> RunnerState:
        k_pool, k_algo = jax.random.split(jax.random.PRNGKey(self.cfg.seed))
        return self._init(k_pool, k_algo)

    @partial(jax.jit, static_argnums=(0,))
    def _init(self, k_pool, k_algo) -> RunnerState:
        pool = jax.vmap(self.env.reset)(jax.random.split(k_pool, self.cfg.population))
        pool = self._constrain(pool)
        if self.cfg.algo == "ec":
            algo = ec.init(self.ec_params, self.shapes)
        else:
            algo = es.init(self.es_params, self.shapes, k_algo)
        return RunnerState(algo=algo, norm=norm_init(self.spec.obs_dim), reset_pool=pool,
                           generation=jnp.int32(0))

    def gen_key(self, g: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.cfg.seed), g + 1)

    def eval_params(self, algo_state) -> dict[str, jax.Array]:
        """One evaluation member's parameters: masks ρ > 0.5 (EC) or the mean weights (ES)."""
        if self.cfg.algo == "ec":
            return {k: v[0] for k, v in ec.eval_masks(algo_state, 1).items()}
        return algo_state.mean

    def _generation(self, rs: RunnerState, key: jax.Array) -> tuple[RunnerState, dict]:
        cfg = self.cfg
        k_ask, k_roll = jax.random.split(key)
        nt, ne = cfg.n_train, cfg.n_eval
        if cfg.algo == "ec":
            theta = ec.ask(rs.algo, k_ask, nt)
            evals = ec.eval_masks(rs.algo, ne)
        else:
            theta, noise = es.ask(self.es_params, rs.algo, k_ask, nt)
            evals = {k: jnp.broadcast_to(m, (ne, *m.shape)) for k, m in rs.algo.mean.items()}
        members = self._constrain({k: jnp.concatenate([theta[k], evals[k]]) for k in theta})
        res = rollout(self.env, self.policy, members, rs.reset_pool, rs.norm, k_roll,
                      cfg.episode_len, self._constrain)
        fitness, final_obs, rate = self._replicate((res.fitness, res.final_obs, res.rate))
        fit, fit_eval = fitness[:nt], fitness[nt:]
        if cfg.algo == "ec":
            algo, am = ec.tell(self.ec_params, rs.algo, theta, fit)
        else:
            algo, am = es.tell(self.es_params, rs.algo, noise, fit)
        norm = norm_update(rs.norm, final_obs)
        metrics = {
            "train/fitness_mean": jnp.mean(fit),
            "train/fitness_max": jnp.max(fit),
            "train/fitness_min": jnp.min(fit),
            "train/episodes_mean": jnp.mean(res.episodes.astype(jnp.float32)),
            "train/firing_rate": jnp.mean(rate),
            "eval/fitness": jnp.mean(fit_eval),
            "gen_steps": res.steps,
            **{f"train/{k}": v for k, v in am.items()},
        }
        rs = RunnerState(algo=algo, norm=norm, reset_pool=rs.reset_pool,
                         generation=rs.generation + 1)
        return rs, metrics


# =====================================================================================
# The impure outer loop
# =====================================================================================


def _save_checkpoint(path: Path, rs: RunnerState, meta: dict[str, Any]) -> None:
    leaves = jax.device_get(jax.tree.leaves(rs))
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **{f"leaf{i}": np.asarray(x)
                                                      for i, x in enumerate(leaves)})
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, template: RunnerState) -> tuple[RunnerState, dict[str, Any]]:
    from evoconn.cli import CLIError

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            leaves, treedef = jax.tree.flatten(template)
            loaded = [z[f"leaf{i}"] for i in range(len(leaves))]
    except (OSError, KeyError, ValueError, EOFError) as e:
        raise CLIError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    for i, (a, b) in enumerate(zip(leaves, loaded, strict=True)):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise CLIError(f"{path}: leaf {i} is {b.shape} {b.dtype}, this config needs "
                           f"{a.shape} {a.dtype}")
    shard = [getattr(x, "sharding", None) for x in leaves]
    arrs = [jax.device_put(b, s) if s is not None else jnp.asarray(b)
            for b, s in zip(loaded, shard, strict=True)]
    return jax.tree.unflatten(treedef, arrs), meta


def _normalizer(norm: NormState) -> Normalizer:
    n = jax.device_get(norm)
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
    from evoconn.cli import CLIError

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise CLIError(f"output folder {out} is not writable: {e}") from None


def check_resume(out: Path, cfg: TrainConfig, spec_hash: str) -> None:
    """Refuse to resume into a run made with another config or spec."""
    from evoconn.cli import CLIError

    cfg_path = out / "config.json"
    if not cfg_path.exists() or not (out / CHECKPOINT).exists():
        raise CLIError(f"cannot resume {out}: no config.json and {CHECKPOINT} there")
    saved = json.loads(cfg_path.read_text())
    old = saved.get("config", {})
    diff = {k: (old.get(k), v) for k, v in cfg.to_dict().items()
            if k not in TrainConfig.RESUMABLE_CHANGES and old.get(k) != v}
    if diff:
        raise CLIError(f"cannot resume {out}: it was started with a different config ("
                       + ", ".join(f"{k}: {a!r} there vs {b!r} now" for k, (a, b) in diff.items())
                       + ")")
    if saved.get("spec_hash") != spec_hash:
        raise CLIError(f"cannot resume {out}: its spec hash {str(saved.get('spec_hash'))[:16]} "
                       f"differs from this build's {spec_hash[:16]}")


def train(cfg: TrainConfig, out: str | Path, resume: bool = False,
          progress_fn: Callable[[dict], None] | None = None, trainer: Trainer | None = None,
          stop_after: int | None = None) -> list[dict]:
    """Run (or resume) a training run into ``out``; returns the metrics rows of this call.

    ``stop_after`` ends the call after that many generations (tests, benchmarks); the run can be
    resumed later.
    """
    from evoconn.cli import CLIError

    out = Path(out)
    try:
        trainer = trainer or Trainer(cfg)
    except ConfigError as e:
        raise CLIError(str(e)) from None
    spec = trainer.spec
    metrics_path = out / "metrics.jsonl"
    if resume:
        check_resume(out, cfg, spec.hash)
    else:
        if (out / CHECKPOINT).exists() or metrics_path.exists():
            raise CLIError(f"{out} already holds a run; pass --resume {out} to continue it, or "
                           "choose another --out")
        check_out_dir(out)
    brax_version = _brax_version()
    atomic_write_text(out / "config.json", json.dumps(
        {"config": cfg.to_dict(), "spec_hash": spec.hash, "spec": spec.to_dict(),
         "brax_version": brax_version, "backend": cfg.backend,
         "jax_devices": [str(d) for d in trainer.devices]}, indent=1) + "\n")

    state = trainer.init()
    meta = {"generation": 0, "env_steps": 0, "wall_time": 0.0, "best_eval": None}
    rows: list[dict] = []
    if resume:
        state, meta = load_checkpoint(out / CHECKPOINT, state)
        kept = []
        if metrics_path.exists():  # drop what the killed run logged after its last checkpoint
            for line in metrics_path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    break
                if r["generation"] <= meta["generation"]:
                    kept.append(r)
        atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        rows = kept
    all_rows = list(rows)
    new_rows: list[dict] = []
    env_steps, wall, best = int(meta["env_steps"]), float(meta["wall_time"]), meta["best_eval"]
    g = int(meta["generation"])
    title = f"{cfg.algo.upper()}-{cfg.model if cfg.algo == 'ec' else 'dense'} on {cfg.env} " \
            f"(brax {brax_version}, {cfg.backend}), pop {cfg.population}, seed {cfg.seed}"

    def checkpoint(gen: int) -> None:
        _save_checkpoint(out / CHECKPOINT, state, {"generation": gen, "env_steps": env_steps,
                                                   "wall_time": wall, "best_eval": best})

    with metrics_path.open("a") as log:
        while g < cfg.generations:
            if stop_after is not None and len(new_rows) >= stop_after:
                break
            # what the evaluation copies of this generation run (the state is donated below)
            snap = jax.device_get((trainer.eval_params(state.algo), _probs(state.algo), state.norm))
            t0 = time.perf_counter()
            state, m = trainer.generation(state, trainer.gen_key(g))
            m = {k: float(v) for k, v in jax.device_get(m).items()}
            dt = time.perf_counter() - t0
            g += 1
            steps = int(m.pop("gen_steps")) * cfg.population
            env_steps += steps
            wall += dt
            row = {"generation": g, **m, "env_steps": env_steps, "gen_steps": steps,
                   "wall_time": wall, "gen_time": dt, "env_steps_per_s": steps / dt}
            log.write(json.dumps(row) + "\n")
            log.flush()
            all_rows.append(row)
            new_rows.append(row)
            ev = row["eval/fitness"]
            if math.isfinite(ev) and (best is None or ev > best):
                best = ev
                _save_best(trainer, out / "best", *snap, g, ev, brax_version)
            if g % cfg.checkpoint_every == 0 or g == cfg.generations:
                checkpoint(g)
                plot_curve(all_rows, out / "learning_curve.png", title)
            if progress_fn is not None:
                progress_fn(row)
    return new_rows


def _probs(algo_state):
    return algo_state.rho if isinstance(algo_state, ec.ECState) else None


def _save_best(trainer: Trainer, path: Path, params, probs, norm: NormState, g: int,
               eval_fitness: float, brax_version: str | None) -> None:
    cfg = trainer.cfg
    manifest = base_manifest(trainer.spec, "artifact", env=cfg.env, brax_version=brax_version,
                             backend=cfg.backend, seed=cfg.seed, generation=g, algo=cfg.algo,
                             model=cfg.model, eval_fitness=eval_fitness, config=cfg.to_dict())
    if cfg.algo == "ec":
        # the masks and normalizer that scored eval_fitness: ρ and statistics before the update
        masks = {k: np.asarray(v) for k, v in params.items()}
        probs = {k: np.asarray(v) for k, v in probs.items()}
        save_artifact(path, Artifact(spec=trainer.spec, masks=masks, probs=probs,
                                     normalizer=_normalizer(norm), manifest=manifest))
    else:  # ES weights are not masks: a weights file and a manifest
        path.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        w = params
        n = _normalizer(norm)
        np.savez(buf, **{k: np.asarray(v) for k, v in w.items()}, norm_mean=n.mean, norm_var=n.var,
                 norm_count=np.float64(n.count))
        atomic_write_bytes(path / "weights.npz", buf.getvalue())
        atomic_write_text(path / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
