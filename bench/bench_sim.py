"""Simulator speed of the cocotb proof: cycles/s and env steps/s at N = 64 and N = 256.

    .venv/bin/python bench/bench_sim.py [--sim icarus] [--out bench/results/sim.json]

Runs :func:`evoconn.sim.verify.verify` with random bus pauses (the rtl tier's settings) twice per
size: state read back after the first and last env step only, and with the whole state read back
after every env step. Reports simulated cycles, wall time of the cocotb test (the reference model and
the build excluded), cycles/s, env steps/s and compared integers/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from evoconn.sim.verify import verify

from evoconn.spec import Spec

SIZES = {
    64: (Spec(n_neurons=64, obs_dim=11, act_dim=3), 16),
    256: (Spec(), 16),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", default="icarus")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "sim.json"))
    args = p.parse_args(argv)
    rows = []
    for n, (spec, lanes) in SIZES.items():
        for label, state_every in (("state after first and last step", args.steps), ("state every step", 1)):
            rep = verify(spec, lanes, cases=1, steps=args.steps, seed=0, sim=args.sim, state_every=state_every)
            row = {"N": n, "K": spec.substeps, "lanes": lanes, "mode": label, "passed": rep.passed,
                   "steps": rep.steps, "sim_cycles": rep.sim_cycles, "wall_s": round(rep.wall_s, 2),
                   "cycles_per_s": round(rep.cycles_per_s), "env_steps_per_s": round(rep.steps_per_s, 3),
                   "compared": rep.compared, "compared_per_s": round(rep.compared / rep.wall_s, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    Path(args.out).write_text(json.dumps({"sim": args.sim, "python": sys.version.split()[0],
                                          "machine": platform.machine(), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
