"""The board farm's cost: population scoring through Dask against scoring on a core in this process.

Measured here, side by side in one run (alternating local, farm, local, farm, ...): the wall time
of ``rollout.score_population`` on one in-memory core model and of ``farm.score_population`` on a
local Dask cluster (a scheduler in this process on 127.0.0.1, ``--workers`` worker processes
started with ``evoconn farm worker --backend fake``), on the same members (Pendulum-v1: every
episode runs to the cap, so the work per member is fixed and there are no reruns). The fitness is
checked equal every time. The difference per member is the farm's own cost per member task
(submit, scatter, scheduling, result transfer) on this machine; the boards' work is the same.
Also reported: the bytes of one member's task payload and of the generation's context, pickled,
at the paper's N = 256 (d = 11, a = 3) and at the measured N.

On a shared 2-core machine the worker processes compete with this one for the cores, so with more
than one worker the farm cannot be faster here; the figures are the overhead, not a speed-up.

Usage::

    python bench/bench_farm.py [--neurons 64] [--population 16] [--max-steps 100] [--repeats 3]
                               [--workers 1] [--out bench/results/farm.md]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np

from evoconn.artifact import Normalizer
from evoconn.host import farm, rollout
from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec


def payload_bytes(spec: Spec) -> tuple[int, int]:
    """Pickled bytes of one member's work item (packed masks) and of a generation's context."""
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    item = farm.WorkItem(0, 1, rollout.initial_membrane(spec, rng), packed=farm._pack(masks))
    factory, key = farm._env_factory("Pendulum-v1", spec)
    ctx = farm.Context(spec, factory, key, Normalizer.identity(spec.obs_dim), 1000)
    return len(pickle.dumps(item)), len(pickle.dumps(ctx))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=64)
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="bench/results/farm.md")
    args = ap.parse_args()

    spec = Spec(n_neurons=args.neurons, obs_dim=3, act_dim=1)
    rng = np.random.default_rng(0)
    rho = {k: rng.uniform(0.2, 0.8, s) for k, s in spec.mask_shapes.items()}
    members = rollout.sample_masks(rho, args.population, rng)
    env = rollout.make_env("Pendulum-v1", spec)
    core = RegisterCore(FakeBus(spec), spec, timeout=30.0)  # a loaded machine can stall a process > 1 s
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    cluster = distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                       scheduler_port=0, dashboard_address="127.0.0.1:0")
    procs = []
    try:
        for i in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "evoconn.cli", "farm", "worker", "--scheduler", cluster.scheduler_address,
                 "--backend", "fake", "--name", f"board{i}", "--host", "127.0.0.1", "--death-timeout", "30",
                 "--timeout", "30"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            client.wait_for_workers(args.workers, timeout=120)
            f = farm.Farm(client, spec=spec)
            # warm both sides once (env made, imports done), not timed
            ref = rollout.score_population(core, env, members[:2], seed=1, max_steps=args.max_steps)
            farm.score_population(f, "Pendulum-v1", members[:2], seed=1, max_steps=args.max_steps)
            local_s, farm_s = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                ref = rollout.score_population(core, env, members, seed=1, max_steps=args.max_steps)
                local_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = farm.score_population(f, "Pendulum-v1", members, seed=1, max_steps=args.max_steps)
                farm_s.append(time.perf_counter() - t0)
                np.testing.assert_array_equal(got.fitness, ref.fitness)
                assert got.reruns == ref.reruns == 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        cluster.close()
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    lo, fa = float(np.median(local_s)), float(np.median(farm_s))
    per_member_ms = 1000 * (fa - lo) / args.population
    item_256, ctx_256 = payload_bytes(Spec(n_neurons=256, obs_dim=11, act_dim=3))
    item_n, ctx_n = payload_bytes(spec)
    rows = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "spec": {"n_neurons": spec.n_neurons, "obs_dim": 3, "act_dim": 1, "hash": spec.hash[:12]},
        "population": args.population, "max_steps": args.max_steps, "workers": args.workers,
        "repeats": args.repeats, "local_s": local_s, "farm_s": farm_s,
        "median_local_s": lo, "median_farm_s": fa, "farm_over_local": fa / lo,
        "farm_cost_per_member_ms": per_member_ms,
        "payload_bytes": {"item_n256": item_256, "context_n256": ctx_256,
                          f"item_n{spec.n_neurons}": item_n, f"context_n{spec.n_neurons}": ctx_n},
        "uptime_before": uptime_before, "uptime_after": uptime_after,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"distributed {distributed.__version__}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# The board farm's cost per member (Dask, local cluster, fake boards)",
        "",
        f"Command: `{rows['command']}`",
        "",
        f"Machine: {rows['machine']}; shared with other jobs. Load before: `{uptime_before}`; "
        f"after: `{uptime_after}`.",
        "",
        f"N={spec.n_neurons}, d=3, a=1 on Pendulum-v1, {args.population} members of {args.max_steps} env steps, "
        f"{args.workers} worker process(es) with --backend fake, {args.repeats} alternating repeats "
        "(local, farm, ...); fitness equal every time.",
        "",
        "| | wall s per repeat | median s |",
        "|---|---|---:|",
        f"| local score_population (one core model, this process) | {', '.join(f'{x:.3f}' for x in local_s)} "
        f"| {lo:.3f} |",
        f"| farm score_population ({args.workers} fake board(s)) | {', '.join(f'{x:.3f}' for x in farm_s)} "
        f"| {fa:.3f} |",
        "",
        f"Farm / local (medians, same run): {fa / lo:.2f}. The farm's cost per member task on this machine: "
        f"{per_member_ms:.1f} ms (median difference / members).",
        "",
        f"Payload, pickled: one member's task {item_256:,} B and a generation's context {ctx_256:,} B at "
        f"N=256, d=11, a=3 (packed masks, reset seed, initial membrane); {item_n:,} B and {ctx_n:,} B at "
        f"N={spec.n_neurons}.",
        "",
        "No board ran: on a PYNQ the member's rollout (bus, ARM Python) is the work and the task's "
        "cost adds to it per member; this measures only the farm's side on localhost.",
    ]
    load = max(float(u.split("load average:")[1].split(",")[0]) for u in (uptime_before, uptime_after))
    if load > (os.cpu_count() or 1):
        lines += ["", f"The 1-minute load ({load:.1f}) exceeded the {os.cpu_count()} cores: every figure above is "
                      "inflated by waiting for a core, the farm's more (two processes); rerun on a quiet machine."]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
