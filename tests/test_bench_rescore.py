"""The like-for-like re-scoring of training comparisons (bench/bench_train.py rescore).

Built on runs whose crossings are known by construction, so each measure is checked against a
value worked out by hand, and on the committed comparisons, whose report must recompute.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "bench_train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(evals, trains, per_gen=1000):
    return [{"generation": g + 1, "env_steps": (g + 1) * per_gen, "wall_time": float(g),
             "eval/fitness": float(e), "train/fitness_mean": float(t)}
            for g, (e, t) in enumerate(zip(evals, trains, strict=True))]


def test_rescore_by_hand(bench):
    cap = 100  # thresholds 125, 150, 175
    ec = _run([100, 100, 130, 130, 130, 130, 130, 200], [80, 90, 100, 160, 160, 160, 160, 160])
    es = _run([0, 0, 0, 0, 0, 0, 0, 0], [10, 10, 10, 10, 10, 10, 10, 10])
    res = {"args": {"episode_len": cap}, "runs": {"EC-int": [ec], "ES-RSNN": [es, es]}}
    r = bench.rescore(res, window=2)
    assert r["thresholds"] == [125.0, 150.0, 175.0]
    assert r["zero_action_eval"] == [100.0] and r["random_masks_train_mean"] == [80.0]
    m = r["methods"]["EC-int"]
    # eval, 2-generation means: 100 115 130 130 130 130 165: 125 first at window index 2,
    # which ends at generation 4 (4,000 env steps); 150 at index 6 (generation 8); 175 never
    assert m["steps_to_eval"] == {"125.0": [4000], "150.0": [8000], "175.0": [None]}
    # train means: 85 95 130 160 ...: 125 and 150 first at index 2 and 3 -> generations 4 and 5
    assert m["steps_to_train"] == {"125.0": [4000], "150.0": [5000], "175.0": [None]}
    assert m["final_eval"] == [165.0] and m["final_train_mean"] == [160.0]
    # trapezoid from (0, 100) through the curve, over the whole 8,000-step budget
    ys = [100, 100, 100, 130, 130, 130, 130, 130, 200]
    area = sum((a + b) / 2 * 1000 for a, b in zip(ys, ys[1:], strict=False))
    assert m["mean_eval_over_budget"] == [pytest.approx(area / 8000, rel=1e-12)]
    es_m = r["methods"]["ES-RSNN"]
    assert es_m["seeds"] == 2 and es_m["steps_to_eval"]["125.0"] == [None, None]
    assert r["budget_env_steps"] == 8000


def test_budget_is_what_every_run_completed(bench):
    long = _run([0] * 6, [0] * 6)
    short = _run([0] * 4, [0] * 4)
    r = bench.rescore({"args": {"episode_len": 10}, "runs": {"EC-int": [long], "ES-RSNN": [short]}},
                      window=1)
    assert r["budget_env_steps"] == 4000


def test_committed_rescoring_recomputes(bench):
    """bench/results/train_compare_rescored.json is what the committed comparisons give."""
    committed = json.loads((ROOT / "bench" / "results" / "train_compare_rescored.json").read_text())
    for tag, want in committed.items():
        res = json.loads((ROOT / "bench" / "results" / f"{tag}.json").read_text())
        assert bench.rescore(res) == want


def test_separation_is_the_decision_rule(bench):
    sep = bench.separation
    names = ["EC-int", "ES-RSNN"]
    assert sep(names, [[3, 4, 5], [1, 2, 2.9]]) == "yes, EC-int higher"
    assert sep(names, [[3, 4, 5], [5, 6, 7]]) == "no"  # touching ranges do not separate
    assert sep(names, [[1, 2], [3, 4]]) == "yes, ES-RSNN higher"
    # env steps: fewer is sooner; a seed that never reached counts as later than every one that did
    assert sep(names, [[10, 12], [6, 9]], sooner=True) == "yes, ES-RSNN sooner"
    assert sep(names, [[10, None], [6, 9]], sooner=True) == "yes, ES-RSNN sooner"
    assert sep(names, [[None, None], [None, 9]], sooner=True) == "no"
    assert sep(names, [[1, 2], [None, None]], sooner=True) == "yes, EC-int sooner"
    assert sep(names, [[1, 8], [6, 9]], sooner=True) == "no"
