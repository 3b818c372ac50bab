"""``evoconn train``: EC (or the ES-RSNN baseline) on a Brax task, with logs, curve, checkpoints.

    evoconn train --env hopper --population 256 --generations 100 --out runs/hopper-ec
    evoconn train --config paper-hopper --out runs/paper-hopper
    evoconn train --resume runs/hopper-ec            # continue a killed run

One process per host (jax.distributed), the population sharded over every process's devices,
process 0 the only writer; start the same command on every host with its own --process-id:

    evoconn train --config paper-hopper --out /shared/runs/hopper \
        --coordinator host0:7777 --num-processes 4 --process-id I
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from evoconn.options import OptionError, check_output, count, integer, real

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

    # no JAX: `evoconn train --help` works on a board
    from evoconn.training.config import ENVS, HEARTBEAT_TIMEOUT_S, PHYSICS

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
    m = p.add_argument_group("several processes (jax.distributed; one per host)")
    m.add_argument("--coordinator", type=address, metavar="HOST:PORT",
                   help="process 0's host and a free port, the same for every process")
    m.add_argument("--num-processes", type=count(), metavar="P", help="processes in the run")
    m.add_argument("--process-id", type=integer(0), metavar="I",
                   help="this process's index, 0 to P-1; process 0 writes the run's files")
    m.add_argument("--distributed", action="store_true",
                   help="join a multi-process run whose settings JAX detects from the cluster "
                        "(SLURM, Open MPI, Kubernetes...); options given override them")
    m.add_argument("--heartbeat-timeout", type=count(), metavar="S",
                   help="seconds of silence after which a process counts as dead and the run "
                        f"stops (default {HEARTBEAT_TIMEOUT_S})")
    p.set_defaults(func=run_train, preflight=_check_train)


def address(text: str) -> str:
    """``HOST:PORT`` (a name, an IPv4 address or a bracketed IPv6 one; port 1-65535)."""
    host, sep, port = text.rpartition(":")
    ok = bool(sep and host and port.isdigit() and 1 <= int(port) <= 65535)
    if not ok:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT with a port in [1, 65535], got {text!r}")
    return text


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
    launch = {"--coordinator": args.coordinator, "--num-processes": args.num_processes,
              "--process-id": args.process_id}
    given = [k for k, v in launch.items() if v is not None]
    if given and not args.distributed and len(given) < 3:
        missing = ", ".join(k for k in launch if k not in given)
        raise OptionError(f"{', '.join(given)} needs {missing} as well (or --distributed to let "
                          "JAX detect the rest)")
    if args.process_id is not None and args.num_processes is not None \
            and args.process_id >= args.num_processes:
        raise OptionError(f"--process-id must be below --num-processes ({args.num_processes}), "
                          f"got {args.process_id}")
    if (given or args.distributed) and (args.backend or args.gym_env):
        raise OptionError("--backend and --gym-env score members through one Core in one "
                          "process; they do not run across processes")
    if args.heartbeat_timeout is not None and not (given or args.distributed):
        raise OptionError("--heartbeat-timeout applies to a multi-process run (--coordinator ... "
                          "or --distributed)")


def _multiprocess(args: argparse.Namespace) -> bool:
    return bool(args.distributed or args.coordinator is not None)


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

    if _multiprocess(args):
        return _run_processes(args)
    try:
        return _run_train(args)
    except TrainError as e:  # the library's refusals: one line, exit 2
        raise CLIError(str(e)) from None
    except ImportError as e:  # the Brax trainer on a machine without JAX (a board)
        if (e.name or "").split(".")[0] not in ("jax", "jaxlib", "flax", "brax", "optax", "mujoco"):
            raise
        raise CLIError(f"evoconn train needs {e.name} (pip install 'evoconn[train]'); without JAX, "
                       "evoconn train-core trains EC with a Core scoring every member") from None


def _run_processes(args: argparse.Namespace) -> int:
    """One process of a multi-process run: join it, train, and never leave a peer hanging.

    JAX's exit waits at a barrier for every process; after an error in one process, or a peer
    that died, that barrier fails and XLA aborts the process with a page of C++ log. So every
    failure here prints its one line and ends the process at once (``os._exit``); a run that
    finishes exits normally, all processes together."""
    import jax

    from evoconn.cli import CLIError
    from evoconn.training.config import HEARTBEAT_TIMEOUT_S
    from evoconn.training.devices import start_processes
    from evoconn.training.errors import TrainError

    who = "evoconn train"
    try:
        config_from_args(args)  # refuse a bad config before joining (and before the others wait)
        start_processes(args.coordinator, args.num_processes, args.process_id,
                        auto=args.distributed,
                        heartbeat_timeout_s=args.heartbeat_timeout or HEARTBEAT_TIMEOUT_S)
    except CLIError:
        raise
    except (ValueError, RuntimeError) as e:  # no cluster detected, coordinator unreachable...
        raise CLIError(f"cannot join the multi-process run: {_first_line(e)}") from None
    who = f"evoconn train (process {jax.process_index()} of {jax.process_count()})"
    code = 0
    try:
        code = _run_train(args)
    except (CLIError, OptionError, TrainError) as e:
        print(f"{who}: error: {e}", file=sys.stderr)
        code = 2
    except Exception as e:
        if not _lost_peer(e):
            import traceback

            traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        out = args.resume or args.out
        print(f"{who}: error: the run stopped, most likely because another process died "
              f"({_first_line(e)}); start every process again with --resume {out}",
              file=sys.stderr)
        code = 1
    except BaseException:  # KeyboardInterrupt, SystemExit: end without the exit barrier too
        code = 130
    if code:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


#: how XLA's status codes start an error's text (a failed collective, the coordination service)
_XLA_STATUS = ("UNKNOWN:", "UNAVAILABLE:", "INTERNAL:", "DEADLINE_EXCEEDED:", "ABORTED:",
               "CANCELLED:", "FAILED_PRECONDITION:")


def _lost_peer(e: BaseException) -> bool:
    """Whether ``e`` is XLA's runtime failing (a collective whose peer is gone...), as opposed to
    a bug in Python: JAX raises the former as JaxRuntimeError, or as ValueError when it comes out
    of a compiled call's dispatch (seen: ``UNKNOWN: Gloo AllGather failed: ... Connection reset``)."""
    import jax

    text = str(e).lstrip()
    return isinstance(e, jax.errors.JaxRuntimeError) or (
        isinstance(e, ValueError | RuntimeError) and text.startswith(_XLA_STATUS))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def _run_train(args: argparse.Namespace) -> int:
    if args.backend or args.gym_env:  # members scored through a Core: the Core runner
        from evoconn.host.cli import run_train_backend

        args.backend = args.backend or "jax"
        return run_train_backend(args)
    cfg, out, resume = config_from_args(args)
    import jax
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
    # folder is made: the trainer (its spec and sizes) first, then the memory the population needs.
    # With several processes only process 0 checks and makes the folder it alone writes to
    writer = jax.process_index() == 0
    if not resume and writer:
        check_fresh(out)
    trainer = Trainer(cfg)
    check_population_memory(trainer)
    if resume:
        check_resume(out, cfg, trainer.spec.hash)
    elif writer:
        check_out_dir(out)
    start = 0
    if resume and (out / CHECKPOINT).exists():
        import numpy as np

        with np.load(out / CHECKPOINT) as z:
            start = json.loads(str(z["meta"]))["generation"]
    print(f"evoconn train: {cfg.label.lower()} on {cfg.env} (physics {cfg.physics}), population "
          f"{cfg.population} ({cfg.n_eval} eval copies), N={cfg.neurons}, {cfg.generations} "
          f"generations -> {out}" + (f" (resuming at generation {start})" if resume else "")
          + _processes_note(trainer), flush=True)
    quiet = args.no_progress or not writer  # one progress report per run, process 0's
    bar = tqdm(total=cfg.generations, initial=start, unit="gen", disable=quiet,
               dynamic_ncols=True)
    best = [float("-inf")]

    def progress(row: dict) -> None:
        best[0] = max(best[0], row["train/fitness_max"])
        bar.update(1)
        bar.set_postfix_str(f"best {best[0]:.1f} mean {row['train/fitness_mean']:.1f} "
                            f"eval {row['eval/fitness']:.1f} {row['env_steps_per_s']:.0f} steps/s",
                            refresh=False)
        if writer and args.no_progress and (row["generation"] % max(1, cfg.generations // 10) == 0):
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
    if writer:
        print(f"evoconn train: done; metrics in {out / 'metrics.jsonl'}, best artifact in "
              f"{out / 'best'}, curve {out / 'learning_curve.png'}")
    return 0


def _processes_note(trainer) -> str:
    import jax

    place = trainer.placement
    if jax.process_count() == 1:
        return ""
    return (f"; process {jax.process_index()} of {jax.process_count()}, population sharded over "
            f"{len(place)} devices" + ("" if place.writer else " (process 0 writes the files)"))
