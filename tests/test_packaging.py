"""One distribution, one import namespace: no bare `host`, `hw`, `sim` or `training` module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_everything_under_evoconn(tmp_path):
    # build from the tracked files alone, as a clean clone would: a checkout's stale
    # *.egg-info/SOURCES.txt makes setuptools ship files that a clean build would leave out
    src = tmp_path / "src"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("evoconn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"evoconn"}
    for sub in ("host", "hw", "sim", "training"):
        assert f"evoconn/{sub}/__init__.py" in names, sub
    assert "evoconn/spec/__init__.py" in names
    for task in ("hopper", "walker2d", "humanoid"):  # the paper presets travel with the wheel
        assert f"evoconn/training/configs/paper-{task}.json" in names, task
        assert f"evoconn/training/configs/paper-{task}-int.json" in names, task
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evoconn = evoconn.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
