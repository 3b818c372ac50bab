"""Policy steps per second: the integer model, the float model and (given its checkout) the official
code's ConnSNN, side by side in one run.

One policy step = one env step of one network = K sub-steps. Each member of the population has its
own masks (density 0.5), as in EC. Every measurement runs in its own fresh process, and the
processes alternate (int, float, official, int, float, official, ...) for ``--rounds`` rounds, so
that the three see the same machine load; the report gives every raw figure, the medians, and the
load average before each process.

    python bench/bench_model.py [--population 1024] [--neurons 256] [--steps 10] [--rounds 3]
    # with the official code (bench/README.md: its checkout and its venv, one command):
    python bench/bench_model.py --official ../ext/EvolvingConnectivity \\
        --official-python .venv-official/bin/python

The official network is its own ``networks.conn_snn.ConnSNN``, imported from the checkout and
called as ``ec.py``'s ``_evaluate_step`` calls it (``jax.vmap(network.apply, ...)`` over members,
jitted). Without ``--official`` the report says the comparison was not run and gives no ratio to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OBS_DIM, ACT_DIM = 11, 3  # hopper's I/O


def _masks_np(population: int, neurons: int):
    """The same random masks for every model: paper orientation, bool, one set per member."""
    import numpy as np

    rng = np.random.default_rng(0)
    shapes = {"mask_in": (2 * OBS_DIM, neurons), "mask_h": (neurons, neurons), "mask_out": (neurons, ACT_DIM)}
    masks = {k: rng.random((population, *s)) < 0.5 for k, s in shapes.items()}
    x = rng.normal(size=(population, OBS_DIM)).astype(np.float32)
    v0 = rng.random((population, neurons)).astype(np.float32)
    return masks, x, v0


def _time_steps(run, state, steps: int):
    import jax

    t0 = time.perf_counter()
    state, out = run(state)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        state, out = run(state)
    jax.block_until_ready(out)
    return state, time.perf_counter() - t0, compile_s


def _models_at(rev: str):
    """training/models.py as committed at ``rev`` (git), imported as a module: the code as it was."""
    import importlib.util
    import tempfile

    src = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{rev}:training/models.py"],
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "models_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("models_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def worker_ours(model: str, population: int, neurons: int, steps: int, before: str | None = None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from evoconn.spec import Spec
    from evoconn.training import models as M

    spec = Spec(n_neurons=neurons, obs_dim=OBS_DIM, act_dim=ACT_DIM)
    masks, x, v0 = _masks_np(population, neurons)
    masks = {k: jnp.asarray(v) for k, v in masks.items()}
    if model == "int":
        prep = jax.jit(jax.vmap(lambda a, b, c: M.prepare_int_masks(spec, a, b, c)))
        pm = prep(masks["mask_in"], masks["mask_h"], masks["mask_out"])
        v0 = jnp.asarray(np.floor(v0 * spec.threshold), jnp.int32)
        state = jax.vmap(lambda v: M.int_init_state(spec, v))(v0)
        xs = jnp.asarray(spec.quantize_obs(x))
        step = jax.jit(jax.vmap(lambda m, s, xq: M.int_env_step(spec, m, s, xq)[:2]))
    elif model == "float-before":
        # the float model as committed at --before: masks as float32, a dense product per sub-step
        B = _models_at(before)
        params = B.FloatParams.paper(spec)
        pm = tuple(masks[k].astype(jnp.float32) for k in ("mask_in", "mask_h", "mask_out"))
        state = jax.vmap(lambda v: B.float_init_state(spec, v))(jnp.asarray(v0))
        xs = jnp.asarray(x)
        step = jax.jit(jax.vmap(lambda m, s, xx: B.float_env_step(spec, params, m, s, xx)))
    else:
        params = M.FloatParams.paper(spec)
        prep = jax.jit(jax.vmap(lambda a, b, c: M.prepare_float_masks(spec, a, b, c)))
        pm = prep(masks["mask_in"], masks["mask_h"], masks["mask_out"])
        state = jax.vmap(lambda v: M.float_init_state(spec, v))(jnp.asarray(v0))
        xs = jnp.asarray(x)
        step = jax.jit(jax.vmap(lambda m, s, xx: M.float_env_step(spec, params, m, s, xx)))
    state, dt, compile_s = _time_steps(lambda s: step(pm, s, xs), state, steps)
    return {
        "model": model,
        "policy_steps_per_s": population * steps / dt,
        "seconds": dt,
        "compile_s": compile_s,
        "firing_fraction_last_substep": float(jnp.mean(state.spike != 0)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }


def worker_official(checkout: str, population: int, neurons: int, steps: int) -> dict:
    """The official ConnSNN, from its checkout, called as ec.py's ``_evaluate_step`` calls it."""
    sys.path.insert(0, checkout)
    import jax
    import jax.numpy as jnp
    from networks import NETWORKS  # the official code, imported from the checkout

    masks, x, v0 = _masks_np(population, neurons)
    net = NETWORKS["ConnSNN"](out_dims=ACT_DIM, num_neurons=neurons)
    key = jax.random.PRNGKey(0)
    variables = net.init({"params": key, "fixed_weights": key}, net.initial_carry(key, population), jnp.asarray(x))
    params = {"kernel_in": jnp.asarray(masks["mask_in"]), "kernel_h": jnp.asarray(masks["mask_h"]),
              "kernel_out": jnp.asarray(masks["mask_out"])}
    assert jax.tree_util.tree_map(lambda a: a.shape[1:], params) == \
        jax.tree_util.tree_map(lambda a: a.shape, dict(variables["params"]))
    fixed = variables["fixed_weights"]
    vmapped_apply = jax.vmap(net.apply, ({"params": 0, "fixed_weights": None}, 0, 0))
    step = jax.jit(lambda p, c, xx: vmapped_apply({"params": p, "fixed_weights": fixed}, c, xx))
    carry = net.initial_carry(key, population)
    carry = (jnp.asarray(v0), *carry[1:])
    xs = jnp.asarray(x)
    carry, dt, compile_s = _time_steps(lambda c: step(params, c, xs), carry, steps)
    return {
        "model": "official",
        "policy_steps_per_s": population * steps / dt,
        "seconds": dt,
        "compile_s": compile_s,
        "firing_fraction_last_substep": float(jnp.mean(carry[3] != 0)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "substeps": round(net.sim_time / net.dt),
    }


def _git_head(path: str) -> str:
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def run_worker(cmd: list[str], cwd: str | None = None) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"bench: the worker `{' '.join(cmd[:4])} ...` failed: {tail[0]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=1024)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10, help="timed env steps per process")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (one process per model each)")
    ap.add_argument("--official", help="checkout of github.com/imoneoi/EvolvingConnectivity (commit 3e61be4)")
    ap.add_argument("--official-python", help="the python of its venv (bench/setup_official.sh)")
    ap.add_argument("--before", metavar="REV", help="also run the float model as committed at this git revision")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--tag", default="model")
    ap.add_argument("--worker", choices=["int", "float", "float-before", "official"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "official":
        print(json.dumps(worker_official(args.official, args.population, args.neurons, args.steps)))
        return 0
    if args.worker:
        print(json.dumps(worker_ours(args.worker, args.population, args.neurons, args.steps, args.before)))
        return 0
    if args.official and not (Path(args.official) / "networks" / "conn_snn.py").is_file():
        print(f"bench: {args.official} is not a checkout of the official code (no networks/conn_snn.py)",
              file=sys.stderr)
        return 2
    if args.official and not args.official_python:
        print("bench: --official needs --official-python (bench/setup_official.sh makes that venv)", file=sys.stderr)
        return 2
    models = ["int", "float"] + (["float-before"] if args.before else []) + (["official"] if args.official else [])
    before_rev = None
    if args.before:
        before_rev = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", args.before],
                                    capture_output=True, text=True).stdout.strip() or None
        if not before_rev:
            print(f"bench: --before {args.before}: not a git revision of this repository", file=sys.stderr)
            return 2
    common = ["--population", str(args.population), "--neurons", str(args.neurons), "--steps", str(args.steps)]
    raw: dict[str, list[dict]] = {m: [] for m in models}
    loads = []
    for rnd in range(args.rounds):
        for m in models:
            load = os.getloadavg()[0]
            print(f"[bench model] round {rnd + 1}/{args.rounds}: {m} (load {load:.1f}) ...",
                  file=sys.stderr, flush=True)
            if m == "official":
                cmd = [args.official_python, __file__, "--worker", m, "--official",
                       str(Path(args.official).resolve()), *common]
            else:
                cmd = [sys.executable, __file__, "--worker", m, *common]
                cmd += ["--before", before_rev] if args.before else []
            r = run_worker(cmd)
            r["round"], r["load1_before"] = rnd, load
            raw[m].append(r)
            loads.append(load)
    med = {m: statistics.median(r["policy_steps_per_s"] for r in raw[m]) for m in models}
    ratios = {"int_over_float": med["int"] / med["float"]}
    if args.before:
        ratios["float_over_float_before"] = med["float"] / med["float-before"]
    if args.official:
        ratios["int_over_official"] = med["int"] / med["official"]
        ratios["float_over_official"] = med["float"] / med["official"]
    argv = " ".join(sys.argv[1:])
    summary = {
        "command": f"python bench/bench_model.py {argv}".strip(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(), "uptime_end": _uptime()},
        "population": args.population, "neurons": args.neurons, "substeps": 33, "obs_dim": OBS_DIM,
        "act_dim": ACT_DIM, "steps": args.steps, "rounds": args.rounds,
        "float_before_commit": before_rev,
        "official": ({"checkout": str(args.official), "commit": _git_head(args.official),
                      "jax": raw["official"][0]["jax"]} if args.official else None),
        "median_policy_steps_per_s": med, "ratios_of_medians": ratios, "raw": raw,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.tag}.json").write_text(json.dumps(summary, indent=1) + "\n")
    i = raw["int"][0]
    lines = [
        "# Network alone: policy steps/s of the integer model, the float model"
        + (" and the official ConnSNN" if args.official else ""),
        "",
        "Made by (all figures below come from this one run):",
        "",
        "    " + summary["command"],
        "",
        f"N = {args.neurons}, K = 33, d = {OBS_DIM}, a = {ACT_DIM} (hopper's I/O), population {args.population}, "
        f"every member its own masks (density 0.5); each process: one compile step, then {args.steps} timed env "
        f"steps. {args.rounds} rounds, the models alternating, each in a fresh process. "
        f"{summary['machine']['cpus']} CPUs shared with other jobs: load average (1 min) "
        f"{min(loads):.1f} to {max(loads):.1f} before the processes; at the end: `{summary['machine']['uptime_end']}`. "
        f"Ours: jax {i['jax']} on {i['devices'][0]}.",
    ]
    if args.official:
        o = summary["official"]
        lines.append(f"Official: `networks/conn_snn.py` from its checkout at commit {o['commit'][:7]}, jax {o['jax']}, "
                     "vmapped over members and jitted as its `ec.py` does.")
    lines += ["", "| model | median policy steps/s | raw (per round) | peak RSS (MiB) | compile (s) "
              "| firing (last sub-step) |",
              "|---|---:|---|---:|---:|---:|"]
    for m in models:
        rs = raw[m]
        lines.append(f"| {m} | {med[m]:,.0f} | " + " / ".join(f"{r['policy_steps_per_s']:,.0f}" for r in rs)
                     + f" | {max(r['peak_rss_mib'] for r in rs):,.0f} | "
                     f"{statistics.median(r['compile_s'] for r in rs):.1f}"
                     f" | {rs[0]['firing_fraction_last_substep']:.3f} |")
    if args.before:
        lines.append(f"float-before: the float model as committed at {before_rev[:7]} (float32 masks, a dense "
                     "product per sub-step), loaded from git by this run.")
    lines += ["", f"Integer over float (ratio of medians): **{ratios['int_over_float']:.2f}x**."]
    if args.before:
        lines.append(f"Float over float-before: **{ratios['float_over_float_before']:.2f}x**.")
    if args.official:
        lines.append(f"Integer over the official ConnSNN: **{ratios['int_over_official']:.2f}x**; float over the "
                     f"official ConnSNN: **{ratios['float_over_official']:.2f}x**.")
    else:
        lines.append("The official code was not run (no `--official`), so this run gives no ratio to it.")
    lines.append("")
    (args.out / f"{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
