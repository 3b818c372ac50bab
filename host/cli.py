"""``evoconn rollout`` and ``evoconn flash``: the board-side commands (numpy-only at import).

``rollout`` runs a trained artifact on a backend (``jax``: the JAX integer model; ``fake``: the
register interface on the in-memory core; ``pynq``: the board; ``rtl``: the same register interface
on the exported Verilog under cocotb, the whole rollout inside the simulator's process;
``--replay FILE``: a recorded bus session) and prints the returns, optionally with a FINN-style
throughput report. ``flash`` loads an overlay and checks the core in it. ``train-core`` trains EC with every member
scored through a backend's Core (:mod:`evoconn.host.train_core`; with JAX's EC where JAX is installed, with the
numpy EC elsewhere, e.g. on the board: the same run either way).

This module only parses options, calls the host modules that own the work
(:mod:`~evoconn.host.backends`, :mod:`~evoconn.host.overlay`, :mod:`~evoconn.host.rollout`,
:mod:`~evoconn.host.report`) and turns their errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
from pathlib import Path
from typing import Any

from evoconn.artifact import ArtifactError, load_artifact, manifest_physics
from evoconn.cli import summary
from evoconn.cli_spec import check_lanes
from evoconn.host.backends import BACKENDS, core_lanes, open_backend
from evoconn.host.core import CoreError, CoreStats
from evoconn.host.report import format_report, throughput_report
from evoconn.host.rollout import RolloutJob, run_job
from evoconn.options import OptionError, check_input_file, check_output, count, integer, real
from evoconn.spec import DEFAULT_LANES, Spec


def register(sub, name: str) -> None:
    if name == "rollout":
        p = sub.add_parser(name, help=summary(name), description=__doc__.splitlines()[0])
        p.add_argument("--artifact", required=True, help="artifact directory (manifest.json, masks.npz)")
        p.add_argument("--backend", choices=BACKENDS, default="fake",
                       help="fake: in-memory core (numpy); jax: JAX model; pynq: the board; rtl: the "
                            "Verilog under cocotb (evoconn[sim], iverilog); replay: a --record file "
                            "(default %(default)s)")
        p.add_argument("--episodes", type=count(), default=10, help="episodes (default %(default)s)")
        p.add_argument("--population", type=integer(0), default=0, metavar="N",
                       help="instead of episodes of the best masks: score N members sampled from the "
                            "artifact's probabilities under the paper's fitness rules")
        p.add_argument("--env", help="environment (default: the artifact's); Gymnasium id, or a Brax "
                                     "name / brax:NAME where JAX is installed")
        p.add_argument("--physics", help="Brax physics backend (default: the artifact's)")
        p.add_argument("--brax-backend", dest="physics", help=argparse.SUPPRESS)  # the old spelling
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-steps", type=count(), default=1000, help="episode cap (default %(default)s)")
        p.add_argument("--report", action="store_true", help="print a throughput report")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--record", metavar="FILE", help="record every bus transaction (JSON lines)")
        p.add_argument("--replay", metavar="FILE", help="with --backend replay: the recording to play")
        p.add_argument("--verify", action="store_true", help="read masks back after loading")
        p.add_argument("--timeout", type=real(0, lo_open=True), default=1.0,
                       help="seconds to wait for DONE (rtl: at least 60, simulation is slow)")
        p.add_argument("--lanes", type=count(), default=None, help=LANES_HELP)
        p.add_argument("--overlay", help="pynq: the .bit (with its .hwh beside it)")
        p.add_argument("--ip", help="pynq: the core's name in the overlay (default: the one evoconn IP)")
        p.set_defaults(func=run_rollout, preflight=_check_rollout)
    elif name == "train-core":
        d = TRAIN_CORE_DEFAULTS
        p = sub.add_parser(name, help=summary(name),
                           description="EC on a Gymnasium task with the fitness of every member from "
                                       "score_population on a backend's Core; every backend gives the same "
                                       "fitness values. Runs without JAX (the board): the numpy EC then gives "
                                       "the same run as JAX's (--trainer).")
        p.add_argument("--env", help=f"Gymnasium id (default {d['env']})")
        p.add_argument("--backend", choices=("jax", "fake", "rtl", "pynq"),
                       help="where members are scored (default jax; with --resume: the run's)")
        p.add_argument("--neurons", type=count(), help=f"N (default {d['neurons']})")
        p.add_argument("--substeps", type=count(), help="K (default: the spec's)")
        p.add_argument("--population", type=count(2), help=f"members per generation (default {d['population']})")
        p.add_argument("--generations", type=count(), help=f"(default {d['generations']})")
        p.add_argument("--max-steps", type=count(), help=f"episode cap (default {d['max_steps']})")
        p.add_argument("--seed", type=integer(0), help=f"(default {d['seed']})")
        p.add_argument("--lr", type=real(0, lo_open=True), help=f"EC learning rate (default {d['lr']})")
        p.add_argument("--checkpoint-every", type=count(),
                       help="generations between checkpoints (default: one at the end)")
        p.add_argument("--out", help="run folder: metrics.jsonl, checkpoint and best/ (an artifact for rollout)")
        p.add_argument("--resume", metavar="RUN",
                       help="continue the (killed) run in this folder, as it was configured; "
                            "--generations and --checkpoint-every may change")
        p.add_argument("--trainer", choices=("auto", "jax", "numpy"), default="auto",
                       help="EC's implementation: auto (JAX where installed, else numpy), jax or numpy; "
                            "both give the same run bit for bit")
        p.add_argument("--json", action="store_true", help="print the per-generation rows as JSON")
        p.add_argument("--record", metavar="FILE", help="fake/rtl/pynq: record every bus transaction")
        p.add_argument("--verify", action="store_true", help="read masks back after loading")
        p.add_argument("--timeout", type=real(0, lo_open=True), default=1.0, help="seconds to wait for DONE")
        p.add_argument("--lanes", type=count(), default=None, help=LANES_HELP)
        p.add_argument("--overlay", help="pynq: the .bit (with its .hwh beside it)")
        p.add_argument("--ip", help="pynq: the core's name in the overlay")
        p.set_defaults(func=run_train_core, replay=None, preflight=_check_train_core)
    elif name == "flash":
        p = sub.add_parser(name, help=summary(name))
        p.add_argument("--overlay", required=True, help="the .bit; its .hwh must lie beside it")
        p.add_argument("--ip", help="the core's name in the overlay (default: the one evoconn IP)")
        p.add_argument("--artifact", help="also check that this artifact fits the core")
        p.set_defaults(func=run_flash)


def _cli_error(msg: str):
    from evoconn.cli import CLIError

    return CLIError(msg)


# =====================================================================================
# The board
# =====================================================================================


def run_flash(args: argparse.Namespace) -> int:
    from evoconn.host.overlay import (
        board_clock_mhz,
        check_bitstream_manifest,
        check_overlay_files,
        open_board,
        open_core,
    )

    try:
        check_overlay_files(args.overlay)
        board = open_board(args.overlay, args.ip)
        expect = load_artifact(args.artifact).spec if args.artifact else None
        core = open_core(board, expect)
        check_bitstream_manifest(board.bit, core)
    except (ArtifactError, CoreError) as e:
        raise _cli_error(str(e)) from None
    s = core.spec
    clock = board_clock_mhz()
    print(f"overlay {board.bit} loaded; core {board.name} at 0x{board.phys_addr:x} "
          f"({board.addr_range} bytes)")
    print(f"spec hash 0x{s.hash32:08x}: N={s.n_neurons} (exc {s.n_exc}), d={s.obs_dim}, a={s.act_dim}, "
          f"K={s.substeps}, lanes {core.lanes}")
    print(f"PL clock {clock:.1f} MHz" if clock else "PL clock unknown")
    return 0


# =====================================================================================
# Rollout
# =====================================================================================


LANES_HELP = (f"fake/rtl core's lanes, dividing N (default {DEFAULT_LANES}, or the largest power of two "
              "below it that divides N)")


def _check_rollout(args: argparse.Namespace) -> None:
    check_output(args.record, "--record", kind="file")
    check_input_file(args.replay, "--replay")


def _check_train_core(args: argparse.Namespace) -> None:
    if args.lanes is not None and args.resume is None:
        from evoconn.spec import SpecError

        try:
            spec = Spec(n_neurons=args.neurons or TRAIN_CORE_DEFAULTS["neurons"])
        except SpecError as e:
            raise OptionError(f"--neurons: {e}") from None
        check_lanes(spec, args.lanes)
    check_output(args.out, "--out", kind="dir")
    check_output(args.record, "--record", kind="file")


def make_core(args: argparse.Namespace, spec: Spec):
    """The Core for ``--backend``, and the bus under it (None for jax): :func:`~evoconn.host.backends.open_backend`."""
    return open_backend(args.backend, spec, lanes=core_lanes(spec, args.lanes), replay=args.replay, record=args.record,
                        overlay=args.overlay, ip=args.ip, verify=args.verify, timeout=args.timeout)


def run_rollout(args: argparse.Namespace) -> int:
    from evoconn.host.core import MissingDependency
    from evoconn.host.rollout import make_env

    try:
        art = load_artifact(args.artifact)
    except ArtifactError as e:
        raise _cli_error(str(e)) from None
    spec = art.spec
    env_name = args.env or art.manifest.get("env")
    if not env_name:
        raise _cli_error(f"{args.artifact} does not name its env; pass --env")
    brax_backend = args.physics or manifest_physics(art.manifest) or "positional"
    if args.population and art.probs is None:
        raise _cli_error(f"{args.artifact} has no probs.npz to sample a population from")
    job = RolloutJob(env_name, brax_backend, art.masks, art.probs, art.normalizer, args.episodes,
                     args.population, args.seed, args.max_steps)
    bus = None
    lanes = None
    try:
        if args.backend == "rtl":
            result, timer, stats, runtime, bus = run_rtl(args, spec, job)
        else:
            make_env(env_name, spec, brax_backend)  # refuse a mismatched env before touching the core
            core, bus = make_core(args, spec)
            lanes = getattr(core, "lanes", None)  # what the core's LANES register says
            result, timer, runtime = job(core)
            stats = getattr(core, "stats", CoreStats())
    except (CoreError, ValueError, MissingDependency) as e:
        raise _cli_error(str(e)) from None
    finally:
        if bus is not None and hasattr(bus, "close"):
            bus.close()
    if args.backend == "replay":
        try:
            bus.done()
        except AssertionError as e:
            raise _cli_error(str(e)) from None
    clock = None
    if args.backend == "pynq":
        from evoconn.host.overlay import board_clock_mhz

        clock = board_clock_mhz()
    report = throughput_report(spec, args.backend, timer, stats, runtime, bus, lanes=lanes, clock_mhz=clock)
    out = {"backend": args.backend, "env": env_name, "spec_hash": spec.hash, **result}
    if args.report:
        out["report"] = report
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    if args.population:
        f = result["fitness"]
        print(f"{len(f)} members on {env_name} ({args.backend}), horizon {result['horizon']} steps: "
              f"fitness mean {sum(f) / len(f):.3f}, best {max(f):.3f}")
        for i, x in enumerate(f):
            print(f"  member {i:4d}: {x:10.3f}  ({result['episodes'][i]} episodes)")
    else:
        r = result["returns"]
        print(f"{len(r)} episodes on {env_name} ({args.backend}): mean return {sum(r) / len(r):.3f}")
        for i, (x, n) in enumerate(zip(r, result["lengths"], strict=True)):
            print(f"  episode {i:3d}: return {x:10.3f}  length {n}")
    if args.report:
        print(format_report(report))
    return 0


def run_train_backend(args: argparse.Namespace) -> int:
    """``evoconn train --backend B``: the options of ``evoconn train``, the Core runner of train-core."""
    if args.backend == "pynq":
        raise _cli_error("evoconn train --backend pynq has no board options: use evoconn train-core "
                         "--backend pynq --overlay core.bit (same loop)")
    for opt in ("resume", "config", "eval_copies", "sigma", "weight_decay", "checkpoint_every"):
        if getattr(args, opt, None) is not None:
            raise _cli_error(f"--{opt.replace('_', '-')} belongs to the Brax trainer; --backend scores EC "
                             "through a Core (evoconn.host.train_core)")
    if getattr(args, "algo", None) not in (None, "ec") or getattr(args, "model", None) not in (None, "int"):
        raise _cli_error("--backend trains EC on the integer core (what the Core runs): drop --algo/--model")
    env = args.gym_env or args.env
    if not env:
        raise _cli_error("--backend needs --env (a Brax task) or --gym-env (a Gymnasium id, e.g. Pendulum-v1)")
    given = {"neurons": args.neurons, "population": args.population, "generations": args.generations,
             "seed": args.seed, "max_steps": args.episode_len, "lr": args.lr, "clip_eps": args.clip_eps,
             "physics": getattr(args, "physics", None)}
    defaults = {"neurons": 256, "population": 16, "generations": 10, "max_steps": 1000}
    return train_on_core(env, CoreOptions(backend=args.backend), out=args.out, as_json=False,
                         **{**defaults, **{k: v for k, v in given.items() if v is not None}})


def run_rtl(args: argparse.Namespace, spec: Spec, job: RolloutJob) -> tuple[Any, ...]:
    """The job inside an RTL simulation session: (result, timer, stats, runtime, lanes holder)."""
    from evoconn.host.rtl import RtlSession

    if args.replay:
        raise _cli_error("--replay needs --backend replay")
    session = RtlSession(spec, core_lanes(spec, args.lanes), record=args.record, verify=args.verify,
                         timeout=max(args.timeout, 60.0))
    with session:
        result, timer, runtime, stats = session.call(run_job, job)
    return result, timer, stats, runtime, types.SimpleNamespace(lanes=session.lanes)


@dataclasses.dataclass(frozen=True)
class CoreOptions:
    """How train-core reaches its backend's core (the attributes :func:`make_core` reads)."""

    backend: str
    record: str | None = None
    verify: bool = False
    timeout: float = 1.0
    lanes: int | None = None  # None: the default for N (core_lanes)
    overlay: str | None = None
    ip: str | None = None
    replay: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CoreOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


#: train-core's settings when neither given nor resumed
TRAIN_CORE_DEFAULTS: dict[str, Any] = {"env": "Pendulum-v1", "neurons": 16, "population": 6, "generations": 3,
                                       "max_steps": 200, "seed": 0, "lr": 0.15}
#: train-core's options that --resume takes from the run (what check_resume would refuse to change)
_FIXED_ON_RESUME = ("env", "neurons", "substeps", "population", "max_steps", "seed", "lr")


def _resumed_settings(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """(env, backend, core_config settings) of the run ``--resume`` names."""
    from evoconn.training.config import TrainConfig
    from evoconn.training.errors import TrainError
    from evoconn.training.loop import saved_config

    given = [o for o in _FIXED_ON_RESUME if getattr(args, o) is not None]
    if given:
        raise _cli_error(f"--resume continues {args.resume} as it was configured: drop "
                         + ", ".join("--" + o.replace("_", "-") for o in given))
    if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
        raise _cli_error("--out and --resume name different folders; give only --resume")
    try:
        cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **saved_config(Path(args.resume))})
    except (TrainError, TypeError) as e:
        raise _cli_error(str(e)) from None
    if cfg.runner == "brax":
        raise _cli_error(f"{args.resume} is a Brax trainer's run: resume it with evoconn train --resume")
    settings = {"neurons": cfg.neurons, "substeps": cfg.substeps, "population": cfg.population,
                "generations": args.generations or cfg.generations, "max_steps": cfg.episode_len,
                "seed": cfg.seed, "lr": cfg.lr, "clip_eps": cfg.clip_eps, "physics": cfg.physics,
                "checkpoint_every": args.checkpoint_every or cfg.checkpoint_every}
    return cfg.env, args.backend or cfg.runner, settings


def run_train_core(args: argparse.Namespace) -> int:
    """``evoconn train-core``: EC with every member scored on the backend's Core."""
    if args.resume is not None:
        env, backend, kw = _resumed_settings(args)
        out = args.resume
    else:
        names = ("neurons", "substeps", "population", "generations", "max_steps", "seed", "lr",
                 "checkpoint_every")
        kw = {k: getattr(args, k) for k in names}
        kw = {**{k: v for k, v in TRAIN_CORE_DEFAULTS.items() if k != "env"},
              **{k: v for k, v in kw.items() if v is not None}}
        env, backend, out = args.env or TRAIN_CORE_DEFAULTS["env"], args.backend or "jax", args.out
    opts = dataclasses.replace(CoreOptions.from_args(args), backend=backend)
    return train_on_core(env, opts, out=out, as_json=args.json, resume=args.resume is not None,
                         trainer=args.trainer, **kw)


def train_on_core(env: str, opts: CoreOptions, *, out: str | None, as_json: bool, resume: bool = False,
                  trainer: str = "auto", **config: Any) -> int:
    """The one loop (:func:`evoconn.training.loop.train`) with the Core runner on ``opts``'s
    backend (:mod:`evoconn.host.train_core`); ``config`` holds :func:`core_config`'s settings;
    ``trainer`` picks EC's implementation (JAX or numpy, :func:`~evoconn.host.train_core.trainer_kind`)."""
    from evoconn.host.core import MissingDependency
    from evoconn.host.rollout import make_env
    from evoconn.training.errors import TrainError

    try:
        from evoconn.host.train_core import LocalRunner, core_config, run_core_training

        probe = make_env(env, None, config.get("physics") or "positional")
        substeps = config.get("substeps")
        spec = Spec(n_neurons=config["neurons"], obs_dim=probe.obs_dim, act_dim=probe.act_dim,
                    **({"substeps": substeps} if substeps else {}))
        cfg = core_config(env, opts.backend, **{**config, "substeps": substeps})

        def progress(row: dict[str, Any]) -> None:
            if not as_json:
                print(f"generation {row['generation']:3d}: fitness mean {row['train/fitness_mean']:10.3f} "
                      f"max {row['train/fitness_max']:10.3f}  horizon {int(row['train/horizon'])}  "
                      f"({row['score_s']:.2f} s scoring)", flush=True)

        bus = None
        try:
            if opts.backend == "rtl":
                from evoconn.host.rtl import RtlSession

                with RtlSession(spec, core_lanes(spec, opts.lanes), record=opts.record, verify=opts.verify,
                                timeout=max(opts.timeout, 60.0)) as session:
                    result = run_core_training(cfg, session, spec, out, progress, resume=resume,
                                               trainer=trainer)
            else:
                core, bus = make_core(opts, spec)
                result = run_core_training(cfg, LocalRunner(core), spec, out, progress, resume=resume,
                                           trainer=trainer)
        finally:
            if bus is not None and hasattr(bus, "close"):
                bus.close()
    except (CoreError, ValueError, MissingDependency, TrainError) as e:
        raise _cli_error(str(e)) from None
    if out and not as_json:
        print(f"wrote {out}/metrics.jsonl and the artifact {Path(out) / 'best'}")
    if as_json:
        print(json.dumps({"backend": opts.backend, "env": env, "spec_hash": spec.hash, "rows": result.rows},
                         indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    from evoconn.cli import main

    sys.exit(main(["rollout", *sys.argv[1:]]))
