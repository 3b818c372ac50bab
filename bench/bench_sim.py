"""Simulator speed of the cocotb proof: cycles/s and env steps/s at N = 64 and N = 256.

    nice -n 10 .venv/bin/python bench/bench_sim.py --sim icarus|verilator [--steps 16] [--cold]
        # writes bench/results/sim.<sim>.json

Runs :func:`evoconn.sim.verify.verify` with random bus pauses (the rtl tier's settings) twice per
size: state read back after the first and last env step only, and with the whole state read back
after every env step. Reports simulated cycles, wall time of the cocotb test (the reference model and
the build excluded), cycles/s, env steps/s and compared integers/s, and the build time of each run:
with ``--cold`` the size's build folder is removed first, so the first row of a size has the whole
compile (Verilator: verilate and g++; Icarus: iverilog) and the second a cached build.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

from evoconn.sim.runner import BUILD_ROOT, SIMULATORS, build_tag
from evoconn.sim.verify import verify
from evoconn.spec import Spec

SIZES = {
    64: (Spec(n_neurons=64, obs_dim=11, act_dim=3), 16),
    256: (Spec(), 16),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", choices=SIMULATORS, default="icarus")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--cold", action="store_true", help="remove each size's build folder first (compile time)")
    p.add_argument("--out", default=None, help="default bench/results/sim.<sim>.json")
    args = p.parse_args(argv)
    out = Path(args.out or Path(__file__).parent / "results" / f"sim.{args.sim}.json")
    rows = []
    for n, (spec, lanes) in SIZES.items():
        if args.cold:
            shutil.rmtree(BUILD_ROOT / build_tag(spec, lanes, args.sim), ignore_errors=True)
        for label, state_every in (("state after first and last step", args.steps), ("state every step", 1)):
            rep = verify(spec, lanes, cases=1, steps=args.steps, seed=0, sim=args.sim, state_every=state_every)
            row = {"N": n, "K": spec.substeps, "d": spec.obs_dim, "a": spec.act_dim, "lanes": lanes, "mode": label,
                   "passed": rep.passed, "steps": rep.steps, "sim_cycles": rep.sim_cycles,
                   "wall_s": round(rep.wall_s, 2), "cycles_per_s": round(rep.cycles_per_s),
                   "env_steps_per_s": round(rep.steps_per_s, 3), "compared": rep.compared,
                   "compared_per_s": round(rep.compared / rep.wall_s, 1), "build_s": round(rep.build_s, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    out.write_text(json.dumps({"sim": args.sim, "steps": args.steps, "cold": args.cold,
                               "python": sys.version.split()[0], "machine": platform.machine(), "rows": rows},
                              indent=1) + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
