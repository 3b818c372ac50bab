"""``evoconn hw verilog``: one flat module with the standard AXI4-Lite port names, and a manifest."""

from __future__ import annotations

import json
import re

from evoconn.cli import main
from evoconn.hw.axil import AXIL_PORTS
from evoconn.spec import Spec


def test_verilog_export_and_manifest(tmp_path, capsys):
    out = tmp_path / "core.v"
    rc = main(["hw", "verilog", "--out", str(out), "--neurons", "16", "--obs-dim", "3",
               "--act-dim", "5", "--substeps", "7", "--lanes", "4"])
    assert rc == 0
    text = out.read_text()
    header = re.search(r"module evoconn_core\((.*?)\);", text, re.S)
    assert header, "no module evoconn_core"
    ports = {p.strip() for p in header.group(1).split(",")}
    expected = {"clk", "rst"} | {"s_axil_" + name for name, _, _ in AXIL_PORTS}
    assert ports == expected
    man = json.loads((tmp_path / "core.json").read_text())
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=5, substeps=7)
    assert man["spec_hash"] == spec.hash and man["spec"] == spec.to_dict()
    assert man["lanes"] == 4 and man["module"] == "evoconn_core"
    assert {p["name"] for p in man["ports"]} == expected
    aw = man["addr_width"]
    assert re.search(rf"input \[{aw - 1}:0\] s_axil_awaddr;", text)
    assert re.search(r"output \[31:0\] s_axil_rdata;", text)


def test_verilog_export_rejects_bad_lanes(tmp_path, capsys):
    rc = main(["hw", "verilog", "--out", str(tmp_path / "x.v"), "--neurons", "16", "--lanes", "3"])
    assert rc == 2
    # the spec's one rule (CycleModel), named by the option (issue 16), before anything is written
    assert "--lanes: lanes=3 must be at least 1 and divide n_neurons=16" in capsys.readouterr().err
    assert not (tmp_path / "x.v").exists()


def test_verilog_starts_every_combinational_block_at_time_zero(tmp_path):
    """Yosys's time-0 trigger is a declaration initialiser, which is no event under Icarus -g2012
    (cocotb's mode): the export adds a simulation-only ``#0`` toggle of it (evoconn.hw.export)."""
    from evoconn.hw.export import export_verilog

    out = tmp_path / "core.v"
    export_verilog(Spec(n_neurons=8, obs_dim=3, act_dim=2, substeps=8), 2, out)
    text = out.read_text()
    regs = re.findall(r"^\s*reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) +=\s*0;$", text, re.M)
    assert regs, "no Yosys time-0 trigger register"
    for name in regs:
        kick = re.escape(f"initial #0 {name} = 1'b1;")
        assert re.search(rf"`ifndef SYNTHESIS\n\s*{kick}.*\n`endif", text), f"{name} is not kicked"
        uses = text.count(f"if ({name} ) begin end")
        assert uses > 10, f"{name} guards only {uses} always @* blocks"
