"""The board env (.venv-board: the real pynq 4.0, numpy<2, no JAX) as the tests reach it: its Python,
and a script run there whose last stdout line is its JSON result. numpy-free, so that it imports in
either venv."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

__all__ = ["BOARD_PY", "ROOT", "board_python", "run_board_script"]

ROOT = Path(__file__).resolve().parents[2]
BOARD_PY = Path(os.environ.get("EVOCONN_BOARD_PYTHON", ROOT / ".venv-board" / "bin" / "python"))


def board_python() -> Path:
    """The board env's Python; skips the test where there is none (under `make test`, with
    EVOCONN_NO_SKIPS, that skip is a failure)."""
    if not BOARD_PY.exists():
        pytest.skip(f"no board env at {BOARD_PY} (make board-env)")
    return BOARD_PY


def run_board_script(name: str, *args: str, timeout: float = 300) -> dict:
    """Run ``tests/host/<name>`` in the board env; it must exit 0, and its last line is the result."""
    p = subprocess.run([str(board_python()), str(Path(__file__).with_name(name)), *args],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])
