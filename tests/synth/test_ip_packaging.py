"""The core as a packaged IP (evoconn hw ip): the IP-XACT component read back with ipyxact, the
FuseSoC core read with fusesoc's own parser, and `hw bitstream --artifact` taking every size from
the artifact's manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoconn import ip
from evoconn.artifact import Artifact, Normalizer, save_artifact
from evoconn.cli import main
from evoconn.spec import STATE_FIELDS, Spec

pytest.importorskip("amaranth")
ipyxact = pytest.importorskip("ipyxact.ipyxact")

SPEC = Spec(n_neurons=32, obs_dim=3, act_dim=2, substeps=5)
ACCESS = {"ro": "read-only", "wo": "write-only", "rw": "read-write"}


@pytest.fixture(scope="module")
def ip_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("ip") / "evoconn_ip"
    assert main(["hw", "ip", "--neurons", "32", "--obs-dim", "3", "--act-dim", "2", "--substeps", "5",
                 "--lanes", "8", "--out", str(out)]) == 0
    return out


def test_component_reads_back_with_ipyxact(ip_folder):
    from evoconn.hw.axil import AXIL_PORTS
    from evoconn.hw.vivado import address_range

    c = ipyxact.Component()
    c.load(str(ip_folder / "component.xml"))
    assert c.nsversion == "2009"
    assert (c.vendor, c.library, c.name, c.version) == (ip.VENDOR, ip.LIBRARY, ip.NAME, ip.VERSION)
    assert ":".join((c.vendor, c.library, c.name, c.version)) == ip.VLNV
    bifs = {b.name: b for b in c.busInterfaces.busInterface}
    assert set(bifs) == {ip.BUS_INTERFACE, "CLK", "RST"}
    axi = bifs[ip.BUS_INTERFACE]
    assert (axi.busType.vendor, axi.busType.name, axi.abstractionType.name) == ("xilinx.com", "aximm", "aximm_rtl")
    maps = {m.logicalPort.name: m.physicalPort.name for m in axi.portMaps.portMap}
    assert maps == {p.upper(): f"s_axi_{p}" for p, _, _ in AXIL_PORTS}
    assert {m.physicalPort.name for m in bifs["CLK"].portMaps.portMap} == {ip.CLOCK_PORT}
    assert {m.physicalPort.name for m in bifs["RST"].portMaps.portMap} == {ip.RESET_PORT}
    # the model's ports are the top module's: clock, reset and every AXI4-Lite port with its width
    rng = address_range(SPEC, 8)
    ports = {p.name: (p.wire.direction, p.wire.vectors.vector[0].left + 1 if p.wire.vectors else 1)
             for p in c.model.ports.port}
    want = {ip.CLOCK_PORT: ("in", 1), ip.RESET_PORT: ("in", 1)}
    want |= {f"s_axi_{p}": (d, (rng - 1).bit_length() if w is None else w) for p, d, w in AXIL_PORTS}
    assert ports == want
    # the address block is the spec's register map: every register and window, offsets, access, resets
    (mm,) = c.memoryMaps.memoryMap
    (block,) = mm.addressBlock
    assert (mm.name, block.name, block.range, block.width) == (ip.BUS_INTERFACE, ip.REGISTER_BLOCK, rng, 32)
    rmap = SPEC.register_map(8)
    regs = {r.name: r for r in block.register}
    for r in rmap.registers.values():
        got = regs[r.name]
        assert (got.addressOffset, got.access, got.size) == (r.offset, ACCESS[r.access.value], 32), r.name
        (f,) = got.field
        assert (f.bitWidth, f.resets.reset.value) == (r.width, r.reset), r.name
    for w in rmap.windows.values():
        if w.stride == 1:
            got = regs[w.name]
            assert (got.addressOffset, got.dim, got.access) == (w.offset, w.depth, ACCESS[w.access.value]), w.name
            assert got.field[0].bitWidth == w.width
    (state,) = block.registerFile
    assert (state.name, state.addressOffset, state.dim, state.range) == ("STATE", rmap.windows["STATE"].offset,
                                                                         SPEC.n_neurons, 16)
    assert [r.name for r in state.register] == list(STATE_FIELDS)
    assert set(regs) == set(rmap.registers) | {w for w, win in rmap.windows.items() if win.stride == 1}
    # the file set names the HDL written beside it
    files = [f.name for fs in c.fileSets.fileSet for f in fs.file]
    assert files == ["hdl/core.v", "hdl/evoconn_axil.v"]
    assert all((ip_folder / f).is_file() for f in files)
    assert f"module {ip.TOP} (" in (ip_folder / "hdl/evoconn_axil.v").read_text()
    params = {p.name: p.value for p in c.parameters.parameter}
    assert params["SPEC_HASH"] == SPEC.hash and params["LANES"] == "8" and params["TOP"] == ip.TOP


def test_fusesoc_parses_the_core_file(ip_folder):
    pytest.importorskip("fusesoc")
    from fusesoc.capi2.core import CoreInterface
    from fusesoc.capi2.coreparser import Core2Parser

    core = CoreInterface(Core2Parser(), ip_folder / f"{ip.NAME}.core")
    assert str(core.name) == ip.VLNV
    for target in ("default", "lint"):
        flags = {"target": target}
        assert core.get_toplevel(flags) == ip.TOP
        files = core.get_files(flags)
        assert [f["name"] for f in files] == ["hdl/core.v", "hdl/evoconn_axil.v"]
        assert all(f["file_type"] == "verilogSource" and (ip_folder / f["name"]).is_file() for f in files)


def _artifact(path, spec):
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    norm = Normalizer(mean=np.zeros(spec.obs_dim), var=np.ones(spec.obs_dim), count=1.0)
    save_artifact(path, Artifact(spec=spec, masks=masks, probs=None, normalizer=norm, manifest={"env": "x"}))
    return path


def test_bitstream_takes_every_size_from_the_artifact(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no vivado: the project is written, exit 3
    art = _artifact(tmp_path / "best", Spec(n_neurons=48, obs_dim=11, act_dim=3, n_exc=20, substeps=7))
    rc = main(["hw", "bitstream", "--board", "pynq-z2", "--artifact", str(art), "--lanes", "8",
               "--build-dir", str(tmp_path / "b")])
    assert rc == 3
    (folder,) = (tmp_path / "b").glob("pynq-z2-*")
    man = json.loads((folder / "manifest.json").read_text())
    want = json.loads((art / "manifest.json").read_text())
    assert man["spec_hash"] == want["spec_hash"] and man["spec"] == want["spec"]
    assert man["artifact"] == str(art) and man["vlnv"] == ip.VLNV and man["cell"] == ip.CELL
    assert "N=48 d=11 a=3 K=7" in (folder / "build.tcl").read_text()
    capsys.readouterr()
    # a size option that contradicts the artifact is refused in one line
    rc = main(["hw", "bitstream", "--board", "pynq-z2", "--artifact", str(art), "--neurons", "64",
               "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--artifact takes every size from" in err and "drop --neurons 64" in err
    rc = main(["hw", "bitstream", "--board", "pynq-z2", "--artifact", str(tmp_path / "nothing"),
               "--build-dir", str(tmp_path / "b")])
    assert rc == 2 and "missing" in capsys.readouterr().err
