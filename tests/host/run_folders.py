"""Compare two training run folders (metrics.jsonl, checkpoint.npz, best/, config.json) exactly.

numpy only, so the board env's tests use it too. Timing fields are the only values left out
(:data:`TIMING`); the callers name what else may differ (the backend a run was scored on, the
versions of the environment it ran in)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evoconn.artifact import load_artifact

#: the board env's train-core runs (tests/host/board_train_core.py) and their JAX twin: Pendulum-v1 at the
#: sizes of the overlay fixture (tests/host/hwh_fixture.py, as tests/host/pynq_overlay_standin.py writes it)
LANES = 8
ARGS = ["--env", "Pendulum-v1", "--neurons", "32", "--substeps", "8", "--population", "6", "--generations", "3",
        "--max-steps", "15", "--seed", "3", "--checkpoint-every", "1"]

#: per-row wall-clock fields (the checkpoint's meta has wall_time too)
TIMING = ("wall_time", "gen_time", "env_steps_per_s", "score_s")


def rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _drop(d: dict, keys: tuple[str, ...]) -> dict:
    """``d`` without ``keys``; ``config.X`` drops X from the nested ``config``."""
    d = {k: v for k, v in d.items() if k not in keys}
    nested = tuple(k.removeprefix("config.") for k in keys if k.startswith("config."))
    if nested and "config" in d:
        d["config"] = {k: v for k, v in d["config"].items() if k not in nested}
    return d


def assert_same_run(a: Path, b: Path, *, manifest_differs: tuple[str, ...] = (),
                    config_differs: tuple[str, ...] = ()) -> None:
    """The same metrics (timing aside), checkpoint leaves and meta, best/ masks, probabilities,
    normalizer and manifest, and config.json, bit for bit."""
    ra, rb = rows(a), rows(b)
    assert ra and ra == rb, (ra, rb)
    with np.load(a / "checkpoint.npz") as za, np.load(b / "checkpoint.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for f in za.files:
            if f == "meta":
                ma, mb = (json.loads(str(z["meta"])) for z in (za, zb))
                assert _drop(ma, ("wall_time",)) == _drop(mb, ("wall_time",)), (ma, mb)
            else:
                assert za[f].dtype == zb[f].dtype, f
                np.testing.assert_array_equal(za[f], zb[f], err_msg=f)
    x, y = load_artifact(a / "best"), load_artifact(b / "best")
    assert x.spec == y.spec and set(x.masks) == set(y.masks)
    for k in x.masks:
        np.testing.assert_array_equal(x.masks[k], y.masks[k], err_msg=k)
        np.testing.assert_array_equal(x.probs[k], y.probs[k], err_msg=k)
    for f in ("mean", "var"):
        np.testing.assert_array_equal(getattr(x.normalizer, f), getattr(y.normalizer, f))
    assert x.normalizer.count == y.normalizer.count
    assert _drop(x.manifest, manifest_differs) == _drop(y.manifest, manifest_differs)
    ca, cb = (json.loads((r / "config.json").read_text()) for r in (a, b))
    assert _drop(ca, config_differs) == _drop(cb, config_differs), (ca, cb)
