"""The core as a packaged IP: an IP-XACT ``component.xml`` and a FuseSoC ``.core`` file.

``component(spec, lanes)`` builds the IP-XACT (IEEE 1685-2009, the ``spirit`` namespace Vivado
uses) description with ipyxact's object model: the VLNV (:mod:`evoconn.ip`), the AXI4-Lite slave
bus interface ``S_AXI`` with its port map, the clock and reset interfaces, the ports of the top
module (``evoconn_axil``, :func:`evoconn.hw.vivado.wrapper_verilog`), the file set, and a memory
map whose address block lists every register and window of the spec's
:class:`~evoconn.spec.RegisterMap` (offsets, access, reset values, widths).
``package_ip(spec, lanes, folder)`` writes ``component.xml``, the HDL it names, and
``evoconn_core.core`` (FuseSoC CAPI2, written with PyYAML) into ``folder``.

What ipyxact's model cannot say is left out rather than hand-written: the interface parameters
Vivado reads (``ASSOCIATED_BUSIF``, ``POLARITY``: the wrapper's ``X_INTERFACE_PARAMETER``
attributes carry them) and the slave's ``memoryMapRef``. Vivado itself packages the core with its
own ``ipx::`` commands inside the PYNQ-Z2 flow (:mod:`evoconn.hw.vivado`), from the same names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ipyxact import ipyxact as ipx

from evoconn import ip
from evoconn.spec import STATE_FIELDS, Access, Spec

from .axil import AXIL_PORTS
from .vivado import WRAPPER, address_range, wrapper_verilog

__all__ = ["COMPONENT_FILE", "CORE_FILE", "component", "fusesoc_core", "package_ip"]

COMPONENT_FILE = "component.xml"
CORE_FILE = f"{ip.NAME}.core"
HDL_FILES = ("hdl/core.v", f"hdl/{WRAPPER}.v")

#: IP-XACT access names of the spec's register access kinds.
ACCESS = {Access.RO: "read-only", Access.WO: "write-only", Access.RW: "read-write"}
#: Bus definitions (Xilinx's, as the wrapper's X_INTERFACE_INFO names them) and their RTL abstractions.
AXIMM = ("xilinx.com", "interface", "aximm", "1.0")
CLOCK = ("xilinx.com", "signal", "clock", "1.0")
RESET = ("xilinx.com", "signal", "reset", "1.0")


def _new(cls: type, **kw: Any) -> Any:
    """An ipyxact element with members, attributes and children set (its constructor takes only the
    first two); every child list is the instance's own (ipyxact's defaults are shared class lists)."""
    obj = cls()
    for c in cls.CHILDREN:
        setattr(obj, c, [])
    for k, v in kw.items():
        if k not in cls.MEMBERS and k not in cls.ATTRIBS and k not in cls.CHILDREN and k not in cls.CHILD:
            raise AttributeError(f"{cls.__name__} has no member, attribute or child {k!r}")
        setattr(obj, k, v)
    return obj


def _vlnv(cls: type, vlnv: tuple[str, str, str, str]) -> Any:
    vendor, library, name, version = vlnv
    return _new(cls, vendor=vendor, library=library, name=name, version=version)


def _bus(name: str, bus: tuple[str, str, str, str], maps: list[tuple[str, str]]) -> Any:
    abstraction = (bus[0], bus[1], f"{bus[2]}_rtl", bus[3])
    port_maps = [_new(ipx.PortMap, logicalPort=_new(ipx.LogicalPort, name=logical),
                      physicalPort=_new(ipx.PhysicalPort, name=physical)) for logical, physical in maps]
    return _new(ipx.BusInterface, name=name, slave="", busType=_vlnv(ipx.BusType, bus),
                abstractionType=_vlnv(ipx.AbstractionType, abstraction),
                portMaps=_new(ipx.PortMaps, portMap=port_maps))


def _port(name: str, direction: str, width: int) -> Any:
    wire = _new(ipx.Wire, direction=direction)
    if width > 1:
        wire.vectors = _new(ipx.Vectors, vector=[_new(ipx.Vector, left=width - 1, right=0)])
    return _new(ipx.Port, name=name, wire=wire)


def _field(name: str, width: int, access: str, doc: str, reset: int | None = None) -> Any:
    f = _new(ipx.Field, name=name, bitOffset=0, bitWidth=width, access=access, description=doc)
    if reset is not None:
        f.resets = _new(ipx.Resets, reset=_new(ipx.Reset, value=reset, mask=(1 << width) - 1))
    return f


def _registers(spec: Spec, lanes: int) -> tuple[list[Any], list[Any]]:
    """The register map as IP-XACT registers (and register files for multi-word elements)."""
    rmap = spec.register_map(lanes)
    regs, files = [], []
    for r in rmap.registers.values():
        regs.append(_new(ipx.Register, name=r.name, description=r.doc, addressOffset=r.offset, size=32,
                                 access=ACCESS[r.access], volatile="true" if r.access != Access.WO else "false",
                                 field=[_field("value", r.width, ACCESS[r.access], r.doc, r.reset)]))
    for w in rmap.windows.values():
        if w.stride == 1:
            regs.append(_new(ipx.Register, name=w.name, description=w.doc, dim=w.depth, addressOffset=w.offset, size=32,
                                     access=ACCESS[w.access], volatile="true",
                                     field=[_field("value", w.width, ACCESS[w.access], w.doc)]))
        else:  # one element per neuron, a word per field (STATE)
            names = STATE_FIELDS if w.name == "STATE" else tuple(f"word{i}" for i in range(w.stride))
            files.append(_new(ipx.RegisterFile,
                name=w.name, description=w.doc, dim=w.depth // w.stride, addressOffset=w.offset, range=4 * w.stride,
                register=[_new(ipx.Register, name=n, addressOffset=4 * i, size=32, access=ACCESS[w.access],
                               volatile="true", field=[_field("value", w.width, ACCESS[w.access], f"{w.name}.{n}")])
                          for i, n in enumerate(names)]))
    return regs, files


def component(spec: Spec, lanes: int) -> Any:
    """The core's IP-XACT component (an ipyxact ``Component``)."""
    rng = address_range(spec, lanes)
    bd_aw = (rng - 1).bit_length()
    regs, files = _registers(spec, lanes)
    axi = [(name.upper(), f"s_axi_{name}") for name, _, _ in AXIL_PORTS]
    ports = [_port(ip.CLOCK_PORT, "in", 1), _port(ip.RESET_PORT, "in", 1)]
    ports += [_port(f"s_axi_{name}", direction, bd_aw if width is None else width)
              for name, direction, width in AXIL_PORTS]
    c = _new(ipx.Component,
        vendor=ip.VENDOR, library=ip.LIBRARY, name=ip.NAME, version=ip.VERSION,
        description=(f"evoconn core: N={spec.n_neurons} (exc {spec.n_exc}), d={spec.obs_dim}, a={spec.act_dim}, "
                     f"K={spec.substeps}, lanes {lanes}; spec {spec.hash}"),
        busInterfaces=_new(ipx.BusInterfaces, busInterface=[
            _bus(ip.BUS_INTERFACE, AXIMM, axi),
            _bus(ip.CLOCK_PORT.upper(), CLOCK, [("CLK", ip.CLOCK_PORT)]),
            _bus(ip.RESET_PORT.upper(), RESET, [("RST", ip.RESET_PORT)]),
        ]),
        memoryMaps=_new(ipx.MemoryMaps, memoryMap=[_new(ipx.MemoryMap,
            name=ip.BUS_INTERFACE, addressUnitBits=8,
            addressBlock=[_new(ipx.AddressBlock, name=ip.REGISTER_BLOCK, baseAddress=0, range=rng, width=32,
                                           usage="register", access="read-write", register=regs,
                                           registerFile=files)])]),
        model=_new(ipx.Model, ports=_new(ipx.Ports, port=ports)),
        fileSets=_new(ipx.FileSets, fileSet=[_new(ipx.FileSet, name="verilogSource", file=[
            _new(ipx.File, name=f, fileType="verilogSource") for f in HDL_FILES])]),
        parameters=_new(ipx.Parameters, parameter=[
            _new(ipx.Parameter, parameterId=k, name=k, value=str(v)) for k, v in (
                ("SPEC_HASH", spec.hash), ("N_NEURONS", spec.n_neurons), ("N_EXC", spec.n_exc),
                ("OBS_DIM", spec.obs_dim), ("ACT_DIM", spec.act_dim), ("SUBSTEPS", spec.substeps),
                ("LANES", lanes), ("TOP", WRAPPER))]),
    )
    c.nsversion = "2009"
    return c


def fusesoc_core(spec: Spec, lanes: int) -> dict[str, Any]:
    """The FuseSoC CAPI2 description (a dict; :func:`package_ip` writes it as YAML)."""
    return {
        "name": f"{ip.VENDOR}:{ip.LIBRARY}:{ip.NAME}:{ip.VERSION}",
        "description": f"evoconn core N={spec.n_neurons} lanes={lanes} (spec {spec.hash[:16]}), AXI4-Lite target",
        "filesets": {"rtl": {"files": list(HDL_FILES), "file_type": "verilogSource"}},
        "targets": {
            "default": {"filesets": ["rtl"], "toplevel": WRAPPER},
            "lint": {"default_tool": "verilator", "filesets": ["rtl"], "toplevel": WRAPPER,
                     "tools": {"verilator": {"mode": "lint-only"}}},
        },
    }


def package_ip(spec: Spec, lanes: int, folder: str | Path) -> Path:
    """Write ``component.xml``, ``hdl/core.v``, ``hdl/evoconn_axil.v`` and the FuseSoC core; returns the folder."""
    from .synth import design_verilog

    folder = Path(folder)
    (folder / "hdl").mkdir(parents=True, exist_ok=True)
    text, man = design_verilog(spec, lanes, "block")
    rng = address_range(spec, lanes)
    (folder / HDL_FILES[0]).write_text(text)
    (folder / HDL_FILES[1]).write_text(wrapper_verilog(man["addr_width"], (rng - 1).bit_length()))
    with open(folder / COMPONENT_FILE, "w") as f:
        component(spec, lanes).write(f)
    (folder / CORE_FILE).write_text("CAPI=2:\n" + yaml.safe_dump(fusesoc_core(spec, lanes), sort_keys=False))
    return folder
