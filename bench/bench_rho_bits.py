"""Does EC learn as well with the integer sampling rule (rho quantized to b bits) as with float sampling?

    python bench/bench_rho_bits.py --bits 0 12 --seeds 0 1 --generations 20 --population 128 \
        --neurons 64 --episode-len 200 --tag rho_bits

Trains EC (integer core model) on hopper with each sampling rule, the same seeds and the same random
words (``--bits 0`` is float sampling, ``uniform < rho`` with the 24-bit uniform taken from the same
Threefry word; b > 0 is ``(word >> (32 - b)) < rint(rho * 2**b)``), and writes per-generation returns,
a plot and a markdown report to bench/results/<tag>.{json,png,md} with this command line. It also
tabulates, per b, the sampling-probability error and the block RAM that rho would take at N = 256
(arithmetic, not synthesis: RAMB36 as 1024 x 36 bits, floor(36 / b) values per word).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def trainer(args, bits: int):
    from evoconn.training import ec
    from evoconn.training.trainer import TrainConfig, Trainer

    cfg = TrainConfig(env=args.env, population=args.population, neurons=args.neurons,
                      episode_len=args.episode_len, generations=args.generations)
    t = Trainer(cfg)
    t.ec_params = ec.ECParams(lr=cfg.lr, clip_eps=cfg.clip_eps, rho_bits=bits or None)
    return t


def run_one(args, t, bits: int, seed: int, log) -> list[dict]:
    """One run of ``seed`` on trainer ``t`` (one compile per rule): the keys Trainer.init and
    Trainer.gen_key make for a config with this seed."""
    import jax

    root = jax.random.PRNGKey(seed)
    s = t._init(*jax.random.split(root))
    rows = []
    t0 = time.perf_counter()
    for g in range(args.generations):
        s, m = t.generation(s, jax.random.fold_in(root, g + 1))
        m = {k: float(v) for k, v in jax.device_get(m).items()}
        row = {"bits": bits, "seed": seed, "generation": g + 1, "eval": m["eval/fitness"],
               "train_mean": m["train/fitness_mean"], "mean_rho": m["train/mean_rho"],
               "entropy": m["train/entropy"], "wall_s": time.perf_counter() - t0}
        rows.append(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
    print(f"bits={bits} seed={seed}: eval {rows[-1]['eval']:.1f} train {rows[-1]['train_mean']:.1f} "
          f"({rows[-1]['wall_s']:.0f} s)", flush=True)
    return rows


def ram_table(bits_list: list[int]) -> list[dict]:
    from evoconn.spec import Spec

    s = Spec(n_neurons=256, obs_dim=11, act_dim=3)  # hopper at N = 256
    entries = {k: math.prod(v) for k, v in s.mask_shapes.items()}
    out = []
    for b in bits_list:
        if b == 0:
            continue
        per_word = 36 // b
        bram = sum(math.ceil(math.ceil(e / per_word) / 1024) for e in entries.values())
        out.append({"bits": b, "max_prob_error": 2.0 ** -(b + 1), "min_rho_q_at_clip": round(1e-3 * 2 ** b),
                    "values_per_36bit_word": per_word, "ramb36_for_rho_n256": bram})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="hopper")
    p.add_argument("--bits", type=int, nargs="+", default=[0, 12])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--generations", type=int, default=20)
    p.add_argument("--population", type=int, default=128)
    p.add_argument("--neurons", type=int, default=64)
    p.add_argument("--episode-len", type=int, default=200)
    p.add_argument("--tag", default="rho_bits")
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / f"{args.tag}.jsonl"
    t0 = time.perf_counter()
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    with log_path.open("w") as log:
        for bits in args.bits:
            t = trainer(args, bits)
            for seed in args.seeds:
                rows += run_one(args, t, bits, seed, log)
    total = time.perf_counter() - t0
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    cmd = "python bench/bench_rho_bits.py " + " ".join(sys.argv[1:] if argv is None else argv)
    res = {"command": cmd, "config": vars(args), "total_s": total, "uptime_before": load_before,
           "uptime_after": load_after, "rows": rows, "ram": ram_table(args.bits)}
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(res, indent=1) + "\n")
    log_path.unlink()
    report(res, args)
    return 0


def _label(b: int) -> str:
    return "float (uniform < rho)" if b == 0 else f"b = {b}"


def report(res: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = res["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lines = []
    for b in args.bits:
        ev = np.array([[r["eval"] for r in rows if r["bits"] == b and r["seed"] == s] for s in args.seeds])
        tr = np.array([[r["train_mean"] for r in rows if r["bits"] == b and r["seed"] == s] for s in args.seeds])
        x = np.arange(1, ev.shape[1] + 1)
        for ax, y in ((axes[0], tr), (axes[1], ev)):
            ax.plot(x, y.mean(0), label=_label(b))
            ax.fill_between(x, y.min(0), y.max(0), alpha=0.15)
        last = min(5, ev.shape[1])
        lines.append(f"| {_label(b)} | {tr[:, -last:].mean():.1f} ({tr[:, -last:].mean(1).min():.1f} to "
                     f"{tr[:, -last:].mean(1).max():.1f}) | {ev[:, -last:].mean():.1f} "
                     f"({ev[:, -last:].mean(1).min():.1f} to {ev[:, -last:].mean(1).max():.1f}) |")
    for ax, t in zip(axes, ("train mean return", "eval return (rho > 0.5)"), strict=True):
        ax.set_xlabel("generation")
        ax.set_title(t)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"EC-int on {args.env}: sampling rule (pop {args.population}, N {args.neurons}, cap "
                 f"{args.episode_len}, seeds {args.seeds}; band: min to max over seeds)")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{args.tag}.png", dpi=90)
    ram = "\n".join(f"| {r['bits']} | {r['max_prob_error']:.2e} | {r['min_rho_q_at_clip']} | "
                    f"{r['values_per_36bit_word']} | {r['ramb36_for_rho_n256']} |" for r in res["ram"])
    md = f"""# The sampling rule: rho quantized to b bits vs float sampling

Made by (results in the JSON and PNG of the same name):

    {res['command']}

{args.env}, EC on the integer core model, population {args.population}, N = {args.neurons}, episode cap
{args.episode_len}, {args.generations} generations, seeds {args.seeds}; every arm draws the same Threefry words
(same keys), only the comparison differs. All runs together: {res['total_s'] / 60:.1f} min on a shared,
loaded machine (`uptime` before: `{res['uptime_before']}`; after: `{res['uptime_after']}`).

Mean over the last 5 generations and seeds (min to max over seeds):

| rule | train mean return | eval return |
|---|---:|---:|
{chr(10).join(lines)}

![curves]({args.tag}.png)

What b costs (arithmetic, not synthesis): the largest difference between rho and the probability a
bit is drawn with (2^-(b+1)), rho_q at the clip limit 1e-3, and the RAMB36 (1024 x 36 bits, floor(36/b)
values per word) that rho takes for hopper at N = 256 (mask_in 22 x 256, mask_h 256 x 256, mask_out 256 x 3):

| b | max prob. error | rho_q at rho = 1e-3 | values per 36-bit word | RAMB36 for rho |
|---:|---:|---:|---:|---:|
{ram}
"""
    (RESULTS / f"{args.tag}.md").write_text(md)


if __name__ == "__main__":
    sys.exit(main())
