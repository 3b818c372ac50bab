"""``evoconn spec``: print the spec, its hash, the register map and the cycle model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evoconn.cli import summary
from evoconn.options import OptionError, count, integer
from evoconn.spec import DEFAULT_LANES, CycleModel, Spec


def add_spec_args(p: argparse.ArgumentParser) -> None:
    """The size options every command that builds a spec shares."""
    d = Spec()
    p.add_argument("--neurons", type=count(), default=d.n_neurons, help="N (default %(default)s)")
    p.add_argument("--obs-dim", type=count(), default=d.obs_dim, help="d (default %(default)s)")
    p.add_argument("--act-dim", type=count(), default=d.act_dim, help="a (default %(default)s)")
    p.add_argument("--exc", type=integer(0), default=None, help="excitatory neurons (default N/2)")
    p.add_argument("--substeps", type=count(), default=d.substeps, help="K (default %(default)s)")


def add_lanes_arg(p: argparse.ArgumentParser, default: int | None = DEFAULT_LANES) -> None:
    """``--lanes``: neuron updates per clock; :func:`check_spec_lanes` checks that it divides N."""
    p.add_argument("--lanes", type=count(), default=default,
                   help="neuron updates per clock, dividing N (default %(default)s)")


def check_lanes(spec: Spec, lanes: int, option: str = "--lanes") -> None:
    """``lanes`` as the spec's cycle model takes it (it must divide N), or an :class:`OptionError`
    naming the option, in the spec's own words."""
    from evoconn.spec import SpecError

    try:
        CycleModel(spec, lanes=lanes)
    except SpecError as e:
        raise OptionError(f"{option}: {e}") from None


def check_spec_lanes(args: argparse.Namespace) -> None:
    """Preflight of the commands that take the spec's sizes and ``--lanes`` (sizes from an
    ``--artifact`` are checked when the command reads it)."""
    if getattr(args, "artifact", None) is None:
        check_lanes(spec_from_args(args), args.lanes)  # the spec's own rules first


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
        p = sub.add_parser(name, help=summary(name))
        add_spec_args(p)
        add_lanes_arg(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=run_spec, preflight=check_spec_lanes)
    elif name == "bench":
        p = sub.add_parser(name, help=summary(name))
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
                          "typical_env_step_cycles": cm.typical_env_step_cycles(),
                          "sample_cycles": cm.sample_cycles()}, indent=1))
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
    f = cm.sample_cycles()
    print(f"CONTROL.SAMPLE fill (masks and v0 from rho and a key): {f} cycles = {f / 1e5:.2f} ms at 100 MHz")
    return 0


def bench_script(which: str) -> Path:
    """``bench/bench_<which>.py`` of the source checkout this package runs from, or of the current
    folder; a :class:`CLIError` where neither has it (an installed wheel ships no ``bench/``)."""
    from evoconn.cli import CLIError

    checkout = Path(__file__).resolve().parent.parent  # the repository root, in a checkout
    for root in (checkout, Path.cwd()):
        script = root / "bench" / f"bench_{which}.py"
        if script.is_file():
            return script
    raise CLIError(f"evoconn bench runs bench/bench_{which}.py from a source checkout, and neither "
                   f"{checkout} nor the current folder has one (an installed wheel ships no bench/): "
                   "clone the repository and run it there")


def run_bench(args: argparse.Namespace) -> int:
    import runpy
    import sys

    script = bench_script(args.which)
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0
