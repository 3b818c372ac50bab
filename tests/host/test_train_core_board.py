"""``evoconn train-core`` in the board env (.venv-board: real pynq 4.0, numpy<2, no JAX): the numpy EC
and the one loop, on the in-memory core and on ``--backend pynq`` through pynq's own overlay parser
(tests/host/board_train_core.py), and a run SIGKILLed mid-way and resumed. numpy only: `make test`
runs this file in the board env as well as in .venv (either way the runs happen in the board env).
The JAX side of the comparison is tests/host/test_train_core.py."""

from __future__ import annotations

from .board_env import run_board_script
from .run_folders import assert_same_run, rows


def test_train_core_on_the_board_env_fake_pynq_and_resume(tmp_path):
    r = run_board_script("board_train_core.py", str(tmp_path), timeout=600)
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
