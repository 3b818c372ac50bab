"""Run under the board env (.venv-board: real pynq 4.0, numpy<2): our overlay through pynq's own parser.

``pynq.Overlay("evoconn.bit")`` with a ``.hwh`` shaped as Vivado writes one for our block design
(tests/host/hwh_fixture.py). Everything is pynq's own code (Bitstream, Overlay, the pynqmetadata
HWH frontend and RuntimeMetadataParser, ip_dict, the driver registry and DefaultIP, MMIO, Clocks
on the Zynq SLCR registers, bit2bin on the .bit) except the lowest layer, the Device: there is no
FPGA manager to write the bitstream to, no /dev/mem and no XRT here. The stand-in device is
tests/host/pynq_device.py's.

Then the evoconn CLI (``flash``, ``rollout --backend pynq --report``) runs on it, and every error
from pynq (no device, bad .hwh, no IP of our type, a bus error) must come out as one line and exit 2.
Prints one JSON line with what it checked; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pynq

sys.path.insert(0, str(Path(__file__).parent))
from hwh_fixture import write_overlay
from pynq_device import OverlayStandIn, RegisterArray, cli

from evoconn import ip
from evoconn.artifact import Artifact, Normalizer, save_artifact
from evoconn.host.bus import FakeBus
from evoconn.spec import Spec

SPEC = Spec(n_neurons=32, obs_dim=3, act_dim=1, substeps=8)  # Pendulum-v1: d=3, a=1
LANES = 8  # not the default 16: the report must print what the core's LANES register says
RANGE = max(4096, SPEC.register_map(LANES).size)  # the block design's range: the map, at least 4 KiB
result: dict = {"pynq": pynq.__version__, "numpy": np.__version__}



def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return lines[0]


tmp = Path(tempfile.mkdtemp(prefix="evoconn-overlay-"))
bit = write_overlay(tmp / "ol", SPEC, LANES)
errors: dict[str, str] = {}

# 1. No device at all: pynq's own "No Devices Found", as one line.
code, _, err = cli("flash", "--overlay", str(bit))
errors["no_device"] = one_line_error(code, err, "pynq could not load", "No Devices Found")

dev = OverlayStandIn()
dev.fake = FakeBus(SPEC, lanes=LANES, busy_polls=1)
pynq.Device.active_device = dev

# 2. pynq.Overlay itself: the core is ip_dict["evoconn_core"], of our VLNV, and its attribute is our driver.
from evoconn.host.driver import EvoconnCoreDriver  # noqa: E402
from evoconn.host.overlay import open_board  # noqa: E402

try:  # pynq alone: an enabled FCLK0 whose rate its parser did not find (see host/overlay.py)
    pynq.Overlay(str(bit))
    result["plain_overlay"] = "loaded"
except TypeError as e:
    result["plain_overlay"] = f"TypeError: {e}"
ol = open_board(bit).overlay  # pynq.Overlay, with the Zynq-7000 clock rate filled in (host/overlay.py)
desc = ol.ip_dict[ip.CELL]
assert desc["type"] == ip.VLNV and desc["phys_addr"] == 0x4000_0000 and desc["addr_range"] == RANGE, desc
drv = getattr(ol, ip.CELL)
assert type(drv) is EvoconnCoreDriver, type(drv)
core = drv.core(SPEC)
assert core.lanes == LANES and core.spec.hash == SPEC.hash
result.update(ip_dict_key=ip.CELL, type=desc["type"], driver=type(drv).__name__, downloads=len(dev.downloads),
              bin_bytes=dev.downloads[-1], clock_dict_fclk0=ol.clock_dict[0]["frequency"])

# 3. evoconn flash: loads, finds the core by VLNV (the cell is not named "evoconn"), reads the clock pynq set.
code, out, err = cli("flash", "--overlay", str(bit))
assert code == 0, err
assert f"core {ip.CELL} at 0x40000000 ({RANGE} bytes)" in out, out
assert f"lanes {LANES}" in out and "PL clock 100.0 MHz" in out, out
result["flash"] = out.strip().splitlines()

# 3b. An overlay from the flow before the IP was packaged: a module-reference cell named "core" (the
#     name the old host's search for "evoconn" missed); the VLNV finds it.
old = write_overlay(tmp / "old", SPEC, LANES, vlnv=ip.MODULE_REF_VLNV, cell="core")
code, out, err = cli("flash", "--overlay", str(old))
assert code == 0, err
assert "core core at 0x40000000" in out, out
result["old_flow_cell"] = "core"

# 4. rollout --backend pynq --report: the report's lanes are the core's LANES register, not 16.
rng = np.random.default_rng(0)
probs = {k: rng.random(s).astype(np.float32) for k, s in SPEC.mask_shapes.items()}
masks = {k: v > 0.5 for k, v in probs.items()}
norm = Normalizer(mean=np.zeros(SPEC.obs_dim), var=np.ones(SPEC.obs_dim), count=1.0)
art = tmp / "art"
save_artifact(art, Artifact(spec=SPEC, masks=masks, probs=probs, normalizer=norm, manifest={"env": "Pendulum-v1"}))
code, out, err = cli("rollout", "--artifact", str(art), "--backend", "pynq", "--overlay", str(bit), "--episodes",
                     "1", "--max-steps", "5", "--report", "--json")
assert code == 0, err
rep = json.loads(out)
assert rep["report"]["lanes"] == LANES and rep["report"]["clock_mhz"] == 100.0, rep["report"]
result["rollout_report_lanes"] = rep["report"]["lanes"]

# 5. The same rollout on the fake backend gives the same returns (the overlay path changes no integer).
code, out2, err = cli("rollout", "--artifact", str(art), "--backend", "fake", "--lanes", str(LANES),
                      "--episodes", "1", "--max-steps", "5", "--json")
assert code == 0, err
assert json.loads(out2)["returns"] == rep["returns"], (out2, rep["returns"])

# 6. Errors from pynq, one line each.
bad = tmp / "bad"
bad_bit = write_overlay(bad, SPEC, LANES)
bad_bit.with_suffix(".hwh").write_text(bad_bit.with_suffix(".hwh").read_text()[:5000])  # truncated XML
code, _, err = cli("flash", "--overlay", str(bad_bit))
errors["bad_hwh"] = one_line_error(code, err, "pynq could not load")

other = write_overlay(tmp / "other", SPEC, LANES, vlnv="xilinx.com:ip:axi_gpio:2.0", cell="axi_gpio_0")
code, _, err = cli("flash", "--overlay", str(other))
errors["no_core"] = one_line_error(code, err, "no evoconn core", "axi_gpio_0 (xilinx.com:ip:axi_gpio:2.0)")
code, _, err = cli("flash", "--overlay", str(other), "--ip", "axi_gpio_0")
errors["wrong_ip"] = one_line_error(code, err, "not an evoconn core")
code, _, err = cli("flash", "--overlay", str(bit), "--ip", "nothing")
errors["no_such_ip"] = one_line_error(code, err, "no IP 'nothing'")


class FailingStandIn(OverlayStandIn):
    def mmap(self, base_addr, length):
        arr = super().mmap(base_addr, length)
        if isinstance(arr, RegisterArray):
            arr.fail = True
        return arr


dev2 = FailingStandIn()
dev2.fake = FakeBus(SPEC, lanes=LANES)
pynq.Device.active_device = dev2
code, _, err = cli("rollout", "--artifact", str(art), "--backend", "pynq", "--overlay", str(bit), "--episodes", "1")
errors["bus_error"] = one_line_error(code, err, "pynq MMIO read at 0x0 failed", "OSError")

result.update(errors=errors, ok=True)
print(json.dumps(result))
sys.exit(0)
