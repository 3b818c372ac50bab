"""``evoconn spec``: print the spec, its hash, the register map and the cycle model."""

from __future__ import annotations

import argparse
import json

from evoconn.spec import DEFAULT_LANES, CycleModel, Spec


def add_spec_args(p: argparse.ArgumentParser) -> None:
    """The size options every command that builds a spec shares."""
    d = Spec()
    p.add_argument("--neurons", type=int, default=d.n_neurons, help="N (default %(default)s)")
    p.add_argument("--obs-dim", type=int, default=d.obs_dim, help="d (default %(default)s)")
    p.add_argument("--act-dim", type=int, default=d.act_dim, help="a (default %(default)s)")
    p.add_argument("--exc", type=int, default=None, help="excitatory neurons (default N/2)")
    p.add_argument("--substeps", type=int, default=d.substeps, help="K (default %(default)s)")


def spec_from_args(args: argparse.Namespace) -> Spec:
    from evoconn.cli import CLIError
    from evoconn.spec import SpecError

    try:
        return Spec(n_neurons=args.neurons, obs_dim=args.obs_dim, act_dim=args.act_dim,
                    n_exc=args.exc, substeps=args.substeps)
    except SpecError as e:
        raise CLIError(str(e)) from None


def register(sub, name: str) -> None:
    if name == "spec":
        p = sub.add_parser(name, help="show the integer spec, its hash, register map and cycle model")
        add_spec_args(p)
        p.add_argument("--lanes", type=int, default=DEFAULT_LANES,
                       help="neuron updates per clock (default %(default)s)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=run_spec)
    elif name == "bench":
        p = sub.add_parser(name, help="run a benchmark script from bench/ (results in bench/results/)")
        p.add_argument("which", choices=["model"], help="model: integer vs float policy steps/s")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=run_bench)


def run_spec(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError
    from evoconn.spec import SpecError

    spec = spec_from_args(args)
    try:
        cm = CycleModel(spec, lanes=args.lanes)
    except SpecError as e:
        raise CLIError(str(e)) from None
    rmap = spec.register_map(args.lanes)
    if args.json:
        print(json.dumps({"spec": spec.to_dict(), "hash": spec.hash, "registers": rmap.table(),
                          "typical_env_step_cycles": cm.typical_env_step_cycles()}, indent=1))
        return 0
    print(f"spec hash {spec.hash}  (SPEC_HASH register 0x{spec.hash32:08x})")
    for k, v in spec.to_dict().items():
        print(f"  {k:16s} {v}")
    print(f"mask bits per member: {spec.mask_bits}")
    print(f"register map ({rmap.size} bytes):")
    for r in rmap.table():
        print(f"  0x{r['offset']:05x}  {r['name']:10s} {r['access']:3s} {r['doc']}")
    c = cm.typical_env_step_cycles()
    print(f"cycle model, lanes={args.lanes}, 2% firing: {c} cycles per env step "
          f"= {c / 100:.1f} us at 100 MHz")
    return 0


def bench_dir():
    """The checkout's ``bench/`` folder, beside the package (an installed wheel ships none)."""
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "bench"


def run_bench(args: argparse.Namespace) -> int:
    import runpy
    import sys

    from evoconn.cli import CLIError

    script = bench_dir() / f"bench_{args.which}.py"
    if not script.is_file():
        raise CLIError(f"the benchmarks are scripts of a source checkout and there is no {script} "
                       "(an installed wheel ships no bench/): run it from a clone of the repository")
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0
