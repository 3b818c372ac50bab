"""Cycles per sub-step and per env step of the RTL core against spike activity.

The numbers come from :class:`evoconn.spec.CycleModel`, the core's timing contract (the hw tests
check the CYCLES register against it exactly). With ``--simulate``, a few points are also measured
on the Amaranth simulation of the core (driven through its AXI4-Lite port): the oracle's spike
counts go into the model, and the CYCLES register must equal it.

Usage::

    python bench/bench_cycles.py [--lanes 4 8 16 32] [--simulate] [--out bench/results/cycles.md]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from evoconn.spec import CycleModel, Spec, numpy_env_step

FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.10)
CLOCK_MHZ = 100.0
GOAL_CYCLES = 2000  # env step at 2% firing


def model_table(spec: Spec, lanes_list) -> list[str]:
    lines = [
        "| scheme | lanes | firing | spikes/sub-step | sub-step cycles | env step cycles | env step us @100 MHz |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for lanes in lanes_list:
        cm = CycleModel(spec, lanes)
        for f in FRACTIONS:
            s = round(f * spec.n_neurons)
            env = cm.env_step_cycles(s, [s] * spec.substeps)
            lines.append(f"| event | {lanes} | {f:.0%} | {s} | {cm.substep_cycles(s)} | {env} | "
                         f"{env / CLOCK_MHZ:.2f} |")
    return lines


def simulate_points(spec: Spec, lanes: int, p_mask=0.05, obs_scale=(0.5, 1.0, 2.0, 4.0)):
    """One episode, an env step per input scale, on the simulated core: measured vs model rows."""
    from amaranth.sim import Simulator

    from evoconn.hw.core import EvoconnCore

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.hw.hw_bus import CoreDriver  # the tests' bus driver: one AXI-Lite master

    rows = []
    dut = EvoconnCore(spec, lanes)
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < p_mask for k, s in spec.mask_shapes.items()}
    cm = CycleModel(spec, lanes)
    lo, hi = spec.obs_limits()

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        state = {k: np.zeros((1, spec.n_neurons), np.int64) for k in ("v", "isyn", "rate", "spike")}
        for scale in obs_scale:
            xq = np.clip(np.round(rng.normal(0, scale * spec.threshold, spec.obs_dim)), lo, hi)
            xq = xq.astype(np.int64)
            new, out, fired = numpy_env_step(spec, {k: v[None] for k, v in masks.items()}, state, xq[None])
            prev = int(state["spike"].sum())
            t0 = time.time()
            await drv.step(xq)
            wall = time.time() - t0
            measured = await drv.read("CYCLES")
            outs = await drv.outputs()
            assert np.array_equal(outs, out[0]), "simulated core disagrees with the model"
            model = cm.env_step_cycles(prev, list(fired[0]))
            rows.append((lanes, float(fired[0].mean()) / spec.n_neurons, measured, model, wall))
            state = new

    sim = Simulator(dut)
    sim.add_clock(1 / (CLOCK_MHZ * 1e6))
    sim.add_testbench(bench)
    sim.run()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--simulate", action="store_true", help="also measure a few points in simulation")
    ap.add_argument("--sim-lanes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--out", default=None, help="write a markdown report here")
    args = ap.parse_args(argv)
    spec = Spec(n_neurons=256, obs_dim=11, act_dim=3, substeps=33)
    cm0 = CycleModel(spec)
    lines = [
        "# Cycles per env step of the evoconn core",
        "",
        f"Spec: N={spec.n_neurons}, n_exc={spec.n_exc}, d={spec.obs_dim}, a={spec.act_dim}, "
        f"K={spec.substeps} (hash {spec.hash[:12]}). Event-driven accumulation (the only scheme built). "
        "Steady firing: the same number of spikes in every sub-step and before START.",
        "",
        "Formula (evoconn.spec.CycleModel, exact for the RTL): env step = "
        f"(2d + N/lanes + {cm0.input_overhead}) + sum over K sub-steps of (spikes arriving + N/lanes + "
        f"{cm0.substep_overhead}) + (a*N/lanes + {cm0.output_overhead}).",
        "",
        *model_table(spec, args.lanes),
        "",
    ]
    ok = [lanes for lanes in args.lanes
          if CycleModel(spec, lanes).typical_env_step_cycles(0.02) <= GOAL_CYCLES]
    lines.append(f"Goal (env step at 2% firing <= {GOAL_CYCLES} cycles) met for lanes in {ok}.")
    lines.append("")
    if args.simulate:
        t0 = time.time()
        rows = [r for lanes in args.sim_lanes for r in simulate_points(spec, lanes)]
        lines += [
            f"Simulation check (Amaranth simulator, lanes in {args.sim_lanes}, random masks of density "
            f"0.05, one episode of 4 env steps per lanes setting with growing inputs, driven over "
            "AXI4-Lite; OUT equal to numpy_env_step at every step):",
            "",
            "| lanes | mean firing | CYCLES register | CycleModel | sim wall s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for lanes, f, meas, model, wall in rows:
            lines.append(f"| {lanes} | {f:.1%} | {meas} | {model} | {wall:.1f} |")
            assert meas == model, f"CYCLES {meas} != model {model}"
        lines += ["", f"(simulation took {time.time() - t0:.0f} s in all)", ""]
    cmd = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    lines.append(f"Produced by: `{cmd}`")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
