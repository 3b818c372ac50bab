"""The ``evoconn`` command line: one console script, a subcommand group per area.

Each area owns its subcommands in a module with ``register(subparsers)``; this hub imports those
modules only when their command runs, so ``evoconn rollout`` works on a board without JAX.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module that defines it, one-line help). The module has ``register(sub, name)``,
#: which adds the subcommand's parser (with ``help=summary(name)``: the line here is the only
#: copy) and sets ``func`` on it.
COMMANDS: dict[str, tuple[str, str]] = {
    "spec": ("evoconn.cli_spec", "show the integer spec, its hash, register map and cycle model"),
    "bench": ("evoconn.cli_spec", "run a benchmark script from bench/ (results in bench/results/)"),
    "hw": ("evoconn.hw.cli", "the Amaranth core: Verilog export, synthesis reports, bitstreams"),
    "rollout": ("evoconn.host.cli", "run a trained network on a backend (fake, jax, rtl, pynq) and print returns"),
    "flash": ("evoconn.host.cli", "load a PYNQ overlay and check the evoconn core in it"),
    "train-core": ("evoconn.host.cli", "EC with every member scored through a Core (jax, fake, rtl, pynq)"),
    "farm": ("evoconn.host.cli_farm", "a board farm on Dask distributed: board workers, population scoring, training"),
    "train": ("evoconn.training.cli", "train EC (or the ES-RSNN baseline) on a Brax task"),
    "sim": ("evoconn.sim.cli", "cocotb proof on the exported Verilog: the RTL equals the JAX model"),
}


def summary(name: str) -> str:
    """The one-line help of the subcommand ``name`` (from :data:`COMMANDS`)."""
    return COMMANDS[name][1]


class CLIError(Exception):
    """A user error: printed as one line, exit code 2, no traceback."""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    from evoconn.options import Parser

    parser = Parser(prog="evoconn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        if wanted is not None and wanted != name:
            sub.add_parser(name, help=help_)
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as e:  # an area whose extra is not installed
            p = sub.add_parser(name, help=f"{help_} [unavailable: {e.name} missing]")
            p.set_defaults(func=_missing(name, e))
            continue
        mod.register(sub, name)
    return parser


def _missing(name: str, err: ImportError):
    def run(args: argparse.Namespace) -> int:
        raise CLIError(
            f"'evoconn {name}' needs the Python module '{err.name}', which is not installed. "
            "See README.md for the extra to install (pip install 'evoconn[train]' etc.)."
        )

    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an option refused in one line (evoconn.options.Parser)
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    from evoconn.options import OptionError, quiet_broken_pipe, run_preflight

    try:
        run_preflight(args)  # every rule the options' types cannot see alone, before any work
        return int(args.func(args) or 0)
    except (CLIError, OptionError) as e:
        print(f"evoconn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (`evoconn spec --json | head`)
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        print(f"evoconn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m evoconn.cli` runs this file as __main__, a second copy of the module: the
    # subcommands raise evoconn.cli.CLIError, so run the imported module's main, which catches it.
    from evoconn.cli import main as _main

    sys.exit(_main())
