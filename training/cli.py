"""``evoconn train``: EC (or the ES-RSNN baseline) on a Brax task, with logs, curve, checkpoints.

    evoconn train --env hopper --population 256 --generations 100 --out runs/hopper-ec
    evoconn train --config paper-hopper --out runs/paper-hopper
    evoconn train --resume runs/hopper-ec            # continue a killed run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evoconn.options import check_output, count, integer, real

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: option -> TrainConfig field
FIELDS = {
    "env": "env", "algo": "algo", "model": "model", "physics": "physics",
    "population": "population", "eval_copies": "eval_copies", "generations": "generations",
    "episode_len": "episode_len", "neurons": "neurons", "seed": "seed", "lr": "lr",
    "clip_eps": "clip_eps", "sigma": "sigma", "weight_decay": "weight_decay",
    "checkpoint_every": "checkpoint_every",
}


def register(sub, name: str) -> None:
    from evoconn.cli import summary
    from evoconn.training.config import ENVS, PHYSICS  # no JAX: `evoconn train --help` works on a board

    p = sub.add_parser(name, help=summary(name),
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="a preset (" + ", ".join(sorted(c.stem for c in
                   CONFIG_DIR.glob("*.json"))) + ") or a JSON file; options given override it")
    p.add_argument("--env", choices=ENVS, metavar="ENV", help=f"task: {', '.join(ENVS)}")
    p.add_argument("--algo", choices=["ec", "es"], help="ec (default) or es (ES-RSNN baseline)")
    p.add_argument("--model", choices=["int", "float"],
                   help="score EC on the integer model (default, what the core runs) or the float one")
    p.add_argument("--physics", choices=PHYSICS, help="Brax physics backend (default positional)")
    p.add_argument("--backend-physics", dest="physics", choices=PHYSICS,  # the old spelling
                   help=argparse.SUPPRESS)
    p.add_argument("--population", type=count(2), help="members per generation incl. evaluation copies")
    p.add_argument("--eval-copies", type=integer(0), help="deterministic evaluation members "
                   "(default population/80, the paper's 128 of 10240)")
    p.add_argument("--generations", type=count())
    p.add_argument("--episode-len", type=count(), help="episode cap (default 1000)")
    p.add_argument("--neurons", type=count(), help="N (default 256)")
    p.add_argument("--seed", type=integer(0))
    p.add_argument("--lr", type=real(0, lo_open=True), help="EC and ES learning rate (default 0.15)")
    p.add_argument("--clip-eps", type=real(0, 0.5, hi_open=True), help="EC probability clip (default 1e-3)")
    p.add_argument("--sigma", type=real(0, lo_open=True), help="ES noise std (default 0.3)")
    p.add_argument("--weight-decay", type=real(0), help="ES AdamW weight decay (default 0.1)")
    p.add_argument("--checkpoint-every", type=count(), help="generations between checkpoints (10)")
    p.add_argument("--out", type=Path, help="run folder (metrics.jsonl, best/, checkpoint)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in this folder")
    p.add_argument("--stop-after", type=count(), help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one line per 10%%")
    p.add_argument("--backend", choices=["jax", "fake", "rtl", "pynq"],
                   help="score every member through a Core on this backend (evoconn.host.train_core: "
                        "the JAX model, the in-memory core, the RTL simulation); default: the Brax trainer")
    p.add_argument("--gym-env", metavar="ID", help="with --backend: a Gymnasium task (e.g. Pendulum-v1)")
    p.set_defaults(func=run_train, preflight=_check_train)


def check_population_memory(trainer, available: int | None = None) -> None:
    """Refuse a population whose members' masks alone exceed the memory available.

    A lower bound, so it never refuses a run that fits: every member's masks live on the device
    during a generation (bits for the integer model, float32 for ES's weights), and the physics
    state, observations and temporaries come on top. Sizes past it are caught when XLA runs out
    (``run_train``)."""
    from evoconn.options import check_memory

    cfg, spec = trainer.cfg, trainer.spec
    per_member = spec.mask_bits // 8 if cfg.algo == "ec" else spec.mask_bits * 4
    check_memory(cfg.population * per_member, f"population {cfg.population} at N={cfg.neurons}",
                 available=available)


def _check_train(args: argparse.Namespace) -> None:
    check_output(args.out, "--out", kind="dir")


def _preset(name: str) -> dict[str, Any]:
    from evoconn.cli import CLIError

    path = Path(name) if name.endswith(".json") else CONFIG_DIR / f"{name}.json"
    if not path.exists():
        known = ", ".join(sorted(c.stem for c in CONFIG_DIR.glob("*.json")))
        raise CLIError(f"unknown config {name!r} (presets: {known}; or a path to a .json file)")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CLIError(f"{path}: not valid JSON ({e})") from None
    return {k: v for k, v in d.items() if not k.startswith("_")}


def config_from_args(args: argparse.Namespace):
    """(TrainConfig, out folder, resume?) from the options, a preset, or the run being resumed."""
    from evoconn.cli import CLIError
    from evoconn.training.trainer import TrainConfig, TrainError, saved_config

    given = {f: getattr(args, o) for o, f in FIELDS.items() if getattr(args, o) is not None}
    base: dict[str, Any] = {}
    if args.resume is not None:
        if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
            raise CLIError("--out and --resume name different folders; give only --resume")
        cfg_path = Path(args.resume) / "config.json"
        if not cfg_path.exists():
            raise CLIError(f"cannot resume {args.resume}: no config.json there")
        try:
            base = saved_config(Path(args.resume))
        except TrainError as e:
            raise CLIError(str(e)) from None
        out = Path(args.resume)
    else:
        if args.out is None:
            raise CLIError("--out is required (or --resume RUN)")
        out = Path(args.out)
    if args.config:
        base = {**base, **TrainConfig.upgrade(_preset(args.config))}
    try:
        cfg = TrainConfig.from_dict({**base, **given}) if base else TrainConfig(**given)
        if "population" not in base and "population" not in given:
            cfg = TrainConfig.from_dict({**cfg.to_dict(), "population": 256})  # CPU-sized default
        if "generations" not in base and "generations" not in given:
            cfg = TrainConfig.from_dict({**cfg.to_dict(), "generations": 100})
        cfg.validate()
    except (TrainError, TypeError) as e:
        raise CLIError(str(e)) from None
    return cfg, out, args.resume is not None


def run_train(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError
    from evoconn.training.errors import TrainError

    try:
        return _run_train(args)
    except TrainError as e:  # the library's refusals: one line, exit 2
        raise CLIError(str(e)) from None
    except ImportError as e:  # the Brax trainer on a machine without JAX (a board)
        if (e.name or "").split(".")[0] not in ("jax", "jaxlib", "flax", "brax", "optax", "mujoco"):
            raise
        raise CLIError(f"evoconn train needs {e.name} (pip install 'evoconn[train]'); without JAX, "
                       "evoconn train-core trains EC with a Core scoring every member") from None


def _run_train(args: argparse.Namespace) -> int:
    if args.backend or args.gym_env:  # members scored through a Core: the Core runner
        from evoconn.host.cli import run_train_backend

        args.backend = args.backend or "jax"
        return run_train_backend(args)
    cfg, out, resume = config_from_args(args)
    from tqdm import tqdm

    from evoconn.training.trainer import (
        CHECKPOINT,
        Trainer,
        check_fresh,
        check_out_dir,
        check_resume,
        train,
    )

    # everything that can be refused is refused before the (slow) compile, and before the run
    # folder is made: the trainer (its spec and sizes) first, then the memory the population needs
    if not resume:
        check_fresh(out)
    trainer = Trainer(cfg)
    check_population_memory(trainer)
    if resume:
        check_resume(out, cfg, trainer.spec.hash)
    else:
        check_out_dir(out)
    start = 0
    if resume and (out / CHECKPOINT).exists():
        import numpy as np

        with np.load(out / CHECKPOINT) as z:
            start = json.loads(str(z["meta"]))["generation"]
    print(f"evoconn train: {cfg.label.lower()} on {cfg.env} (physics {cfg.physics}), population "
          f"{cfg.population} ({cfg.n_eval} eval copies), N={cfg.neurons}, {cfg.generations} "
          f"generations -> {out}" + (f" (resuming at generation {start})" if resume else ""),
          flush=True)
    bar = tqdm(total=cfg.generations, initial=start, unit="gen", disable=args.no_progress,
               dynamic_ncols=True)
    best = [float("-inf")]

    def progress(row: dict) -> None:
        best[0] = max(best[0], row["train/fitness_max"])
        bar.update(1)
        bar.set_postfix_str(f"best {best[0]:.1f} mean {row['train/fitness_mean']:.1f} "
                            f"eval {row['eval/fitness']:.1f} {row['env_steps_per_s']:.0f} steps/s",
                            refresh=False)
        if args.no_progress and (row["generation"] % max(1, cfg.generations // 10) == 0):
            print(f"gen {row['generation']}: mean {row['train/fitness_mean']:.1f} "
                  f"eval {row['eval/fitness']:.1f} env_steps {row['env_steps']} "
                  f"wall {row['wall_time']:.0f}s", flush=True)

    from evoconn.cli import CLIError

    created = [] if resume else [out / "config.json", out / "metrics.jsonl"]
    try:
        train(cfg, out, resume=resume, progress_fn=progress, trainer=trainer,
              stop_after=args.stop_after)
    except Exception as e:  # XLA's out-of-memory is an XlaRuntimeError, which JAX does not export
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        bar.close()
        if best[0] == float("-inf"):  # a fresh run that never finished a generation: leave nothing
            for f in created:
                f.unlink(missing_ok=True)
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise CLIError(f"population {cfg.population} at N={cfg.neurons} needs more memory than this "
                       "machine has (XLA: RESOURCE_EXHAUSTED); use a smaller --population") from None
    finally:
        bar.close()
    print(f"evoconn train: done; metrics in {out / 'metrics.jsonl'}, best artifact in "
          f"{out / 'best'}, curve {out / 'learning_curve.png'}")
    return 0
