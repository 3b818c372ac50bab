"""Training benchmarks: (a) EC generation throughput, (b) EC-int vs EC-float vs ES-RSNN efficiency.

    python bench/bench_train.py throughput --env hopper --populations 256 1024
    python bench/bench_train.py compare --env hopper --population 256 --generations 100 --seeds 0 1 2

Results (JSON, plots) go to bench/results/ with the exact command line recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def throughput(args) -> dict:
    out = []
    for pop in args.populations:
        out.append(_throughput_one(args, pop))
        print(json.dumps(out[-1]), flush=True)
    return {"throughput": out}


def _throughput_one(args, pop: int) -> dict:
    import jax
    import jax.numpy as jnp
    from evoconn.training import ec
    from evoconn.training.rollout import normalize
    from evoconn.training.trainer import TrainConfig, Trainer

    cfg = TrainConfig(env=args.env, population=pop, neurons=args.neurons, backend=args.backend,
                      episode_len=args.episode_len, model=args.model)
    t = Trainer(cfg)
    s = t.init()
    s, _ = t.generation(s, t.gen_key(0))  # compile
    t0 = time.perf_counter()
    steps = 0
    for g in range(1, 1 + args.reps):
        s, m = t.generation(s, t.gen_key(g))
        steps += int(m["gen_steps"]) * pop
    dt = time.perf_counter() - t0
    # shares: time K env steps of physics alone, of the network alone, and one update
    k = args.episode_len
    members = {kk: v[: pop] for kk, v in ec.ask(s.algo, jax.random.PRNGKey(0), pop).items()}
    pool = s.reset_pool
    act = jnp.zeros((pop, t.spec.act_dim))
    phys = jax.jit(lambda es: jax.lax.fori_loop(0, k, lambda i, e: jax.vmap(t.env.step)(e, act), es))
    prep = jax.jit(jax.vmap(t.policy.prepare))(members)
    carry = jax.jit(jax.vmap(t.policy.init_carry))(jax.random.split(jax.random.PRNGKey(1), pop))

    def net_loop(c):
        x = normalize(s.norm, pool.obs)
        return jax.lax.fori_loop(0, k, lambda i, c: jax.vmap(t.policy.apply)(prep, c, x)[0], c)

    net = jax.jit(net_loop)
    upd = jax.jit(lambda a, th, f: ec.tell(t.ec_params, a, th, f)[0])
    fit = jnp.arange(pop, dtype=jnp.float32)

    def timed(f, *a):
        jax.block_until_ready(f(*a))
        t1 = time.perf_counter()
        jax.block_until_ready(f(*a))
        return time.perf_counter() - t1

    tp, tn, tu = timed(phys, pool), timed(net, carry), timed(upd, s.algo, members, fit)
    tot = tp + tn + tu
    return {"population": pop, "env_steps_per_s": steps / dt, "generations": args.reps,
                "env_steps": steps, "seconds": dt,
                "share": {"physics": tp / tot, "network": tn / tot, "update": tu / tot},
            "isolated_steps_per_s": {"physics": pop * k / tp, "network": pop * k / tn}}


def compare(args) -> dict:
    import numpy as np
    from evoconn.training.trainer import CHECKPOINT, TrainConfig, train

    runs = {}
    variants = [("EC-int", "ec", "int"), ("EC-float", "ec", "float"), ("ES-RSNN", "es", "float")]
    pop = args.population
    for name, algo, model in variants:
        for seed in args.seeds:
            p = pop
            if algo == "es" and (p - max(1, round(p / 80))) % 2:
                p += 1  # mirrored pairs need an even number of training members
            cfg = TrainConfig(env=args.env, algo=algo, model=model, population=p,
                              generations=args.generations, neurons=args.neurons, seed=seed,
                              backend=args.backend, episode_len=args.episode_len,
                              checkpoint_every=10)
            out = Path(args.work) / f"{name}-{seed}"
            # an interrupted comparison resumes where it stopped: finished runs are read back,
            # a run cut off mid-way continues from its last checkpoint
            train(cfg, out, resume=(out / CHECKPOINT).exists())
            rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            runs.setdefault(name, []).append(
                [{k: r[k] for k in ("generation", "env_steps", "wall_time", "eval/fitness",
                                    "train/fitness_mean")} for r in rows])
            print(name, seed, rows[-1]["eval/fitness"], rows[-1]["wall_time"], flush=True)
    # env steps EC needs to reach ES-RSNN's final return (mean over seeds of a 5-gen smoothed curve)
    def smooth(rs, key):
        v = np.array([r[key] for r in rs])
        return np.convolve(v, np.ones(5) / 5, mode="valid") if len(v) >= 5 else v

    es_final = float(np.mean([smooth(r, "train/fitness_mean")[-1] for r in runs["ES-RSNN"]]))
    es_steps = float(np.mean([r[-1]["env_steps"] for r in runs["ES-RSNN"]]))
    ratio = {}
    for name in ("EC-int", "EC-float"):
        need = []
        for r in runs[name]:
            sm = smooth(r, "train/fitness_mean")
            hit = np.nonzero(sm >= es_final)[0]
            need.append(r[hit[0] + min(4, len(r) - 1)]["env_steps"] if len(hit) else None)
        ok = [n for n in need if n is not None]
        ratio[name] = {"env_steps_to_reach_es_final": need,
                       "es_steps_over_ec_steps": es_steps / float(np.mean(ok)) if ok else None}
    _plot(runs, args)
    return {"es_final_train_mean": es_final, "ratio": ratio, "runs": runs}


def _plot(runs, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, rs in runs.items():
        for i, r in enumerate(rs):
            for ax, x in zip(axes, ("env_steps", "wall_time"), strict=True):
                ax.plot([q[x] for q in r], [q["eval/fitness"] for q in r],
                        color={"EC-int": "C0", "EC-float": "C1", "ES-RSNN": "C2"}[name],
                        alpha=0.8, label=name if i == 0 else None)
    for ax, x in zip(axes, ("env steps", "wall time (s, 2-core CPU)"), strict=True):
        ax.set_xlabel(x)
        ax.set_ylabel("eval return")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{args.env}, population {args.population}, N={args.neurons}, "
                 f"episode cap {args.episode_len}, seeds {args.seeds}")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{args.tag}.png", dpi=90)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="which", required=True)
    for name in ("throughput", "compare"):
        q = sub.add_parser(name)
        q.add_argument("--env", default="hopper")
        q.add_argument("--backend", default="positional")
        q.add_argument("--neurons", type=int, default=256)
        q.add_argument("--episode-len", type=int, default=1000)
        q.add_argument("--tag", default=None, help="result file name (default: the subcommand)")
    q = sub.choices["throughput"]
    q.add_argument("--populations", type=int, nargs="+", default=[256, 1024])
    q.add_argument("--reps", type=int, default=2)
    q.add_argument("--model", default="int")
    q = sub.choices["compare"]
    q.add_argument("--population", type=int, default=256)
    q.add_argument("--generations", type=int, default=100)
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--work", default="runs/bench-compare")
    args = p.parse_args(argv)
    args.tag = args.tag or f"train_{args.which}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    import jax

    res = throughput(args) if args.which == "throughput" else compare(args)
    from importlib import metadata

    res["command"] = "python bench/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    res["env"] = {"jax": jax.__version__, "brax": metadata.version("brax"),
                  "backend": args.backend, "devices": [str(d) for d in jax.devices()]}
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
