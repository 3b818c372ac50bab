"""``evoconn hw synth``, ``evoconn hw bitstream`` and ``evoconn hw timing``: the synthesis, bitstream
and out-of-context timing flows.

Registered into the ``evoconn hw`` group by :mod:`evoconn.hw.cli`. The heavy modules (Amaranth,
the tools) are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json

from evoconn.cli_spec import add_lanes_arg, add_spec_args, check_lanes, check_spec_lanes, spec_from_args
from evoconn.options import check_output, count, integer, real

__all__ = ["register"]

#: Exit code when the Vivado project was written but Vivado is not here to build it.
EXIT_NO_VIVADO = 3


def _common(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    add_lanes_arg(p)
    p.add_argument("--build-dir", default="build/hw", help="cache of build folders (default %(default)s)")
    p.add_argument("--mask-ram", choices=["block", "auto"], default="block",
                   help="block: mark the mask memories ram_style=block; auto: leave it to the tool")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def register(sub, name: str) -> None:
    """Add the subcommand ``name`` ("synth", "bitstream" or "timing") to the ``evoconn hw`` subparsers."""
    if name == "synth":
        p = sub.add_parser(name, help="Yosys synth_xilinx utilization report (LUT, FF, BRAM, DSP)")
        _common(p)
        p.add_argument("--part", default="xc7z020", choices=["xc7z020"], help="(default %(default)s)")
        p.set_defaults(func=run_synth, preflight=_check_flow)
    elif name == "bitstream":
        p = sub.add_parser(name, help="ECP5 bitstream with open tools, or the PYNQ-Z2 Vivado project")
        _common(p)
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--target", choices=["ecp5"], help="open flow: synth_ecp5, nextpnr-ecp5, ecppack")
        g.add_argument("--board", choices=["pynq-z2"], help="Vivado project (built where vivado is on PATH)")
        p.add_argument("--device", default="LFE5U-85F", help="ECP5 part (default %(default)s)")
        p.add_argument("--package", default="CABGA381", help="ECP5 package (default %(default)s)")
        p.add_argument("--clock-mhz", type=real(0, lo_open=True), default=None,
                       help="target clock (default: 100 for ECP5; for the PYNQ-Z2, 80 %% of the measured ECP5 "
                            "Fmax of the core's size, see docs/hardware.md)")
        p.add_argument("--seed", type=integer(0), default=1, help="nextpnr placer seed (default %(default)s)")
        p.add_argument("--name", default="evoconn", help="base name of the .bit/.hwh (default %(default)s)")
        p.add_argument("--base-address", type=integer(0, 2**32 - 4), default=0x4000_0000,
                       help="AXI base address of the core (default 0x40000000)")
        p.add_argument("--interconnect", choices=["smartconnect", "axi_interconnect"], default="smartconnect")
        p.add_argument("--jobs", type=count(), default=2, help="Vivado run jobs (default %(default)s)")
        p.add_argument("--artifact", metavar="DIR",
                       help="a trained artifact: every size (N, d, a, excitatory, K) comes from its "
                            "manifest, so the network and the bitstream cannot disagree")
        p.set_defaults(func=run_bitstream, preflight=_check_flow)
    elif name == "timing":
        p = sub.add_parser(name, help="out-of-context Vivado timing of the core alone (WNS, WHS, critical path)")
        add_spec_args(p)
        add_lanes_arg(p)
        p.add_argument("--build-dir", default="build/hw", help="cache of build folders (default %(default)s)")
        p.add_argument("--clock-mhz", type=real(0, lo_open=True), default=100.0,
                       help="clock to time against (default %(default)s)")
        p.add_argument("--part", default="xc7z020clg400-1", help="Xilinx part (default %(default)s)")
        p.set_defaults(func=run_timing, preflight=_check_flow)
    else:
        raise ValueError(f"unknown flow command {name!r}")


def _artifact_spec(args):
    """The artifact's spec; a size option that contradicts it is an error."""
    from evoconn.artifact import ArtifactError, load_manifest, spec_from_manifest
    from evoconn.cli import CLIError
    from evoconn.spec import Spec

    try:
        path = f"{args.artifact}/manifest.json"
        spec = spec_from_manifest(load_manifest(path), path)
    except ArtifactError as e:
        raise CLIError(str(e)) from None
    d = Spec()
    given = {"--neurons": (args.neurons, d.n_neurons, spec.n_neurons),
             "--obs-dim": (args.obs_dim, d.obs_dim, spec.obs_dim),
             "--act-dim": (args.act_dim, d.act_dim, spec.act_dim),
             "--substeps": (args.substeps, d.substeps, spec.substeps),
             "--exc": (args.exc, None, spec.n_exc)}
    clash = [f"{k} {v}" for k, (v, default, want) in given.items() if v != default and v != want]
    if clash:
        raise CLIError(f"--artifact takes every size from {args.artifact}/manifest.json "
                       f"(N={spec.n_neurons}, d={spec.obs_dim}, a={spec.act_dim}, K={spec.substeps}); "
                       f"drop {', '.join(clash)}")
    return spec


def _check_flow(args: argparse.Namespace) -> None:
    check_spec_lanes(args)
    check_output(args.build_dir, "--build-dir", kind="dir")


def _spec_lanes(args):
    spec = _artifact_spec(args) if getattr(args, "artifact", None) else spec_from_args(args)
    check_lanes(spec, args.lanes)  # the spec's rule (an --artifact's N is known only now)
    return spec, args.lanes


def run_synth(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError

    from .synth import synthesize
    from .toolchain import ToolError

    spec, lanes = _spec_lanes(args)
    try:
        build = synthesize(spec, lanes, part=args.part, mask_ram=args.mask_ram, build_root=args.build_dir)
    except ToolError as e:
        raise CLIError(str(e)) from None
    rep = build["report"]
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0
    print(f"{'cached' if build.cached else 'built'}: {build.path / 'report.json'}  ({rep['tools']['yosys']})")
    print(f"N={spec.n_neurons} lanes={lanes} on {rep['part']}:")
    for k, v in rep["resources"].items():
        print(f"  {k:7s} {v['count']:>9g} / {v['available']:<7d} {100 * v['share']:6.2f} %")
    return 0


def run_bitstream(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError

    from .toolchain import ToolError

    spec, lanes = _spec_lanes(args)
    if args.target == "ecp5":
        from .ecp5 import bitstream_ecp5

        try:
            build = bitstream_ecp5(spec, lanes, device=args.device, package=args.package,
                                   freq_mhz=args.clock_mhz or 100.0,
                                   seed=args.seed, mask_ram=args.mask_ram, name=args.name,
                                   build_root=args.build_dir)
        except (ToolError, ValueError) as e:
            raise CLIError(str(e)) from None
        summary = json.loads((build.path / "summary.json").read_text())
        if args.json:
            print(json.dumps(summary, indent=1))
            return 0
        print(f"{'cached' if build.cached else 'built'}: {build.path / build['bitstream']}")
        for clk, f in summary["fmax"].items():
            print(f"  Fmax {clk}: {f['achieved_mhz']} MHz (target {f['constraint_mhz']} MHz, "
                  f"{'met' if f['met'] else 'NOT met'})")
        for k, v in summary["utilization"].items():
            print(f"  {k:14s} {v['used']:>7d} / {v['available']}")
        return 0

    from .vivado import VivadoMissing, vivado_project

    if args.mask_ram != "block":
        raise CLIError("the Vivado flow always marks the mask memories ram_style=block")
    try:
        folder, man = vivado_project(spec, lanes, name=args.name, clock_mhz=args.clock_mhz,
                                     base_address=args.base_address, interconnect=args.interconnect,
                                     jobs=args.jobs, build_root=args.build_dir, artifact=args.artifact)
    except VivadoMissing as e:
        import sys

        print(f"evoconn hw bitstream: {e}", file=sys.stderr)
        return EXIT_NO_VIVADO
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"built: {folder / man['bitstream']} and {folder / man['hwh']}")
    return 0


def run_timing(args: argparse.Namespace) -> int:
    import sys

    from evoconn.cli import CLIError

    from .timing import timing_project
    from .toolchain import ToolError
    from .vivado import VivadoMissing

    spec, lanes = _spec_lanes(args)
    try:
        folder, rep = timing_project(spec, lanes, clock_mhz=args.clock_mhz, part=args.part,
                                     build_root=args.build_dir)
    except VivadoMissing as e:
        print(f"evoconn hw timing: {e}", file=sys.stderr)
        return EXIT_NO_VIVADO
    except (ToolError, ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from None
    print(json.dumps(rep, indent=1))
    if not rep.get("met"):
        print(f"evoconn hw timing: timing not met at {args.clock_mhz:g} MHz (WNS {rep.get('wns_ns')} ns, "
              f"WHS {rep.get('whs_ns')} ns); see {folder / 'timing.rpt'}", file=sys.stderr)
        return 1
    return 0
