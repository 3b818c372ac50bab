"""``evoconn train-core`` in the board env (.venv-board: real pynq 4.0, numpy<2, no JAX): the numpy EC
and the one loop, on the in-memory core and on ``--backend pynq`` through pynq's own overlay parser
(tests/host/board_train_core.py), and a run SIGKILLed mid-way and resumed. numpy only: `make test`
runs this file in the board env as well as in .venv (either way the runs happen in the board env).
The JAX side of the comparison is tests/host/test_train_core.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .run_folders import assert_same_run, rows

ROOT = Path(__file__).resolve().parents[2]
BOARD_PY = Path(os.environ.get("EVOCONN_BOARD_PYTHON", ROOT / ".venv-board" / "bin" / "python"))


def test_train_core_on_the_board_env_fake_pynq_and_resume(tmp_path):
    if not BOARD_PY.exists():  # under `make test` (EVOCONN_NO_SKIPS) this skip is a failure
        pytest.skip(f"no board env at {BOARD_PY} (make board-env)")
    p = subprocess.run([str(BOARD_PY), str(Path(__file__).with_name("board_train_core.py")), str(tmp_path)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["jax_installed"] is False and r["trainer"] == "numpy"
    assert r["pynq"] == "4.0.0" and r["numpy"].startswith("1.") and r["downloads"] == 1
    assert r["no_matplotlib_notice"]  # no matplotlib there: the curve is skipped with a notice
    assert not (tmp_path / "fake" / "learning_curve.png").exists()
    fit = [row["train/fitness"] for row in rows(tmp_path / "fake")]
    assert len(fit) == 3 and len(fit[0]) == 6 and len({f for g in fit for f in g}) > 1
    # the board (pynq's MMIO on the overlay) trains exactly as the in-memory core
    assert_same_run(tmp_path / "fake", tmp_path / "pynq", manifest_differs=("scored_on", "config.runner"),
                    config_differs=("runner", "config.runner"))
    # killed after generation 2's metrics line, before its checkpoint: the resume reruns generation 2
    assert r["killed_rows"] == 2 and r["resumed_generations"] == [2, 3]
    assert_same_run(tmp_path / "fake", tmp_path / "killed")
