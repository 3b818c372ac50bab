"""Run under the board env (.venv-board: real pynq 4.0, numpy<2, no JAX): ``evoconn train-core`` there.

    python tests/host/board_train_core.py ROOT

Into ROOT, with the same settings (Pendulum-v1 at the overlay fixture's sizes):

Settings: :data:`run_folders.ARGS`.

- ``fake``: ``train-core --backend fake`` (the numpy EC: JAX is not installed);
- ``pynq``: ``train-core --backend pynq --overlay ol.bit``: the overlay of tests/host/hwh_fixture.py
  through pynq's own parser, the core's registers behind pynq's MMIO (only the Device is a stand-in,
  tests/host/pynq_device.py);
- ``killed``: the fake run SIGKILLed right after generation 2's metrics line (before its
  checkpoint; tests/training/kill_driver.py), then ``train-core --resume``.

Prints one JSON line (what it ran with); the caller compares the folders. Exits non-zero on failure.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pynq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from hwh_fixture import write_overlay  # noqa: E402
from pynq_device import OverlayStandIn, cli  # noqa: E402
from run_folders import ARGS, LANES  # noqa: E402

from evoconn.host.bus import FakeBus  # noqa: E402
from evoconn.host.train_core import trainer_kind  # noqa: E402
from evoconn.spec import Spec  # noqa: E402

SPEC = Spec(n_neurons=32, obs_dim=3, act_dim=1, substeps=8)  # the overlay's core: what ARGS train



def run(root: Path) -> dict:
    result = {"jax_installed": importlib.util.find_spec("jax") is not None, "trainer": trainer_kind(),
              "numpy": np.__version__, "pynq": pynq.__version__}
    code, _, err = cli("train-core", "--backend", "fake", "--lanes", str(LANES), *ARGS, "--out", str(root / "fake"))
    assert code == 0, err
    result["no_matplotlib_notice"] = "no learning_curve.png" in err

    bit = write_overlay(root / "ol", SPEC, LANES)
    dev = OverlayStandIn()
    dev.fake = FakeBus(SPEC, lanes=LANES, busy_polls=1)
    pynq.Device.active_device = dev
    code, _, err = cli("train-core", "--backend", "pynq", "--overlay", str(bit), *ARGS, "--out", str(root / "pynq"))
    assert code == 0, err
    result["downloads"] = len(dev.downloads)

    killed = root / "killed"
    p = subprocess.run([sys.executable, str(HERE.parent / "training" / "kill_driver.py"), "metrics:2", "train-core",
                        "--backend", "fake", "--lanes", str(LANES), *ARGS, "--out", str(killed)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == -9, (p.returncode, p.stderr)
    result["killed_rows"] = len((killed / "metrics.jsonl").read_text().splitlines())
    code, out, err = cli("train-core", "--resume", str(killed), "--lanes", str(LANES))
    assert code == 0, err
    result["resumed_generations"] = [int(line.split()[1].rstrip(":")) for line in out.splitlines()
                                     if line.startswith("generation")]
    return result


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]))))
