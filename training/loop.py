"""The one training loop: everything impure of a run, for every trainer. Imports no JAX.

:func:`train` owns the metrics log (``metrics.jsonl``, one schema), the learning curve, the best
artifact (one writer, :func:`save_best`), checkpoints (atomic, every ``checkpoint_every``
generations, one format), resume, and a ``progress_fn`` called after each generation. Generation g
(the row with ``"generation": g``, counting from 1) runs with the trainer's ``gen_key(g - 1)``
(``fold_in(PRNGKey(seed), g)``), so a resumed run repeats the uninterrupted one exactly.

The pure part of a run is a *trainer*, duck-typed; two exist: :class:`evoconn.training.trainer.Trainer`
(JAX: the Brax runner in one jitted generation, or jitted ask/tell around a Core runner) and
:class:`evoconn.host.train_core.NumpyTrainer` (the numpy EC around a Core runner: what runs on a
board without JAX). Both give the same states, metrics, checkpoints and artifacts for a Core
runner. A trainer has::

    cfg, spec                       # the TrainConfig and the Spec
    runner                          # .name (the manifest's scored_on), .env_steps(gen_steps)
    strategy                        # .member_kind, .distribution(algo_state) (evoconn.algorithm)
    init() -> state                 # state.algo (the strategy's), state.norm (mean, var, count)
    gen_key(g) -> key               # the key of the generation of index g (0-based)
    generation(state, key) -> (state, metrics)   # metrics: name -> scalar or vector
    eval_params(algo_state) -> dict # one deterministic member
    fetch(tree) -> tree             # host numpy (every shard gathered): metrics, snapshots
    state_leaves(state) -> list     # the state as host arrays, in the checkpoint's order
    restore(template, arrays) -> state           # a checkpoint's arrays placed like template
    describe() -> list[str]         # the devices it runs on (config.json's jax_devices)
    writer -> bool                  # whether this process writes the files (one process: True)

and :func:`train` sets ``trainer.final_state``. Multi-process training (``jax.distributed``) lives
in the JAX trainer's :class:`~evoconn.training.devices.Placement`: ``fetch`` and ``state_leaves``
gather across processes (collectives, so every process runs this loop through the same calls),
``restore`` places onto the global mesh, and only the process with ``writer`` writes
``config.json``, metrics, checkpoints, the curve and ``best/``.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from evoconn.artifact import (
    Artifact,
    Normalizer,
    atomic_write_bytes,
    atomic_write_text,
    base_manifest,
    save_artifact,
)
from evoconn.training.config import CHECKPOINT, TrainConfig
from evoconn.training.errors import CheckpointError, RunError

__all__ = ["CHECKPOINT", "Scores", "baselines", "check_fresh", "check_out_dir", "check_resume", "plot_curve",
           "plot_diagnostics", "read_checkpoint", "save_best", "save_checkpoint", "saved_config",
           "summary_metrics", "train"]

#: the normalizer's epsilon (evoconn.training.rollout.NORM_EPS, which imports JAX)
NORM_EPS = 1e-8


class Scores(NamedTuple):
    """A scored population, what a runner's ``score`` returns: ``fitness`` (population,), the final
    observations (for the normalizer), episodes per member, ``steps`` (the ``gen_steps`` metric),
    the mean firing rate per member (or None) and runner-specific metrics (already named, e.g.
    ``train/horizon``)."""

    fitness: Any
    final_obs: Any
    episodes: Any
    steps: Any
    rate: Any = None
    extra: dict[str, Any] = {}


def save_checkpoint(path: Path, leaves: list[Any], meta: dict[str, Any]) -> None:
    """The one checkpoint format: ``meta`` (JSON) and the state's leaves ``leaf0..`` in one .npz."""
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **{f"leaf{i}": np.asarray(x)
                                                      for i, x in enumerate(leaves)})
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: Path, template: list[Any]) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The leaves and meta saved at ``path``; they must have ``template``'s shapes and dtypes."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            loaded = [z[f"leaf{i}"] for i in range(len(template))]
    except (OSError, KeyError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None
    for i, (a, b) in enumerate(zip(template, loaded, strict=True)):
        dtype = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype  # a: maybe a global array
        if np.shape(a) != b.shape or dtype != b.dtype:
            raise CheckpointError(f"{path}: leaf {i} is {b.shape} {b.dtype}, this config needs "
                                  f"{np.shape(a)} {dtype}")
    return loaded, meta


def summary_metrics(fit: Any, fit_eval: Any, episodes: Any, rate: Any = None) -> dict[str, Any]:
    """A generation's fitness summary on the host (numpy float32), as every trainer with a Core
    runner reports it (the Brax runner's jitted generation computes the same names in XLA)."""
    fit = np.asarray(fit, np.float32)
    return {
        "train/fitness_mean": np.mean(fit),
        "train/fitness_max": np.max(fit),
        "train/fitness_min": np.min(fit),
        "train/episodes_mean": np.mean(np.asarray(episodes).astype(np.float32)),
        **({"train/firing_rate": np.mean(rate)} if rate is not None else {}),
        **({"eval/fitness": np.mean(np.asarray(fit_eval, np.float32))} if len(fit_eval) else {}),
    }


def normalizer(norm: Any) -> Normalizer:
    """A host normalizer state (mean, var, count) as the artifact's :class:`Normalizer`."""
    return Normalizer(np.asarray(norm.mean, np.float64), np.asarray(norm.var, np.float64),
                      float(norm.count), NORM_EPS)


def _brax_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("brax")
    except metadata.PackageNotFoundError:
        return None


def baselines(cfg: TrainConfig, rows: list[dict]) -> dict[str, float]:
    """The baselines a learning curve is read against, measured in the run's own first generation.

    EC starts at ρ = 0.5 everywhere, so its deterministic members (ρ > 0.5) have every connection
    off and their action is zero: generation 1's eval return is the zero-action return on the
    same reset states. Its training members are masks drawn at p = 0.5: generation 1's train mean
    is the return of random masks. ES has no such point (its mean starts at random weights).
    """
    if cfg.algo != "ec" or not rows or rows[0]["generation"] != 1:
        return {}
    out = {"random masks (p = 0.5, generation 1's train mean)": rows[0]["train/fitness_mean"]}
    if "eval/fitness" in rows[0]:
        out["zero action (generation 1's eval: ρ = 0.5, every mask off)"] = rows[0]["eval/fitness"]
    return out


def _pyplot():
    """matplotlib's pyplot on the Agg backend, or None where matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_curve(rows: list[dict], path: Path, title: str,
               lines: dict[str, float] | None = None) -> bool:
    """The learning curve as a PNG, with ``lines`` (label -> return, e.g. :func:`baselines`) drawn
    across it; False (and nothing written) where matplotlib is not installed (a board image need
    not have it)."""
    plt = _pyplot()
    if plt is None:
        return False

    x = [r["env_steps"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [r["train/fitness_mean"] for r in rows], label="train mean")
    ax.plot(x, [r["train/fitness_max"] for r in rows], label="train max", alpha=0.6)
    if rows and "eval/fitness" in rows[0]:
        ax.plot(x, [r["eval/fitness"] for r in rows], label="eval (deterministic)")
    for (label, y), style in zip((lines or {}).items(), (":", "--"), strict=False):
        ax.axhline(y, color="k", ls=style, lw=1, label=label)
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save_png(fig, path)
    return True


#: what :func:`plot_diagnostics` draws, metric -> label: the distribution (top panel, all in
#: [0, 1]) and the network's activity (bottom panel)
DIAGNOSTICS = {
    "train/mean_rho": "mean ρ",
    "train/density": "deployed density (fraction of ρ > 0.5)",
    "train/entropy": "Bernoulli entropy (bits per connection)",
}
FIRING = "train/firing_rate"
DIAGNOSTICS_PNG = "diagnostics.png"


def plot_diagnostics(rows: list[dict], path: Path, title: str) -> bool:
    """What the paper reports beside the return, as a PNG: mean ρ, the deployed density and the
    mean Bernoulli entropy of the connection probabilities (top), and the firing rate in spikes
    per ms per neuron (bottom: ``train/firing_rate``, the mean over members of the mean rate trace
    r at the end of each rollout; r is the trace of s / dt with dt = 0.5 ms, so its unit is spikes
    per ms). False, and nothing written, where no row carries any of them (ES has no ρ; a Core
    runner reports no rate) or matplotlib is not installed."""
    have = [k for k in (*DIAGNOSTICS, FIRING) if any(k in r for r in rows)]
    if not have:
        return False
    plt = _pyplot()
    if plt is None:
        return False

    def series(key):
        pts = [(r["env_steps"], r[key]) for r in rows if key in r]
        return [x for x, _ in pts], [y for _, y in pts]

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    for key, label in DIAGNOSTICS.items():
        if key in have:
            top.plot(*series(key), label=label)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("connection probabilities")
    top.set_title(title)
    if any(k in have for k in DIAGNOSTICS):
        top.legend(fontsize=8)
    top.grid(alpha=0.3)
    if FIRING in have:
        bottom.plot(*series(FIRING), color="C3", label="firing rate")
        bottom.set_ylim(bottom=0)
    bottom.set_ylabel("spikes / ms / neuron")
    bottom.set_xlabel("env steps")
    bottom.grid(alpha=0.3)
    _save_png(fig, path)
    return True


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
          progress_fn: Callable[[dict], None] | None = None, trainer: Any = None,
          stop_after: int | None = None) -> list[dict]:
    """Run (or resume) a training run into ``out``; returns the metrics rows of this call.

    Every runner goes through this loop. ``out=None`` keeps everything in memory (no metrics
    file, checkpoint or artifact). ``stop_after`` ends the call after that many generations
    (tests, benchmarks); the run can be resumed later. A run without evaluation copies has no
    ``eval/fitness``: its ``best/`` artifact is the final state's deterministic member.
    ``trainer`` is the pure part (see the module doc); by default the JAX trainer of ``cfg``.
    """
    out = Path(out) if out is not None else None
    if trainer is None:
        from evoconn.training.trainer import Trainer

        trainer = Trainer(cfg)
    spec, runner, strategy = trainer.spec, trainer.runner, trainer.strategy
    # several processes (jax.distributed): every one computes the same state and takes part in
    # every gather (trainer.fetch / state_leaves are collectives there); one writes the files
    writes = out is not None and trainer.writer
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
             "jax_devices": trainer.describe()}, indent=1) + "\n")
    metrics_path = out / "metrics.jsonl" if out is not None else None

    state = trainer.init()
    meta = {"generation": 0, "env_steps": 0, "wall_time": 0.0, "best_eval": None}
    rows: list[dict] = []
    if resume and out is not None:
        # a run killed before its first checkpoint resumes from generation 0: its start is a pure
        # function of the config, so nothing of it is lost
        if (out / CHECKPOINT).exists():
            loaded, meta = read_checkpoint(out / CHECKPOINT, trainer.state_leaves(state))
            state = trainer.restore(state, loaded)
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
    env_steps, wall, best_eval = int(meta["env_steps"]), float(meta["wall_time"]), meta["best_eval"]
    g = int(meta["generation"])
    title = f"{cfg.label} on {cfg.env} (brax {brax_version}, {cfg.physics}), pop " \
            f"{cfg.population}, seed {cfg.seed}" + ("" if runner.name == "brax" else
                                                    f", scored on {runner.name}")

    def snapshot(s: Any):
        """What the evaluation copies of the next generation run (the state is donated)."""
        return trainer.fetch((trainer.eval_params(s.algo), strategy.distribution(s.algo), s.norm))

    def write_best(snap, gen: int, ev: float | None) -> None:
        save_best(trainer, out / "best", *snap, gen, ev, brax_version)

    plotted = [True]

    def plot() -> None:
        plot_diagnostics(all_rows, out / DIAGNOSTICS_PNG, title)
        if not plot_curve(all_rows, out / "learning_curve.png", title,
                          baselines(cfg, all_rows)) and plotted[0]:
            print("evoconn: matplotlib is not installed: no learning_curve.png (metrics.jsonl has "
                  "the curve)", file=sys.stderr, flush=True)
        plotted[0] = False

    log = metrics_path.open("a") if writes else None
    try:
        while g < cfg.generations:
            if stop_after is not None and len(new_rows) >= stop_after:
                break
            snap = snapshot(state) if cfg.n_eval else None
            t0 = time.perf_counter()
            state, m = trainer.generation(state, trainer.gen_key(g))
            m = {k: _py(v) for k, v in trainer.fetch(m).items()}
            dt = time.perf_counter() - t0
            g += 1
            steps = runner.env_steps(m.pop("gen_steps"))
            env_steps += steps
            wall += dt
            row = {"generation": g, **m, "env_steps": env_steps, "gen_steps": steps,
                   "wall_time": wall, "gen_time": dt, "env_steps_per_s": steps / dt}
            all_rows.append(row)
            new_rows.append(row)
            if out is not None:  # every process: the gathers below are collectives
                if log is not None:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                ev = row.get("eval/fitness")
                if snap is not None and math.isfinite(ev) and (best_eval is None or ev > best_eval):
                    best_eval = ev
                    if writes:
                        write_best(snap, g, ev)
                if not cfg.n_eval and g == cfg.generations:
                    final = snapshot(state)
                    if writes:
                        write_best(final, g, None)
                if g % cfg.checkpoint_every == 0 or g == cfg.generations:
                    leaves = trainer.state_leaves(state)
                    if writes:
                        save_checkpoint(out / CHECKPOINT, leaves,
                                        {"generation": g, "env_steps": env_steps, "wall_time": wall,
                                         "best_eval": best_eval})
                        plot()
            if progress_fn is not None:
                progress_fn(row)
    finally:
        if log is not None:
            log.close()
    trainer.final_state = state
    return new_rows


def save_best(trainer: Any, path: Path, params, probs, norm: Any, g: int,
              eval_fitness: float | None, brax_version: str | None) -> None:
    """The one artifact writer: the deterministic member, its normalizer and a manifest."""
    cfg = trainer.cfg
    manifest = base_manifest(trainer.spec, "artifact", env=cfg.env, brax_version=brax_version,
                             physics=cfg.physics, seed=cfg.seed, generation=g, algo=cfg.algo,
                             model=cfg.model, eval_fitness=eval_fitness,
                             scored_on=trainer.runner.name, config=cfg.to_dict())
    norm_ = normalizer(norm)
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
