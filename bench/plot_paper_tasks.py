"""EC on the integer core against EC on the float model, one figure per task, from committed runs.

Reads ``bench/results/paper_tasks/<env>_ec_{int,float}_metrics.jsonl`` (each a run's
``metrics.jsonl`` as ``evoconn train`` wrote it) and draws the eval return and the train mean over
env steps for both models, with each run's own baselines (:func:`evoconn.training.loop.baselines`:
generation 1's eval copies, every mask off at rho = 0.5, score the zero action; its training
members are random masks at p = 0.5). Writes ``<env>_int_vs_float.png`` beside them.

``--table`` prints instead the Markdown tables of bench/results/paper_tasks/README.md (every
figure read from the metrics files).

Usage::

    python bench/plot_paper_tasks.py walker2d humanoid
    python bench/plot_paper_tasks.py --table walker2d humanoid
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from evoconn.training.loop import baselines

RESULTS = Path(__file__).resolve().parent / "results" / "paper_tasks"


GENERATIONS = (1, 10, 20, 30, 40, 50, 60, 90, 120, 150)


def _rows(env: str, model: str) -> list[dict]:
    path = RESULTS / f"{env}_ec_{model}_metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(env: str) -> str:
    """Both models' rows at :data:`GENERATIONS`, then each run's best eval and wall time."""
    out = ["| model | generation | env steps | train mean | eval | train max | mean ρ | density (ρ > 0.5) "
           "| entropy (bits) | firing (spikes/ms) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for model in ("int", "float"):
        rows = _rows(env, model)
        for g in GENERATIONS:
            if g <= len(rows):
                r = rows[g - 1]
                out.append(f"| EC-{model} | {g} | {r['env_steps'] / 1e6:.2f} M | {r['train/fitness_mean']:,.0f} | "
                           f"{r['eval/fitness']:,.0f} | {r['train/fitness_max']:,.0f} | {r['train/mean_rho']:.3f} | "
                           f"{r['train/density']:.3f} | {r['train/entropy']:.2f} | {r['train/firing_rate']:.3f} |")
        best = max(rows, key=lambda r: r["eval/fitness"])
        last10 = [r["eval/fitness"] for r in rows[-10:]]
        notes.append(f"EC-{model}: best eval {best['eval/fitness']:,.0f} (generation {best['generation']}), mean eval "
                     f"of the last 10 generations {sum(last10) / len(last10):,.0f}, {len(rows)} generations in "
                     f"{rows[-1]['wall_time']:,.0f} s of wall time.")
    return "\n".join(out) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--table":
        for env in argv[1:] or ["walker2d", "humanoid"]:
            print(f"## {env}\n\n{table(env)}\n")
        return 0
    for env in argv or ["walker2d", "humanoid"]:
        fig, ax = plt.subplots(figsize=(7, 4))
        for model, color in (("int", "tab:blue"), ("float", "tab:orange")):
            rows = _rows(env, model)
            steps = [r["env_steps"] for r in rows]
            ax.plot(steps, [r["eval/fitness"] for r in rows], color=color, label=f"EC-{model}: eval")
            ax.plot(steps, [r["train/fitness_mean"] for r in rows], color=color, ls="--", lw=1,
                    label=f"EC-{model}: train mean")
            for label, value in baselines(types.SimpleNamespace(algo="ec"), rows).items():
                ax.axhline(value, color=color, ls=":" if label.startswith("zero") else "-.", lw=0.8, alpha=0.6)
        ax.plot([], [], color="gray", ls=":", lw=0.8, label="zero action (generation 1's eval)")
        ax.plot([], [], color="gray", ls="-.", lw=0.8, label="random masks (generation 1's train mean)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("return")
        ax.set_title(f"EC on {env}: integer core vs float model\n"
                     "(population 256, N = 64, Brax spring, seed 0)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        out = RESULTS / f"{env}_int_vs_float.png"
        fig.savefig(out, dpi=90)
        plt.close(fig)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
