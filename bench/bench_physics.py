"""Physics alone on CPU: env steps/s of each physics option, side by side in one run.

Options (``--options``):

* ``generalized``, ``positional``, ``spring``, ``mjx``: Brax (this repo's pinned brax) with that
  backend: ``jax.vmap(env.step)`` over the batch in a jitted ``fori_loop``; an env step includes the
  env's observation, reward and done.
* ``mujoco``: MuJoCo's native C engine through ``mujoco.rollout`` (one thread per CPU), on the
  standard Gymnasium MuJoCo models (Hopper-v5, Walker2d-v5, Humanoid-v5 XMLs and frame skips); an env
  step is ``frame_skip`` physics steps under one action, physics only (no observation or reward).
* ``brax-v1``: Brax v1, the paper's physics (brax 0.1.2 under jax 0.4.19, the official code's venv,
  ``--official-python``), ``jax.vmap``-ed env.step as in the official ``ec.py``.

Every measurement runs in its own fresh process; within one (task, batch) the options alternate,
for ``--rounds`` rounds. Actions are uniform in [-1, 1], fresh each env step. Episodes are not
reset (the figure is the physics' own speed; a fallen body costs about what a standing one does).
Each process compiles, then runs chunks of ``--chunk`` env steps until ``--seconds`` have passed.

    python bench/bench_physics.py --envs hopper walker2d humanoid --batches 256 1024 \\
        --official-python .venv-official/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BRAX = ("generalized", "positional", "spring", "mjx")
# Gymnasium v5: the model file and the frame skip of each task
GYM = {"hopper": ("hopper.xml", 4), "walker2d": ("walker2d_v5.xml", 4), "humanoid": ("humanoid.xml", 5)}


def _timed_chunks(run_chunk, chunk: int, batch: int, seconds: float) -> dict:
    t0 = time.perf_counter()
    run_chunk()  # compile (and, for MuJoCo, the thread pool)
    compile_s = time.perf_counter() - t0
    run_chunk()  # a Brax state after a step may differ in type from the reset one: a second compile
    steps, t0 = 0, time.perf_counter()
    while True:
        run_chunk()
        steps += chunk * batch
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
    return {"env_steps_per_s": steps / dt, "env_steps": steps, "seconds": dt, "compile_s": compile_s}


def worker_brax(env_name: str, backend: str, batch: int, chunk: int, seconds: float) -> dict:
    from importlib import metadata

    import jax
    from brax import envs

    v1 = backend == "brax-v1"
    env = envs.get_environment(env_name) if v1 else envs.get_environment(env_name, backend=backend)
    key = jax.random.PRNGKey(0)
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(key, batch))
    step = jax.vmap(env.step)

    def body(i, c):
        s, k = c
        k, ka = jax.random.split(k)
        a = jax.random.uniform(ka, (batch, env.action_size), minval=-1.0, maxval=1.0)
        return step(s, a), k

    loop = jax.jit(lambda s, k: jax.lax.fori_loop(0, chunk, body, (s, k)))
    box = [(state, key)]

    def run_chunk():
        box[0] = jax.block_until_ready(loop(*box[0]))

    r = _timed_chunks(run_chunk, chunk, batch, seconds)
    dt_env = float(env.dt) if hasattr(env, "dt") else float(env.sys.config.dt)
    r.update(option=backend, env=env_name, batch=batch, dt=dt_env, jax=jax.__version__,
             brax=metadata.version("brax"), physics=("brax v1 (0.1.2)" if v1 else f"brax {backend}"))
    return r


def worker_mujoco(env_name: str, batch: int, chunk: int, seconds: float) -> dict:
    import gymnasium
    import mujoco
    import numpy as np
    from mujoco import rollout

    xml, frame_skip = GYM[env_name]
    path = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / xml
    model = mujoco.MjModel.from_xml_path(str(path))
    nthread = os.cpu_count() or 1
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    rng = np.random.default_rng(0)
    d0 = mujoco.MjData(model)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    size = mujoco.mj_stateSize(model, spec)
    state = np.empty((batch, size))
    for b in range(batch):  # Gymnasium's reset: init qpos/qvel plus uniform noise 5e-3
        d0.qpos[:] = model.qpos0 + rng.uniform(-5e-3, 5e-3, model.nq)
        d0.qvel[:] = rng.uniform(-5e-3, 5e-3, model.nv)
        mujoco.mj_forward(model, d0)
        mujoco.mj_getState(model, d0, state[b], spec)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    box = [state]

    with rollout.Rollout(nthread=nthread) as ro:
        def run_chunk():
            a = rng.uniform(-1.0, 1.0, (batch, chunk, model.nu))
            ctrl = np.repeat(np.clip(a, lo, hi), frame_skip, axis=1)  # one action held frame_skip steps
            st, _ = ro.rollout(model, datas, box[0], ctrl, nstep=chunk * frame_skip)
            box[0] = st[:, -1]

        r = _timed_chunks(run_chunk, chunk, batch, seconds)
    r.update(option="mujoco", env=env_name, batch=batch, dt=float(model.opt.timestep * frame_skip),
             threads=nthread, mujoco=mujoco.__version__, model=f"gymnasium {gymnasium.__version__} {xml}",
             physics=f"mujoco {mujoco.__version__} C (mujoco.rollout, {nthread} threads)")
    return r


def _run(cmd: list[str], timeout: float | None = None) -> dict:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s (killed)"}
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return {"error": tail[0][:300]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["hopper", "walker2d", "humanoid"])
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--options", nargs="+", default=[*BRAX, "mujoco", "brax-v1"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=20, help="env steps per jitted call")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per process (at least)")
    ap.add_argument("--official-python", help="python of the official code's venv (for brax-v1)")
    ap.add_argument("--worker-timeout", type=float, default=900,
                    help="seconds before a worker (compile included) is killed and its row marked failed")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--tag", default="physics")
    ap.add_argument("--worker", nargs=3, metavar=("OPTION", "ENV", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        opt, env, batch = args.worker[0], args.worker[1], int(args.worker[2])
        r = (worker_mujoco(env, batch, args.chunk, args.seconds) if opt == "mujoco"
             else worker_brax(env, opt, batch, args.chunk, args.seconds))
        print(json.dumps(r))
        return 0
    options = [o for o in args.options if o != "brax-v1" or args.official_python]
    skipped = [o for o in args.options if o not in options]
    common = ["--chunk", str(args.chunk), "--seconds", str(args.seconds)]
    raw = []
    for env in args.envs:
        for batch in args.batches:
            for rnd in range(args.rounds):
                for opt in options:
                    py = args.official_python if opt == "brax-v1" else sys.executable
                    load = os.getloadavg()[0]
                    print(f"[bench physics] {env} batch {batch} round {rnd + 1}: {opt} (load {load:.1f})",
                          file=sys.stderr, flush=True)
                    r = _run([py, __file__, "--worker", opt, env, str(batch), *common], args.worker_timeout)
                    r.update(option=opt, env=env, batch=batch, round=rnd, load1_before=load)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                    raw.append(r)
    table = []
    for env in args.envs:
        for batch in args.batches:
            ref = None
            rows = []
            for opt in options:
                rs = [r for r in raw if (r["env"], r["batch"], r["option"]) == (env, batch, opt)]
                ok = [r["env_steps_per_s"] for r in rs if "env_steps_per_s" in r]
                row = {"env": env, "batch": batch, "option": opt, "raw": ok,
                       "median": statistics.median(ok) if ok else None,
                       "dt": next((r["dt"] for r in rs if "dt" in r), None),
                       "physics": next((r["physics"] for r in rs if "physics" in r), opt),
                       "error": next((r["error"] for r in rs if "error" in r), None)}
                if opt == "positional":
                    ref = row["median"]
                rows.append(row)
            for row in rows:
                row["over_positional"] = row["median"] / ref if (ref and row["median"]) else None
            table += rows
    loads = [r["load1_before"] for r in raw]
    summary = {"command": "python bench/bench_physics.py " + " ".join(sys.argv[1:]),
               "cpus": os.cpu_count(), "uptime_end": subprocess.run(["uptime"], capture_output=True,
                                                                     text=True).stdout.strip(),
               "not_run": skipped, "table": table, "raw": raw}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.tag}.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["# Physics alone on CPU: env steps/s", "", "Made by (every figure from this one run):", "",
             "    " + summary["command"], "",
             f"{summary['cpus']} CPUs shared with other jobs; load average (1 min) {min(loads):.1f} to "
             f"{max(loads):.1f} before the processes, `{summary['uptime_end']}` at the end. {args.rounds} "
             "rounds, the options alternating in fresh processes; medians, raw figures per round. "
             "dt: simulated seconds per env step.", ""]
    if skipped:
        lines += [f"Not run: {', '.join(skipped)} (brax-v1 needs --official-python).", ""]
    lines += ["| task | batch | physics | dt | median env steps/s | raw | over Brax positional |",
              "|---|---:|---|---:|---:|---|---:|"]
    for row in table:
        med = f"{row['median']:,.0f}" if row["median"] else f"failed: {row['error']}"
        ratio = f"{row['over_positional']:.2f}x" if row["over_positional"] else "-"
        dt = f"{row['dt']:.4f}" if row["dt"] else "-"
        lines.append(f"| {row['env']} | {row['batch']} | {row['physics']} | {dt} | {med} | "
                     + " / ".join(f"{v:,.0f}" for v in row["raw"]) + f" | {ratio} |")
    lines.append("")
    (args.out / f"{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
