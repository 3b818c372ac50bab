"""Resume from any moment (issue 16): ``evoconn train`` killed with SIGKILL before its first
checkpoint, in the middle of a checkpoint write, between a metrics line and the next checkpoint,
and at a random moment, then resumed each time; the metrics (all but timing) and the best artifact
equal the uninterrupted run's.

The moments are reached deterministically by a driver (``kill_driver.py``, beside this file) that
runs the real ``evoconn.cli.main`` in the child process and SIGKILLs it from inside at the chosen
point: just after ``config.json`` is written, just before ``os.replace`` renames the Nth checkpoint
into place (its temporary file complete, the old checkpoint still there), or right after the
metrics line of generation G is flushed. Nothing in the library knows about it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evoconn.artifact import load_artifact

HERE = Path(__file__).resolve().parent
ARGS = ["--env", "inverted_double_pendulum", "--neurons", "16", "--episode-len", "60",
        "--population", "16", "--generations", "9", "--checkpoint-every", "3", "--no-progress"]
TIMING = ("wall_time", "gen_time", "env_steps_per_s")
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
LIMIT = 600  # seconds for one child; a compile on a loaded 2-core machine takes minutes


def _rows(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _driver(run: Path, kill: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "kill_driver.py"), kill, "train", *argv],
                          env=ENV, capture_output=True, text=True, timeout=LIMIT, cwd=run.parent)


def _assert_killed(res: subprocess.CompletedProcess, what: str) -> None:
    assert res.returncode == -signal.SIGKILL, f"{what}: exit {res.returncode}\n{res.stderr[-2000:]}"


def _same_artifact(a: Path, b: Path) -> None:
    x, y = load_artifact(a), load_artifact(b)
    for k in x.masks:
        np.testing.assert_array_equal(x.masks[k], y.masks[k])
        np.testing.assert_array_equal(x.probs[k], y.probs[k])
    np.testing.assert_array_equal(x.normalizer.mean, y.normalizer.mean)
    np.testing.assert_array_equal(x.normalizer.var, y.normalizer.var)
    assert x.normalizer.count == y.normalizer.count
    drop = ("git_revision",)
    assert {k: v for k, v in x.manifest.items() if k not in drop} == \
           {k: v for k, v in y.manifest.items() if k not in drop}


@pytest.mark.slow
def test_killed_at_any_moment_and_resumed_equals_uninterrupted(tmp_path):
    full = tmp_path / "full"
    res = subprocess.run([sys.executable, "-m", "evoconn.cli", "train", *ARGS, "--out", str(full)],
                         env=ENV, capture_output=True, text=True, timeout=LIMIT)
    assert res.returncode == 0, res.stderr

    cut = tmp_path / "cut"
    # 1. before the first checkpoint: right after config.json is written
    _assert_killed(_driver(cut, "after-config", *ARGS, "--out", str(cut)), "after config.json")
    assert (cut / "config.json").exists() and not (cut / "checkpoint.npz").exists()
    # (a fresh start there is refused with a pointer to --resume, which must work)
    # 2. in the middle of the 2nd checkpoint write (generation 3): its temporary file complete,
    #    not yet renamed into place
    _assert_killed(_driver(cut, "replace:checkpoint.npz:2", "--resume", str(cut)), "mid-checkpoint")
    # 3. between a metrics line and the next checkpoint: after generation 5's line (checkpoint at 3)
    _assert_killed(_driver(cut, "metrics:5", "--resume", str(cut)), "after a metrics line")
    assert len(_rows(cut)) == 5
    # 4. a random moment of a resumed run (seeded, so a failure replays)
    rng = random.Random(int(os.environ.get("EVOCONN_KILL_SEED", "16")))
    p = subprocess.Popen([sys.executable, "-m", "evoconn.cli", "train", "--resume", str(cut)],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + LIMIT
    while time.time() < deadline and len((cut / "metrics.jsonl").read_text().splitlines()) <= 5:
        if p.poll() is not None:
            break
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.0))
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    # finally, to the end
    res = subprocess.run([sys.executable, "-m", "evoconn.cli", "train", "--resume", str(cut)],
                         env=ENV, capture_output=True, text=True, timeout=LIMIT)
    assert res.returncode == 0, res.stderr

    assert _rows(cut) == _rows(full)
    assert [r["generation"] for r in _rows(cut)] == list(range(1, 10))
    _same_artifact(full / "best", cut / "best")
