"""MMIOBus through the real pynq package (in its own venv, numpy<2) with pynq's Device replaced
by a stand-in whose memory map is the core's registers. Skips when the board env is absent
(``make board-env`` creates it)."""

from __future__ import annotations

import pytest

from .board_env import run_board_script


def test_mmio_bus_through_pynq():
    r = run_board_script("pynq_standin.py")
    assert r["ok"] and r["numpy"].startswith("1.")
    assert r["no_board"] == "No Devices Found"  # pynq itself, with no device
    # 3 mask windows + 1 STATE (v0) + 8 OBS: each one numpy slice copy, never a loop of words
    assert r["slice_writes"] == 3 + 1 + 8
    # the only single-word writes: RESET_STATE and 8 STARTs
    assert r["word_writes"] == 1 + 8


def test_overlay_through_pynqs_own_parser():
    """pynq.Overlay on a .hwh shaped as Vivado writes one for our block design (tests/host/hwh_fixture.py):
    the core is found by its VLNV under the cell name, bound to our driver, flashed and rolled out; every
    pynq error is one line and exit 2. Only the Device (download, mmap) is a stand-in."""
    r = run_board_script("pynq_overlay_standin.py")
    assert r["ok"] and r["pynq"] == "4.0.0" and r["numpy"].startswith("1.")
    assert r["ip_dict_key"] == "evoconn_core" and r["type"] == "evoconn:evoconn:evoconn_core:1.0"
    assert r["driver"] == "EvoconnCoreDriver" and r["downloads"] == 1 and r["bin_bytes"] > 0
    assert r["clock_dict_fclk0"] == 100.0 and r["flash"][-1] == "PL clock 100.0 MHz"
    assert r["rollout_report_lanes"] == 8
    assert r["old_flow_cell"] == "core"  # a module-reference cell named "core" is found by its VLNV
    assert set(r["errors"]) == {"no_device", "bad_hwh", "no_core", "wrong_ip", "no_such_ip", "bus_error"}
    assert all(line.startswith("evoconn ") and ": error: " in line for line in r["errors"].values())


def test_hwh_fixture_ports_are_the_cores():
    """The fixture's AXI4-Lite port list (it cannot import Amaranth in the board env) is the core's."""
    pytest.importorskip("amaranth")
    from evoconn.hw.axil import AXIL_PORTS

    from .hwh_fixture import AXIL_PORTS as FIXTURE_PORTS

    assert [tuple(p) for p in FIXTURE_PORTS] == [tuple(p) for p in AXIL_PORTS]
