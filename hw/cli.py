"""``evoconn hw``: hardware commands (Verilog export)."""

from __future__ import annotations

import argparse

from evoconn.cli_spec import add_spec_args, spec_from_args


def register(sub, name: str) -> None:
    p = sub.add_parser(name, help="the Amaranth core: Verilog export, synthesis reports, bitstreams")
    hw_sub = p.add_subparsers(dest="hw_command", metavar="HW_COMMAND", required=True)
    v = hw_sub.add_parser("verilog", help="export the core as one flat Verilog module plus a manifest")
    add_spec_args(v)
    v.add_argument("--lanes", type=int, default=16, help="neuron updates per clock (default %(default)s)")
    v.add_argument("--out", default="build/core.v", help="the .v file; the manifest goes beside it as .json")
    v.add_argument("--fault", default=None, help=argparse.SUPPRESS)  # test only
    v.set_defaults(func=run_verilog)
    from .flows_cli import register as register_flow  # synthesis, bitstream, timing flows (hw/flows_cli.py)

    for flow in ("synth", "bitstream", "timing"):
        register_flow(hw_sub, flow)


def run_verilog(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError

    from .export import export_verilog
    from .toolchain import ToolError

    spec = spec_from_args(args)
    try:
        man = export_verilog(spec, args.lanes, args.out, fault=args.fault)
    except (TypeError, ValueError, ToolError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote {args.out} (module {man['module']}, lanes {man['lanes']}, spec {man['spec_hash'][:12]}) "
          f"and its manifest")
    return 0
