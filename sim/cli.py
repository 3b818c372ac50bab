"""``evoconn sim``: the cocotb proof that the generated RTL equals the JAX integer model."""

from __future__ import annotations

import argparse
import os

from evoconn.cli import summary
from evoconn.cli_spec import add_lanes_arg, add_spec_args, check_spec_lanes, spec_from_args
from evoconn.options import OptionError, count, integer, real


def register(sub, name: str) -> None:
    from evoconn.sim.cases import INTERRUPTIONS, KINDS
    from evoconn.sim.gate import GATES

    p = sub.add_parser(name, help=summary(name))
    sim_sub = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)
    v = sim_sub.add_parser("verify", help="run random cases on the exported Verilog and compare every output")
    add_spec_args(v)
    add_lanes_arg(v)
    v.add_argument("--cases", type=count(), default=None,
                   help=f"cases (kinds cycle: {', '.join(KINDS)}; default {len(KINDS)}, with --reset "
                        f"{len(INTERRUPTIONS) + 1}, which it needs)")
    v.add_argument("--steps", type=count(), default=8, help="env steps per case (default %(default)s)")
    v.add_argument("--seed", type=integer(0), default=0,
                   help="seed of the cases and the bus pauses (default %(default)s)")
    v.add_argument("--case", type=integer(0), default=None, help="run only this case index (replays a failure)")
    v.add_argument("--state-every", type=count(), default=4,
                   help="read the whole neuron state after every this many env steps (default %(default)s)")
    v.add_argument("--pauses", type=real(0, MAX_PAUSES), default=0.2,
                   help=f"probability of a pause per AXI channel per cycle, at most {MAX_PAUSES} "
                        "(1 would never finish; default %(default)s)")
    v.add_argument("--protocol", action="store_true", help="also run the bus-protocol test")
    v.add_argument("--reset", action="store_true",
                   help="run the hardware-reset test instead: rst in the middle of env steps and AXI "
                        "transactions, each followed by the next case's episode")
    v.add_argument("--sim", choices=["icarus", "verilator"], default=os.environ.get("SIM", "icarus"),
                   help="simulator (default $SIM or icarus)")
    v.add_argument("--gate", choices=list(GATES), default=None,
                   help="simulate the post-synthesis netlist of this FPGA flow with its cell models instead "
                        "of the exported RTL (ecp5: synth_ecp5 as `evoconn hw bitstream --target ecp5`; "
                        "needs Yosys, the hw extra)")
    v.add_argument("--waves", action="store_true", help="write an FST trace (GTKWave opens it)")
    v.add_argument("--fault", default=None, help=argparse.SUPPRESS)  # test only: a deliberately broken core
    v.set_defaults(func=run_verify, preflight=_check_verify)


#: The AXI master pauses each channel with this probability per cycle; at 1 no transfer ever ends.
MAX_PAUSES = 0.9


def _check_verify(args: argparse.Namespace) -> None:
    from evoconn.sim.cases import INTERRUPTIONS, KINDS

    check_spec_lanes(args)
    if args.reset:
        need = len(INTERRUPTIONS) + 1
        if args.cases not in (None, need):
            raise OptionError(f"--reset runs {need} cases (one before the first reset, one after each), "
                              f"got --cases {args.cases}")
        if args.case is not None or args.protocol:
            raise OptionError("--reset runs every case and no protocol test: leave out --case and --protocol")
        args.cases = need
    elif args.cases is None:
        args.cases = len(KINDS)
    if args.case is not None and args.case >= args.cases:
        raise OptionError(f"--case must lie in [0, --cases={args.cases}), got {args.case}")


def run_verify(args: argparse.Namespace) -> int:
    from evoconn.cli import CLIError
    from evoconn.hw.toolchain import ToolError

    from .verify import verify

    spec = spec_from_args(args)
    try:
        rep = verify(spec, args.lanes, cases=args.cases, steps=args.steps, seed=args.seed, sim=args.sim,
                     waves=args.waves, fault=args.fault, only=args.case, state_every=args.state_every,
                     pauses=args.pauses, protocol=args.protocol, reset=args.reset, gate=args.gate)
    except ToolError as e:  # the gate-level netlist needs Yosys: say so in one line
        raise CLIError(str(e).splitlines()[0]) from None
    except (TypeError, ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from None
    print(rep.text())
    return 0 if rep.passed else 1
