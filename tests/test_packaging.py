"""One distribution, one import namespace: no bare `host`, `hw`, `sim` or `training` module."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_everything_under_evoconn(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
         str(ROOT)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("evoconn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"evoconn"}
    for sub in ("host", "hw", "sim", "training"):
        assert f"evoconn/{sub}/__init__.py" in names, sub
    assert "evoconn/spec.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evoconn = evoconn.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
