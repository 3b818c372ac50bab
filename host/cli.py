"""``evoconn rollout`` and ``evoconn flash``: the board-side commands (numpy-only at import).

``rollout`` runs a trained artifact on a backend (``jax``: the JAX integer model; ``fake``: the
register interface on the in-memory core; ``pynq``: the board; ``rtl``: the same register interface
on the exported Verilog under cocotb, the whole rollout inside the simulator's process;
``--replay FILE``: a recorded bus session) and prints the returns, optionally with a FINN-style
throughput report. ``flash`` loads an overlay and checks the core in it. ``train-core`` trains EC with every member
scored through a backend's Core (:mod:`evoconn.host.train_core`; needs JAX).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

from evoconn.host.core import CoreError, CoreStats, RegisterCore

from evoconn.artifact import ArtifactError, load_artifact, load_manifest, manifest_physics
from evoconn.spec import CycleModel, Spec

BACKENDS = ("fake", "jax", "pynq", "rtl", "replay")
#: The board's PL clock that the projections and the report assume when none is read.
BOARD_MHZ = 100.0


def register(sub, name: str) -> None:
    if name == "rollout":
        p = sub.add_parser(name, help="run a trained artifact's network on a backend and print returns",
                           description=__doc__.splitlines()[0])
        p.add_argument("--artifact", required=True, help="artifact directory (manifest.json, masks.npz)")
        p.add_argument("--backend", choices=BACKENDS, default="fake",
                       help="fake: in-memory core (numpy); jax: JAX model; pynq: the board; rtl: the "
                            "Verilog under cocotb (evoconn[sim], iverilog); replay: a --record file "
                            "(default %(default)s)")
        p.add_argument("--episodes", type=int, default=10, help="episodes (default %(default)s)")
        p.add_argument("--population", type=int, default=0, metavar="N",
                       help="instead of episodes of the best masks: score N members sampled from the "
                            "artifact's probabilities under the paper's fitness rules")
        p.add_argument("--env", help="environment (default: the artifact's); Gymnasium id, or a Brax "
                                     "name / brax:NAME where JAX is installed")
        p.add_argument("--physics", help="Brax physics backend (default: the artifact's)")
        p.add_argument("--brax-backend", dest="physics", help=argparse.SUPPRESS)  # the old spelling
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-steps", type=int, default=1000, help="episode cap (default %(default)s)")
        p.add_argument("--report", action="store_true", help="print a throughput report")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--record", metavar="FILE", help="record every bus transaction (JSON lines)")
        p.add_argument("--replay", metavar="FILE", help="with --backend replay: the recording to play")
        p.add_argument("--verify", action="store_true", help="read masks back after loading")
        p.add_argument("--timeout", type=float, default=1.0,
                       help="seconds to wait for DONE (rtl: at least 60, simulation is slow)")
        p.add_argument("--lanes", type=int, default=16, help="fake/rtl core's lanes (default %(default)s)")
        p.add_argument("--overlay", help="pynq: the .bit (with its .hwh beside it)")
        p.add_argument("--ip", help="pynq: the core's name in the overlay (default: the one evoconn IP)")
        p.set_defaults(func=run_rollout)
    elif name == "train-core":
        p = sub.add_parser(name, help="EC with every member scored through a Core (jax, fake, rtl, pynq)",
                           description="EC (evoconn.training.ec) on a Gymnasium task with the fitness of "
                                       "every member from score_population on a backend's Core; every "
                                       "backend gives the same fitness values. Needs JAX.")
        p.add_argument("--env", default="Pendulum-v1", help="Gymnasium id (default %(default)s)")
        p.add_argument("--backend", choices=("jax", "fake", "rtl", "pynq"), default="jax",
                       help="where members are scored (default %(default)s)")
        p.add_argument("--neurons", type=int, default=16, help="N (default %(default)s)")
        p.add_argument("--substeps", type=int, help="K (default: the spec's)")
        p.add_argument("--population", type=int, default=6, help="members per generation (default %(default)s)")
        p.add_argument("--generations", type=int, default=3, help="(default %(default)s)")
        p.add_argument("--max-steps", type=int, default=200, help="episode cap (default %(default)s)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--lr", type=float, default=0.15, help="EC learning rate (default %(default)s)")
        p.add_argument("--out", help="run folder: metrics.jsonl and best/ (an artifact for rollout)")
        p.add_argument("--json", action="store_true", help="print the per-generation rows as JSON")
        p.add_argument("--record", metavar="FILE", help="fake/rtl/pynq: record every bus transaction")
        p.add_argument("--verify", action="store_true", help="read masks back after loading")
        p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for DONE")
        p.add_argument("--lanes", type=int, default=16, help="fake/rtl core's lanes (default %(default)s)")
        p.add_argument("--overlay", help="pynq: the .bit (with its .hwh beside it)")
        p.add_argument("--ip", help="pynq: the core's name in the overlay")
        p.set_defaults(func=run_train_core, replay=None)
    elif name == "flash":
        p = sub.add_parser(name, help="load a PYNQ overlay and check the evoconn core in it")
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


def check_overlay_files(path: str) -> tuple[Path, Path]:
    """The .bit and its .hwh, or a CLI error naming the missing file."""
    bit = Path(path)
    if not bit.is_file():
        raise _cli_error(f"no overlay at {bit}: build one with the Vivado flow, or copy the .bit "
                         "and its .hwh to the board")
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise _cli_error(f"{bit} has no {hwh.name} beside it: pynq reads the address map from the "
                         "Vivado hardware handoff file; copy it from the build folder")
    return bit, hwh


def open_board(path: str, ip: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Load the overlay (this programs the PL) and return ``(overlay, MMIOBus, ip description)``."""
    from evoconn.host.bus import MMIOBus, import_pynq

    bit, _ = check_overlay_files(path)
    pynq = import_pynq()
    try:
        overlay = pynq.Overlay(str(bit))
    except Exception as e:  # pynq raises RuntimeError('No Devices Found') etc. off a board
        raise _cli_error(f"pynq could not load {bit}: {type(e).__name__}: {e}") from None
    ips = dict(overlay.ip_dict)
    if ip is None:
        cands = [k for k in ips if "evoconn" in k.lower()]
        if len(cands) != 1:
            raise _cli_error(f"cannot tell which IP is the evoconn core among {sorted(ips)}; pass --ip")
        ip = cands[0]
    if ip not in ips:
        raise _cli_error(f"no IP {ip!r} in the overlay; it has {sorted(ips)}")
    desc = ips[ip]
    mmio = pynq.MMIO(desc["phys_addr"], desc["addr_range"])
    return overlay, MMIOBus(mmio=mmio), {"name": ip, **{k: desc[k] for k in ("phys_addr", "addr_range")}}


def board_clock_mhz() -> float | None:
    try:
        import pynq

        return float(pynq.Clocks.fclk0_mhz)
    except Exception:  # off the board, or another pynq
        return None


def bitstream_manifest(bit: Path) -> dict[str, Any] | None:
    for cand in (bit.with_suffix(".json"), bit.parent / "manifest.json"):
        if cand.is_file():
            return load_manifest(cand)
    return None


def run_flash(args: argparse.Namespace) -> int:
    try:
        bit, _ = check_overlay_files(args.overlay)
        overlay, bus, desc = open_board(args.overlay, args.ip)
        expect = load_artifact(args.artifact).spec if args.artifact else None
        core = RegisterCore(bus, expect)
        built = bitstream_manifest(bit)
        if built is not None and built.get("spec_hash", "")[:8] != f"{core.spec.hash32:08x}":
            raise _cli_error(f"the core's SPEC_HASH 0x{core.spec.hash32:08x} differs from the "
                             f"bitstream manifest's {str(built.get('spec_hash'))[:16]}: stale .bit?")
    except (ArtifactError, CoreError) as e:
        raise _cli_error(str(e)) from None
    s = core.spec
    clock = board_clock_mhz()
    print(f"overlay {bit} loaded; core {desc['name']} at 0x{desc['phys_addr']:x} "
          f"({desc['addr_range']} bytes)")
    print(f"spec hash 0x{s.hash32:08x}: N={s.n_neurons} (exc {s.n_exc}), d={s.obs_dim}, a={s.act_dim}, "
          f"K={s.substeps}, lanes {core.lanes}")
    print(f"PL clock {clock:.1f} MHz" if clock else "PL clock unknown")
    return 0


# =====================================================================================
# Rollout
# =====================================================================================


def make_core(args: argparse.Namespace, spec: Spec):
    """The Core for ``--backend``, and the bus under it (None for jax)."""
    from evoconn.host.bus import FakeBus, RecordingBus, ReplayBus, default_lanes

    b = args.backend
    if args.replay and b != "replay":
        raise _cli_error("--replay needs --backend replay")
    if b == "jax":
        if args.record:
            raise _cli_error("--record records bus traffic; the jax backend has no bus")
        from evoconn.host.jax_core import JaxCore

        return JaxCore(spec), None
    if b == "rtl":  # pragma: no cover - run_rollout sends the whole job into the simulator
        raise _cli_error("the rtl backend runs the whole rollout in the simulator: use run_rollout")
    if b == "fake":
        bus: Any = FakeBus(spec, lanes=default_lanes(spec, args.lanes))
    elif b == "replay":
        if not args.replay:
            raise _cli_error("--backend replay needs --replay FILE (made with --record)")
        try:
            bus = ReplayBus(args.replay)
        except (OSError, ValueError) as e:
            raise _cli_error(f"cannot read recording {args.replay}: {e}") from None
    else:  # pynq
        if not args.overlay:
            raise _cli_error("--backend pynq needs --overlay PATH.bit")
        _, bus, _ = open_board(args.overlay, args.ip)
    if args.record:
        bus = RecordingBus(bus, args.record, spec_hash=spec.hash, backend=b)
    try:
        return RegisterCore(bus, spec, verify=args.verify, timeout=args.timeout), bus
    except BaseException:
        if hasattr(bus, "close"):
            bus.close()
        raise


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
    try:
        if args.backend == "rtl":
            result, timer, stats, runtime, bus = run_rtl(args, spec, job)
        else:
            make_env(env_name, spec, brax_backend)  # refuse a mismatched env before touching the core
            core, bus = make_core(args, spec)
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
    report = throughput_report(spec, args.backend, timer, stats, runtime, bus)
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


@dataclasses.dataclass
class RolloutJob:
    """What ``evoconn rollout`` runs on a core: episodes of the best masks, or a sampled population.

    Picklable, so the rtl backend runs it inside the simulator's process (environment included);
    calling it on a core returns ``(result dict, RolloutTimer, runtime seconds)``.
    """

    env: str
    brax_backend: str
    masks: dict[str, Any]
    probs: dict[str, Any] | None
    normalizer: Any
    episodes: int
    population: int
    seed: int
    max_steps: int

    def __call__(self, core: Any) -> tuple[dict[str, Any], Any, float]:
        from evoconn.host.rollout import RolloutTimer, make_env, run_episodes, score_population

        env = make_env(self.env, core.spec, self.brax_backend)
        timer = RolloutTimer()
        t0 = time.perf_counter()
        if self.population:
            pop = score_population(core, env, self.probs, self.normalizer, seed=self.seed,
                                   n=self.population, max_steps=self.max_steps, timer=timer)
            result: dict[str, Any] = {"fitness": pop.fitness.tolist(), "episodes": pop.episodes.tolist(),
                                      "horizon": pop.horizon, "reruns": pop.reruns}
        else:
            ep = run_episodes(core, env, self.masks, self.normalizer, self.episodes, seed=self.seed,
                              max_steps=self.max_steps, timer=timer)
            result = {"returns": ep.returns, "lengths": ep.lengths}
        return result, timer, time.perf_counter() - t0


def run_job(core: Any, job: RolloutJob) -> tuple[dict[str, Any], Any, float, CoreStats]:
    """``job(core)`` and the core's stats (the function the rtl backend sends to the simulator)."""
    result, timer, runtime = job(core)
    return result, timer, runtime, core.stats


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
    from evoconn.host.bus import default_lanes
    from evoconn.host.rtl import RtlSession

    if args.replay:
        raise _cli_error("--replay needs --backend replay")
    session = RtlSession(spec, default_lanes(spec, args.lanes), record=args.record, verify=args.verify,
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
    lanes: int = 16
    overlay: str | None = None
    ip: str | None = None
    replay: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CoreOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def run_train_core(args: argparse.Namespace) -> int:
    """``evoconn train-core``: EC with every member scored on the backend's Core."""
    kw: dict[str, Any] = {k: getattr(args, k) for k in ("neurons", "substeps", "population", "generations",
                                                         "max_steps", "seed", "lr")}
    return train_on_core(args.env, CoreOptions.from_args(args), out=args.out, as_json=args.json, **kw)


def train_on_core(env: str, opts: CoreOptions, *, out: str | None, as_json: bool, **config: Any) -> int:
    """The trainer's loop (:func:`evoconn.training.trainer.train`) with the Core runner on ``opts``'s
    backend (:mod:`evoconn.host.train_core`); ``config`` holds :func:`core_config`'s settings."""
    from evoconn.host.bus import default_lanes
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

                with RtlSession(spec, default_lanes(spec, opts.lanes), record=opts.record, verify=opts.verify,
                                timeout=max(opts.timeout, 60.0)) as session:
                    result = run_core_training(cfg, session, spec, out, progress)
            else:
                core, bus = make_core(opts, spec)
                result = run_core_training(cfg, LocalRunner(core), spec, out, progress)
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


def throughput_report(spec: Spec, backend: str, timer: Any, stats: CoreStats, runtime: float,
                      bus: Any) -> dict[str, Any]:
    """FINN driver_base-style figures: runtime, rates, bytes, clock, seconds per stage."""
    steps = max(timer.env_steps, 1)
    sec = dict(stats.seconds)
    core_split = sum(sec.values())
    if core_split == 0.0:  # a backend without a bus: the core's time is all compute
        sec["compute_wait"] = timer.core
    stages = {
        "mask upload": sec["mask_upload"],
        "observation write": sec["obs_write"],
        "compute wait": sec["compute_wait"],
        "output read": sec["output_read"],
        "state reset/read": sec["state_io"],
        "environment step": timer.env_step,
        "float boundary": timer.boundary,
    }
    stages["python overhead"] = max(0.0, runtime - sum(stages.values()))
    lanes = getattr(bus, "lanes", 16) if bus is not None else 16
    try:
        cm = CycleModel(spec, lanes=lanes)
        cycles = cm.typical_env_step_cycles()
    except ValueError:
        cycles = None
    clock = board_clock_mhz() if backend == "pynq" else None
    return {
        "runtime_s": runtime,
        "env_steps": timer.env_steps,
        "episodes": timer.episodes,
        "members": timer.members,
        "env_steps_per_s": timer.env_steps / runtime if runtime else None,
        "member_evaluations_per_s": timer.members / runtime if runtime else None,
        "bytes_to_core": stats.bytes_to_core,
        "bytes_from_core": stats.bytes_from_core,
        "bytes_to_core_per_s": stats.bytes_to_core / runtime if runtime else None,
        "bytes_from_core_per_s": stats.bytes_from_core / runtime if runtime else None,
        "bus_bytes_per_env_step": (stats.bytes_to_core + stats.bytes_from_core) / steps,
        "bus_transactions_per_env_step": stats.transactions / steps,
        "clock_mhz": clock,
        "model_cycles_per_env_step": cycles,
        "model_core_us_per_env_step_at_100mhz": cycles / BOARD_MHZ if cycles else None,
        "lanes": lanes,
        "stages_s": stages,
    }


def format_report(r: dict[str, Any]) -> str:
    def rate(x: float | None, unit: str) -> str:
        return "n/a" if x is None else f"{x:,.1f} {unit}"

    lines = [
        "throughput report",
        f"  runtime                : {r['runtime_s']:.3f} s",
        f"  env steps              : {r['env_steps']} ({rate(r['env_steps_per_s'], 'steps/s')})",
        f"  member evaluations     : {r['members']} ({rate(r['member_evaluations_per_s'], '/s')})",
        f"  bytes to core          : {r['bytes_to_core']:,} ({rate(r['bytes_to_core_per_s'], 'B/s')})",
        f"  bytes from core        : {r['bytes_from_core']:,} ({rate(r['bytes_from_core_per_s'], 'B/s')})",
        f"  bus per env step       : {r['bus_bytes_per_env_step']:.1f} B in "
        f"{r['bus_transactions_per_env_step']:.2f} transactions",
        "  clock                  : " + (f"{r['clock_mhz']:.1f} MHz" if r["clock_mhz"] else
                                          "n/a (not on a board)"),
    ]
    if r["model_cycles_per_env_step"]:
        lines.append(f"  cycle model            : {r['model_cycles_per_env_step']:.0f} cycles/env step at "
                     f"2% firing, lanes {r['lanes']} = {r['model_core_us_per_env_step_at_100mhz']:.1f} us "
                     "at 100 MHz")
    lines.append("  time per stage:")
    total = r["runtime_s"] or 1.0
    for k, v in r["stages_s"].items():
        lines.append(f"    {k:22s}: {v:9.4f} s  {100 * v / total:5.1f} %")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from evoconn.cli import main

    sys.exit(main(["rollout", *sys.argv[1:]]))
