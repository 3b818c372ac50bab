"""The out-of-context Vivado timing script (``evoconn hw timing``), without Vivado.

No Vivado runs here. The generated ``timing.tcl`` is run by a real Tcl interpreter (Python's
tkinter) in which the Vivado commands it calls are stand-ins returning chosen slacks and path
properties: the script's own logic (period, met, Fmax, the JSON it writes, quoting) is exercised,
and the JSON must parse with the values put in. Vivado's behaviour itself is not tested.
"""

from __future__ import annotations

import json

import pytest

from evoconn.spec import Spec

tkinter = pytest.importorskip("tkinter")

#: Stand-ins for the Vivado commands timing.tcl calls; slacks and path properties from Tcl globals.
STUBS = r"""
set calls {}
foreach cmd {read_verilog synth_design create_clock opt_design place_design phys_opt_design route_design
             report_timing_summary report_utilization} {
  proc $cmd {args} [string map [list CMD $cmd] {lappend ::calls [list CMD {*}$args]; return ""}]
}
proc get_ports {name} { return $name }
proc version {args} { return "2024.1" }
proc get_timing_paths {args} {
  if {[lsearch $args max] >= 0} { return [list setup_path] } else { return [list hold_path] }
}
proc get_property {prop obj} {
  switch -- "$prop $obj" {
    "SLACK setup_path" { return $::wns }
    "SLACK hold_path" { return $::whs }
    "STARTPOINT_PIN setup_path" { return $::from }
    "ENDPOINT_PIN setup_path" { return "state_v_reg/DIADI\[3\]" }
    "LOGIC_LEVELS setup_path" { return 12 }
    "DATAPATH_DELAY setup_path" { return 8.765 }
  }
  error "unexpected get_property $prop $obj"
}
"""


def _run(tmp_path, tcl: str, wns: float, whs: float, start: str = "accum/acc0_reg/C") -> tuple[dict, str]:
    script = tmp_path / "timing.tcl"
    script.write_text(tcl)
    interp = tkinter.Tcl()
    interp.eval(STUBS)
    interp.setvar("wns", str(wns))
    interp.setvar("whs", str(whs))
    interp.setvar("from", start)
    interp.eval(f"source {{{script}}}")
    return json.loads((tmp_path / "timing.json").read_text()), interp.eval("set calls")


@pytest.mark.parametrize(("wns", "whs", "met"), [(0.25, 0.05, True), (-1.5, 0.05, False), (0.25, -0.01, False)])
def test_timing_tcl_writes_wns_whs_and_the_critical_path(tmp_path, wns, whs, met):
    from evoconn.hw.timing import timing_tcl

    rep, calls = _run(tmp_path, timing_tcl(clock_mhz=125, part="xc7z020clg400-1"), wns, whs,
                      start='odd "name" \\ here')
    assert rep["wns_ns"] == wns and rep["whs_ns"] == whs and rep["met"] is met
    assert rep["clock_mhz"] == 125 and rep["period_ns"] == 8.0
    assert rep["fmax_mhz"] == pytest.approx(1000 / (8.0 - wns))
    assert rep["critical_path"] == {"from": 'odd "name" \\ here', "to": "state_v_reg/DIADI[3]",
                                    "logic_levels": 12, "datapath_ns": 8.765}
    assert rep["part"] == "xc7z020clg400-1" and rep["top"] == "evoconn_core" and rep["vivado"] == "2024.1"
    # out of context, for the part; the clock on clk at the period; routed before the report
    assert "synth_design -top evoconn_core -part xc7z020clg400-1 -mode out_of_context" in calls
    assert "create_clock -name clk -period 8.0 clk" in calls
    assert calls.index("route_design") < calls.index("report_timing_summary")


def test_timing_project_without_vivado_writes_the_folder(tmp_path, monkeypatch):
    from evoconn.hw.timing import timing_project
    from evoconn.hw.vivado import VivadoMissing

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(VivadoMissing, match="timing.tcl"):
        timing_project(Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4), 4, clock_mhz=90, build_root=tmp_path)
    (folder,) = tmp_path.glob("timing-*")
    text = (folder / "core.v").read_text()
    assert "module evoconn_core(" in text and '(* ram_style = "block" *)' in text
    assert "set clock_mhz 90" in (folder / "timing.tcl").read_text()
    man = json.loads((folder / "manifest.json").read_text())
    assert man["kind"] == "timing" and man["clock_mhz"] == 90 and man["lanes"] == 4


def test_timing_tcl_refuses_a_bad_clock():
    from evoconn.hw.timing import timing_tcl

    with pytest.raises(ValueError, match="clock_mhz must be positive"):
        timing_tcl(clock_mhz=0)


def test_hw_timing_cli_without_vivado(tmp_path, monkeypatch, capsys):
    from evoconn.cli import main

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    rc = main(["hw", "timing", "--neurons", "16", "--obs-dim", "3", "--act-dim", "2", "--substeps", "4",
               "--lanes", "4", "--clock-mhz", "80", "--build-dir", str(tmp_path)])
    assert rc == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vivado is not on PATH" in err and "timing.tcl" in err
    (folder,) = tmp_path.glob("timing-*")
    assert "set clock_mhz 80" in (folder / "timing.tcl").read_text()
