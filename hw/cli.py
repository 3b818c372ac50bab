"""``evoconn hw``: hardware commands (Verilog export, IP, the flows, the formal check)."""

from __future__ import annotations

import argparse

from evoconn import ip
from evoconn.cli import summary
from evoconn.cli_spec import add_lanes_arg, add_spec_args, check_spec_lanes, spec_from_args
from evoconn.options import OptionError, check_output, count


def register(sub, name: str) -> None:
    p = sub.add_parser(name, help=summary(name))
    hw_sub = p.add_subparsers(dest="hw_command", metavar="HW_COMMAND", required=True)
    v = hw_sub.add_parser("verilog", help="export the core as one flat Verilog module plus a manifest")
    add_spec_args(v)
    add_lanes_arg(v)
    v.add_argument("--out", default="build/core.v", help="the .v file; the manifest goes beside it as .json")
    v.add_argument("--fault", default=None, help=argparse.SUPPRESS)  # test only
    v.set_defaults(func=run_verilog, preflight=_check_verilog)
    i = hw_sub.add_parser("ip", help="package the core as an IP: IP-XACT component.xml, its HDL and a FuseSoC .core")
    add_spec_args(i)
    add_lanes_arg(i)
    i.add_argument("--artifact", metavar="DIR", help="take every size from this trained artifact's manifest")
    i.add_argument("--out", default="build/ip", help="the IP folder (default %(default)s)")
    i.set_defaults(func=run_ip, preflight=_check_ip)
    f = hw_sub.add_parser("formal", help="prove the AXI4-Lite target with SymbiYosys: k-induction and a cover run")
    f.add_argument("--out", default="build/formal", help="sby's folder: the traces and logs (default %(default)s)")
    f.add_argument("--fault", default=None, metavar="NAME",
                   help="check a deliberately broken target instead (evoconn.hw.axil.FAULTS): the proof must FAIL")
    f.add_argument("--depth", type=count(), default=None, help="k of the k-induction (default evoconn.hw.formal.DEPTH)")
    f.set_defaults(func=run_formal, preflight=_check_formal)
    from .flows_cli import register as register_flow  # synthesis, bitstream, timing flows (hw/flows_cli.py)

    for flow in ("synth", "bitstream", "timing"):
        register_flow(hw_sub, flow)


def _check_verilog(args: argparse.Namespace) -> None:
    check_spec_lanes(args)
    out = str(args.out)
    check_output(out, "--out", kind="file")
    check_output(out[: -len(".v")] + ".json" if out.endswith(".v") else out + ".json",
                 "--out (its manifest)", kind="file")


def _check_ip(args: argparse.Namespace) -> None:
    check_spec_lanes(args)
    check_output(args.out, "--out", kind="dir")


def run_ip(args: argparse.Namespace) -> int:
    from .flows_cli import _spec_lanes
    from .ipxact import COMPONENT_FILE, CORE_FILE, package_ip

    spec, lanes = _spec_lanes(args)
    folder = package_ip(spec, lanes, args.out)
    print(f"wrote {folder / COMPONENT_FILE} (IP-XACT, {ip.VLNV}), {folder / CORE_FILE} (FuseSoC) and {folder / 'hdl'}")
    return 0


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


def _check_formal(args: argparse.Namespace) -> None:
    from .axil import FAULTS

    if args.fault is not None and args.fault not in FAULTS:
        raise OptionError(f"--fault: one of {', '.join(sorted(FAULTS))}, not {args.fault!r}")
    check_output(args.out, "--out", kind="dir")


def run_formal(args: argparse.Namespace) -> int:
    """PASS (exit 0) or FAIL (exit 1, with the failed assertions and the counterexample traces)."""
    from evoconn.cli import CLIError

    from .formal import COVERS, DEPTH, check
    from .toolchain import ToolError

    depth = DEPTH if args.depth is None else args.depth
    try:
        res = check(args.out, fault=args.fault, depth=depth)
    except ToolError as e:
        raise CLIError(str(e)) from None
    n = res.counts
    print(f"AXI4-Lite target (evoconn.hw.axil, address width {res.addr_width}), fault: {args.fault or 'none'}")
    print(f"prove: {res.status['prove']} (k-induction, depth {depth}: {n['assert']} assertions, "
          f"{n['assume']} assumptions)")
    print(f"cover: {res.status['cover']} ({len(res.reached)} of {len(COVERS)} covers reached)")
    for msg in res.failed:
        print(f"  failed: {msg}")
    for name in sorted(set(COVERS) - set(res.reached)):
        print(f"  not reached: {name} ({COVERS[name]})")
    for trace in res.traces:
        print(f"  counterexample trace: {trace}")
    if res.reached:
        print(f"  cover traces: {res.folder / 'axil_formal_cover' / 'engine_0'}/trace*.vcd")
    print(f"sby: {res.seconds:.1f} s in {res.folder} (log {res.folder / 'sby.log'})")
    print("PASS" if res.passed else "FAIL")
    return 0 if res.passed else 1
