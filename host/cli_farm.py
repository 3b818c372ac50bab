"""``evoconn farm``: a board farm on Dask distributed (:mod:`evoconn.host.farm`).

``farm worker`` makes this machine (a board) a worker of a farm's scheduler; ``farm score`` scores
a population sampled from an artifact's probabilities on the farm (the fitness
``evoconn rollout --population N`` gives on one core, bit for bit) with progress across workers
and a per-board throughput report; ``farm train`` trains EC with every member scored on the farm
(the Core-scored loop, :mod:`evoconn.host.train_core`: the JAX EC where JAX is installed, the
numpy EC, with the same results, where it is not).
The scheduler is Dask's own: ``dask scheduler --host ADDR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evoconn.artifact import ArtifactError, load_artifact
from evoconn.cli import summary
from evoconn.host.cli import LANES_HELP
from evoconn.host.core import CoreError, MissingDependency
from evoconn.options import check_output, count, integer, real


def register(sub, name: str) -> None:
    p = sub.add_parser(name, help=summary(name),
                       description="A board farm on Dask distributed: every board a worker (farm worker), "
                                   "population scoring (farm score) and EC training (farm train) spread over "
                                   "the boards. The scheduler is Dask's own: dask scheduler --host ADDR.")
    fsub = p.add_subparsers(dest="farm_command", metavar="SUBCOMMAND", required=True)

    w = fsub.add_parser("worker", help="serve this board (or a fake/rtl core) to a farm's scheduler")
    w.add_argument("--scheduler", required=True, help="the scheduler's address, e.g. tcp://10.0.0.5:8786")
    w.add_argument("--backend", choices=("pynq", "fake", "rtl"), default="pynq",
                   help="pynq: this board's overlay; fake: the in-memory core; rtl: the Verilog under "
                        "cocotb (default %(default)s)")
    w.add_argument("--overlay", help="pynq: the .bit (with its .hwh beside it)")
    w.add_argument("--ip", help="pynq: the core's name in the overlay")
    w.add_argument("--name", help="the board's name in reports (default: the worker's address)")
    w.add_argument("--host", help="address to listen on (default: the one that reaches the scheduler)")
    w.add_argument("--lanes", type=count(), default=None, help=LANES_HELP)
    w.add_argument("--timeout", type=real(0, lo_open=True), default=1.0, help="seconds to wait for DONE")
    w.add_argument("--verify", action="store_true", help="read masks back after loading")
    w.add_argument("--death-timeout", type=real(0, lo_open=True), default=60.0,
                   help="stop after this many seconds without a scheduler (default %(default)s)")
    w.set_defaults(func=run_worker)

    s = fsub.add_parser("score", help="score a population from an artifact's probabilities on the farm")
    s.add_argument("--scheduler", required=True, help="the scheduler's address")
    s.add_argument("--artifact", required=True, help="artifact directory with probs.npz")
    s.add_argument("--population", type=count(), required=True, metavar="N", help="members to sample and score")
    s.add_argument("--env", help="environment (default: the artifact's); Gymnasium id")
    s.add_argument("--seed", type=integer(0), default=0)
    s.add_argument("--max-steps", type=count(), default=1000, help="episode cap (default %(default)s)")
    s.add_argument("--seeded", action="store_true",
                   help="send each member as a seed (sampled on the board) instead of its masks; "
                        "members differ from rollout --population's")
    _farm_options(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run_score)

    t = fsub.add_parser("train", help="EC with every member scored on the farm")
    t.add_argument("--scheduler", required=True, help="the scheduler's address")
    t.add_argument("--env", default="Pendulum-v1", help="Gymnasium id (default %(default)s)")
    t.add_argument("--neurons", type=count(), default=16, help="N (default %(default)s)")
    t.add_argument("--substeps", type=count(), help="K (default: the spec's)")
    t.add_argument("--population", type=count(2), default=6, help="members per generation (default %(default)s)")
    t.add_argument("--generations", type=count(), default=3, help="(default %(default)s)")
    t.add_argument("--max-steps", type=count(), default=200, help="episode cap (default %(default)s)")
    t.add_argument("--seed", type=integer(0), default=0)
    t.add_argument("--lr", type=real(0, lo_open=True), default=0.15, help="EC learning rate (default %(default)s)")
    t.add_argument("--out", help="run folder: metrics.jsonl and best/ (an artifact for rollout)")
    _farm_options(t)
    t.add_argument("--json", action="store_true", help="print the per-generation rows as JSON")
    t.set_defaults(func=run_train, preflight=lambda a: check_output(a.out, "--out", kind="dir"))


def _farm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=real(0, lo_open=True), default=60.0,
                   help="seconds to wait for the scheduler and for a board (default %(default)s)")
    p.add_argument("--retries", type=integer(0), default=1,
                   help="retries of a member task that raised (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _cli_error(msg: str):
    from evoconn.cli import CLIError

    return CLIError(msg)


def run_worker(args: argparse.Namespace) -> int:
    from evoconn.host import farm

    def started(worker: Any) -> None:
        print(f"evoconn farm worker {worker.name} ({args.backend}) at {worker.address}, "
              f"scheduler {args.scheduler}, resource {farm.FPGA}=1", flush=True)

    try:
        farm.serve_worker(args.scheduler, args.backend, name=args.name, host=args.host,
                          death_timeout=args.death_timeout, started=started, lanes=args.lanes,
                          overlay=args.overlay, ip=args.ip, timeout=args.timeout, verify=args.verify)
    except (CoreError, ValueError, MissingDependency) as e:
        raise _cli_error(str(e)) from None
    except (OSError, TimeoutError) as e:
        raise _cli_error(f"cannot join the scheduler at {args.scheduler}: {e or type(e).__name__}") from None
    return 0


def _progress(quiet: bool):
    def show(ev: dict[str, Any]) -> None:
        step = max(1, ev["total"] // 10)  # about ten lines a round, and the last
        if quiet or (ev["done"] % step and ev["done"] != ev["total"]):
            return
        per = " ".join(f"{k}:{v}" for k, v in sorted(ev["boards"].items()))
        what = "first episodes" if ev["phase"] == 1 else "reruns to the horizon"
        print(f"  {what}: {ev['done']}/{ev['total']}  horizon {ev['horizon']}  [{per}]", file=sys.stderr,
              flush=True)

    return show


def _farm(args: argparse.Namespace, spec: Any):
    from evoconn.host import farm

    return farm.Farm(args.scheduler, retries=args.retries, wait_s=args.wait, progress=_progress(args.quiet),
                     spec=spec, timeout=args.wait)


def run_score(args: argparse.Namespace) -> int:
    import numpy as np

    from evoconn.host import farm as farm_mod
    from evoconn.host.rollout import make_env

    try:
        art = load_artifact(args.artifact)
    except ArtifactError as e:
        raise _cli_error(str(e)) from None
    if art.probs is None:
        raise _cli_error(f"{args.artifact} has no probs.npz to sample a population from")
    spec = art.spec
    env_name = args.env or art.manifest.get("env")
    if not env_name:
        raise _cli_error(f"{args.artifact} does not name its env; pass --env")
    try:
        make_env(env_name, spec)  # refuse a mismatched env before the farm is asked
        members: Any = art.probs
        if args.seeded:
            seeds = np.random.SeedSequence(args.seed).generate_state(args.population)
            members = farm_mod.SeededMembers(art.probs, [int(s) for s in seeds])
        with _farm(args, spec) as f:
            res = f.score_population(env_name, members, art.normalizer, seed=args.seed, n=args.population,
                                     max_steps=args.max_steps)
    except (CoreError, ValueError, MissingDependency, OSError, TimeoutError) as e:
        raise _cli_error(str(e) or type(e).__name__) from None
    if args.json:
        boards = {k: {"backend": b.backend, "tasks": b.tasks, "env_steps": b.env_steps, "busy_s": b.busy_s,
                      "steps_per_s": b.steps_per_s}
                  for k, b in res.boards.items()}
        print(json.dumps({"env": env_name, "spec_hash": spec.hash, "fitness": res.fitness.tolist(),
                          "episodes": res.episodes.tolist(), "horizon": res.horizon, "reruns": res.reruns,
                          "scored_by": res.scored_by, "wall_s": res.wall_s, "boards": boards}, indent=1))
        return 0
    fit = res.fitness
    print(f"{len(fit)} members on {env_name} (farm, {len(res.boards)} boards), horizon {res.horizon} steps: "
          f"fitness mean {fit.mean():.3f}, best {fit.max():.3f}")
    for i, x in enumerate(fit):
        print(f"  member {i:4d}: {x:10.3f}  ({res.episodes[i]} episodes, {res.scored_by[i]})")
    print(farm_mod.format_board_report(res))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from evoconn.host import farm as farm_mod
    from evoconn.host.rollout import make_env
    from evoconn.spec import Spec
    from evoconn.training.errors import TrainError

    try:
        from evoconn.host.train_core import train_core

        env = make_env(args.env)
        spec = Spec(n_neurons=args.neurons, obs_dim=env.obs_dim, act_dim=env.act_dim,
                    **({"substeps": args.substeps} if args.substeps else {}))
        def progress(row: dict[str, Any]) -> None:
            if not args.json:
                print(f"generation {row['generation']:3d}: fitness mean {row['train/fitness_mean']:10.3f} "
                      f"max {row['train/fitness_max']:10.3f}  horizon {int(row['train/horizon'])}  "
                      f"({row['score_s']:.2f} s scoring)", flush=True)

        with _farm(args, spec) as f:
            result = train_core(farm_mod.FarmRunner(f), args.env, spec, generations=args.generations,
                                population=args.population, seed=args.seed, max_steps=args.max_steps,
                                lr=args.lr, progress=progress, backend="farm", out=args.out)
    except TrainError as e:  # the training library's refusals (a run folder in use, ...)
        raise _cli_error(str(e)) from None
    except (CoreError, ValueError, MissingDependency, OSError, TimeoutError) as e:
        raise _cli_error(str(e) or type(e).__name__) from None
    if args.out and not args.json:  # the trainer's one loop wrote the run folder
        print(f"wrote {args.out}/metrics.jsonl and the artifact {args.out}/best")
    if args.json:
        print(json.dumps({"backend": "farm", "env": args.env, "spec_hash": spec.hash, "rows": result.rows},
                         indent=1))
    return 0
