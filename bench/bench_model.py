"""Policy steps per second of the integer model (the simulated core) against the float model.

One policy step = one env step of one network = K sub-steps. Each member of the population has its
own masks, as in EC. Each model runs in its own subprocess so that its peak memory is its own; the
two are measured side by side in one run of this script.

    python bench/bench_model.py [--population 1024] [--neurons 256] [--steps 10] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def worker(model: str, population: int, neurons: int, steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from evoconn.training import models as M

    from evoconn.spec import Spec

    spec = Spec(n_neurons=neurons, obs_dim=11, act_dim=3)
    rng = np.random.default_rng(0)
    masks = {k: jnp.asarray(rng.integers(0, 2, (population, *s), dtype=np.uint8).astype(bool))
             for k, s in spec.mask_shapes.items()}
    x = rng.normal(size=(steps, population, spec.obs_dim)).astype(np.float32)
    if model == "int":
        prep = jax.jit(jax.vmap(lambda a, b, c: M.prepare_int_masks(spec, a, b, c)))
        im = prep(masks["mask_in"], masks["mask_h"], masks["mask_out"])
        v0 = jnp.asarray(rng.integers(0, spec.threshold, (population, neurons)), jnp.int32)
        state = jax.vmap(lambda v: M.int_init_state(spec, v))(v0)
        xs = jnp.asarray(spec.quantize_obs(x))
        step = jax.jit(jax.vmap(lambda m, s, xq: M.int_env_step(spec, m, s, xq)[:2]))

        def run(state, t):
            return step(im, state, xs[t])
    else:
        params = M.FloatParams.paper(spec)
        fm = tuple(masks[k].astype(jnp.float32) for k in ("mask_in", "mask_h", "mask_out"))
        v0 = jnp.asarray(rng.random((population, neurons)), jnp.float32)
        state = jax.vmap(lambda v: M.float_init_state(spec, v))(v0)
        xs = jnp.asarray(x)
        step = jax.jit(jax.vmap(lambda a, b, c, s, xx: M.float_env_step(spec, params, (a, b, c), s, xx)))

        def run(state, t):
            return step(*fm, state, xs[t])

    t0 = time.perf_counter()
    state, out = run(state, 0)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(steps):
        state, out = run(state, t)
    jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    if model == "int":
        firing = float(jnp.mean(state.spike))
    else:
        firing = float(jnp.mean(state.spike != 0))
    return {
        "model": model,
        "policy_steps_per_s": population * steps / dt,
        "seconds": dt,
        "compile_s": compile_s,
        "firing_fraction_last_substep": firing,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=1024)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10, help="timed env steps per model")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--worker", choices=["int", "float"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.population, args.neurons, args.steps)))
        return 0
    rows = []
    for model in ("int", "float"):
        cmd = [sys.executable, __file__, "--worker", model, "--population", str(args.population),
               "--neurons", str(args.neurons), "--steps", str(args.steps)]
        print(f"[bench model] {model} ...", file=sys.stderr, flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    i, f = rows
    official = 2000.0  # ec-method.md section 5: the official code on a 2-core CPU at batch 1024
    summary = {
        "command": "python bench/bench_model.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "population": args.population, "neurons": args.neurons, "substeps": 33, "obs_dim": 11, "act_dim": 3,
        "results": rows,
        "int_over_float": i["policy_steps_per_s"] / f["policy_steps_per_s"],
        "int_over_official_2000": i["policy_steps_per_s"] / official,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [
        "# Integer model vs float model: policy steps/s",
        "",
        f"Command: `{summary['command']}` (one run, both models side by side, each in its own process).",
        f"N={args.neurons}, K=33, d=11, a=3, population {args.population}, every member its own masks "
        f"(density 0.5), {args.steps} timed env steps after one compile step; "
        f"{summary['machine']['cpus']} CPUs, jax {i['jax']} on {i['devices'][0]}.",
        "",
        "| model | policy steps/s | peak RSS (MiB) | compile (s) | firing (last sub-step) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['policy_steps_per_s']:,.0f} | {r['peak_rss_mib']:,.0f} | "
                     f"{r['compile_s']:.1f} | {r['firing_fraction_last_substep']:.3f} |")
    lines += [
        "",
        f"Integer over float: **{summary['int_over_float']:.1f}x**. Integer over the official code's "
        f"~2,000 policy steps/s (ec-method.md section 5, not re-measured here): "
        f"**{summary['int_over_official_2000']:.1f}x** (goal: 20x).",
        "",
    ]
    (args.out / "model.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
