"""A PYNQ-Z2 overlay's ``.hwh`` and ``.bit`` as Vivado writes them for OUR block design.

``write_overlay(folder, spec, lanes)`` writes ``evoconn.hwh`` and ``evoconn.bit``. The hardware
handoff follows the structure of a real Vivado .hwh of this board (PYNQ's own
``boards/Pynq-Z2/base/base.hwh``, Vivado 2017.4, was read to learn it; nothing of it is copied):
``EDKSYSTEM`` > ``SYSTEMINFO`` (zynq, 7z020, clg400, -1), ``EXTERNALPORTS`` and
``EXTERNALINTERFACES`` (the PS's DDR and FIXED_IO), and ``MODULES``, one ``MODULE`` per
block-design cell with its ``PARAMETERS``, ``PORTS`` (each with its ``CONNECTIONS``) and
``BUSINTERFACES``; the PS cell carries the ``MEMORYMAP`` whose ``MEMRANGE`` places each slave
(``INSTANCE``, ``BASEVALUE``/``HIGHVALUE``, ``MASTERBUSINTERFACE``, ``SLAVEBUSINTERFACE``) and
the ``PERIPHERALS`` list. Our design's cells are the ones ``evoconn.hw.vivado`` creates: the
PS (``ps7``), the interconnect (``axi_ic``), the reset (``rst_fclk0``) and the core, a packaged
IP of VLNV ``evoconn.ip.VLNV`` in the cell ``evoconn.ip.CELL``. Names come from
:mod:`evoconn.ip`, the AXI ports from the core's port list; nothing here is hand-typed twice.

The ``.bit`` is a Xilinx bitstream container (the header fields pynq's ``parse_bit_header``
reads: design name, part, date, time, then the data length and the data) around a few words of
padding: the stand-in device never configures a PL, it only receives the bytes.

Standard library plus :mod:`evoconn.ip` and :mod:`evoconn.spec`: runs in the board env.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

from evoconn import ip
from evoconn.spec import Spec

#: The core's AXI4-Lite ports (name, direction, width; None: the address width). The same list as
#: evoconn.hw.axil.AXIL_PORTS, which imports Amaranth and cannot load in the board env; the board
#: test compares the two where both import (tests/host/test_pynq_board.py).
AXIL_PORTS = [
    ("awaddr", "in", None), ("awvalid", "in", 1), ("awready", "out", 1),
    ("wdata", "in", 32), ("wstrb", "in", 4), ("wvalid", "in", 1), ("wready", "out", 1),
    ("bresp", "out", 2), ("bvalid", "out", 1), ("bready", "in", 1),
    ("araddr", "in", None), ("arvalid", "in", 1), ("arready", "out", 1),
    ("rdata", "out", 32), ("rresp", "out", 2), ("rvalid", "out", 1), ("rready", "in", 1),
]

BASE_ADDRESS = 0x4000_0000
CLOCK_MHZ = 100.0
#: The PYNQ-Z2 boot image's IO PLL (50 MHz crystal x 20), the source of the PL clocks.
IO_PLL_MHZ = 1000.0
PART = "7z020clg400"


def _sub(parent: ET.Element, tag: str, **attrs: object) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def _params(mod: ET.Element, params: dict[str, object]) -> None:
    ps = _sub(mod, "PARAMETERS")
    for k, v in params.items():
        _sub(ps, "PARAMETER", NAME=k, VALUE=v)


def _port(ports: ET.Element, name: str, direction: str, signame: str, conns: list[tuple[str, str]],
          width: int = 1, sigis: str = "undef", freq_hz: int | None = None) -> None:
    attrs: dict[str, object] = {}
    if freq_hz is not None:
        attrs["CLKFREQUENCY"] = freq_hz
    attrs["DIR"] = direction
    if width > 1:
        attrs["LEFT"] = width - 1
    attrs["NAME"] = name
    if width > 1:
        attrs["RIGHT"] = 0
    attrs.update(SIGIS=sigis, SIGNAME=signame)
    p = _sub(ports, "PORT", **attrs)
    cs = _sub(p, "CONNECTIONS")
    for inst, port in conns:
        _sub(cs, "CONNECTION", INSTANCE=inst, PORT=port)


def _module(modules: ET.Element, cell: str, vlnv: str, **extra: object) -> ET.Element:
    vendor, library, name, version = vlnv.split(":")
    attrs = {"FULLNAME": f"/{cell}", "HWVERSION": version, "INSTANCE": cell, "IPTYPE": "PERIPHERAL",
             "IS_ENABLE": "1", "MODCLASS": "PERIPHERAL", "MODTYPE": name, "VLNV": vlnv}
    attrs.update({k: str(v) for k, v in extra.items()})
    return _sub(modules, "MODULE", **attrs)


def _aximm(bifs: ET.Element, busname: str, name: str, kind: str, freq_hz: int, addr_width: int,
           ports: list[tuple[str, str]]) -> None:
    b = _sub(bifs, "BUSINTERFACE", BUSNAME=busname, DATAWIDTH=32, NAME=name, TYPE=kind,
             VLNV="xilinx.com:interface:aximm:1.0")
    for k, v in (("DATA_WIDTH", 32), ("PROTOCOL", "AXI4LITE"), ("FREQ_HZ", freq_hz), ("ID_WIDTH", 0),
                 ("ADDR_WIDTH", addr_width), ("READ_WRITE_MODE", "READ_WRITE"), ("HAS_BURST", 0),
                 ("NUM_READ_OUTSTANDING", 1), ("NUM_WRITE_OUTSTANDING", 1), ("MAX_BURST_LENGTH", 1),
                 ("CLK_DOMAIN", f"{'evoconn'}_{ip.PS_CELL}_0_FCLK_CLK0")):
        _sub(b, "PARAMETER", NAME=k, VALUE=v)
    pm = _sub(b, "PORTMAPS")
    for logical, physical in ports:
        _sub(pm, "PORTMAP", LOGICAL=logical, PHYSICAL=physical)


def hwh_tree(spec: Spec, lanes: int, *, name: str = "evoconn", base_address: int = BASE_ADDRESS,
             clock_mhz: float = CLOCK_MHZ, vlnv: str = ip.VLNV, cell: str = ip.CELL) -> ET.ElementTree:
    """The .hwh of the PYNQ-Z2 overlay ``name`` with the core of ``spec``/``lanes`` at ``base_address``."""
    rng = max(4096, spec.register_map(lanes).size)
    bd_aw = (rng - 1).bit_length()
    freq_hz = int(round(clock_mhz * 1e6))
    fclk = f"{ip.PS_CELL}_FCLK_CLK0"
    root = ET.Element("EDKSYSTEM", {"EDWVERSION": "1.2", "TIMESTAMP": "Wed Dec  2 00:00:00 2026",
                                    "VIVADOVERSION": "2022.1"})
    _sub(root, "SYSTEMINFO", ARCH="zynq", DEVICE="7z020", NAME=name, PACKAGE="clg400", SPEEDGRADE="-1")
    ext = _sub(root, "EXTERNALPORTS")
    for pin in ("FIXED_IO_mio", "FIXED_IO_ddr_vrn", "FIXED_IO_ddr_vrp", "FIXED_IO_ps_srstb", "FIXED_IO_ps_clk",
                "FIXED_IO_ps_porb", "DDR_cas_n", "DDR_cke", "DDR_cs_n", "DDR_reset_n", "DDR_odt", "DDR_ras_n",
                "DDR_we_n", "DDR_ba", "DDR_addr", "DDR_dm", "DDR_dq", "DDR_dqs_n", "DDR_dqs_p"):
        _sub(ext, "PORT", DIR="IO", NAME=pin, SIGIS="rst" if pin == "DDR_reset_n" else "undef")
    for clk in ("DDR_ck_n", "DDR_ck_p"):
        _sub(ext, "PORT", CLKFREQUENCY=100000000, DIR="IO", NAME=clk, SIGIS="clk")
    eifs = _sub(root, "EXTERNALINTERFACES")
    ddr = _sub(eifs, "BUSINTERFACE", BUSNAME=f"{ip.PS_CELL}_DDR", DATAWIDTH=8, NAME="DDR", TYPE="INITIATOR")
    _sub(ddr, "PARAMETER", NAME="CAN_DEBUG", VALUE="false")
    fio = _sub(eifs, "BUSINTERFACE", BUSNAME=f"{ip.PS_CELL}_FIXED_IO", NAME="FIXED_IO", TYPE="INITIATOR")
    _sub(fio, "PARAMETER", NAME="CAN_DEBUG", VALUE="false")

    modules = _sub(root, "MODULES")
    ic_m = f"{ip.IC_CELL}_M00_AXI"
    ic_s = f"{ip.PS_CELL}_M_AXI_GP0"
    rst_n = f"{ip.RESET_CELL}_peripheral_reset"

    # -- the core: a packaged IP of our VLNV, its S_AXI on the interconnect's M00_AXI ----------------
    core = _module(modules, cell, vlnv)
    _sub(core, "DOCUMENTS")
    blocks = _sub(core, "ADDRESSBLOCKS")
    _sub(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE=ip.BUS_INTERFACE, NAME=ip.REGISTER_BLOCK,
         RANGE=rng, USAGE="register")
    _params(core, {"Component_Name": f"{name}_{cell}_0", "EDK_IPTYPE": "PERIPHERAL",
                   "C_BASEADDR": f"0x{base_address:08X}", "C_HIGHADDR": f"0x{base_address + rng - 1:08X}"})
    ports = _sub(core, "PORTS")
    _port(ports, ip.CLOCK_PORT, "I", fclk, [(ip.PS_CELL, "FCLK_CLK0")], sigis="clk", freq_hz=freq_hz)
    _port(ports, ip.RESET_PORT, "I", rst_n, [(ip.RESET_CELL, "peripheral_reset")], sigis="rst")
    for pname, direction, width in AXIL_PORTS:
        w = bd_aw if width is None else width
        _port(ports, f"s_axi_{pname}", "I" if direction == "in" else "O", f"{ic_m}_{pname.upper()}",
              [(ip.IC_CELL, f"M00_AXI_{pname}")], width=w)
    bifs = _sub(core, "BUSINTERFACES")
    _aximm(bifs, ic_m, ip.BUS_INTERFACE, "SLAVE", freq_hz, bd_aw,
           [(pname.upper(), f"s_axi_{pname}") for pname, _, _ in AXIL_PORTS])

    # -- the interconnect --------------------------------------------------------------------------
    ic = _module(modules, ip.IC_CELL, "xilinx.com:ip:smartconnect:1.0", IPTYPE="BUS", MODCLASS="BUS")
    _params(ic, {"NUM_SI": 1, "NUM_MI": 1, "Component_Name": f"{name}_{ip.IC_CELL}_0", "EDK_IPTYPE": "BUS"})
    ports = _sub(ic, "PORTS")
    _port(ports, "aclk", "I", fclk, [(ip.PS_CELL, "FCLK_CLK0")], sigis="clk", freq_hz=freq_hz)
    _port(ports, "aresetn", "I", f"{ip.RESET_CELL}_interconnect_aresetn",
          [(ip.RESET_CELL, "interconnect_aresetn")], sigis="rst")
    flip = {"I": "O", "O": "I"}
    for pname, direction, width in AXIL_PORTS:  # M00_AXI: the core's S_AXI seen from the other side
        w = bd_aw if width is None else width
        core_dir = "I" if direction == "in" else "O"
        _port(ports, f"M00_AXI_{pname}", flip[core_dir], f"{ic_m}_{pname.upper()}", [(cell, f"s_axi_{pname}")],
              width=w)
    for pname, direction, width in AXIL_PORTS:  # S00_AXI: the PS's M_AXI_GP0
        w = 32 if width is None else width
        _port(ports, f"S00_AXI_{pname}", "I" if direction == "in" else "O", f"{ic_s}_{pname.upper()}",
              [(ip.PS_CELL, f"M_AXI_GP0_{pname.upper()}")], width=w)
    bifs = _sub(ic, "BUSINTERFACES")
    _aximm(bifs, ic_s, "S00_AXI", "SLAVE", freq_hz, 32, [(p.upper(), f"S00_AXI_{p}") for p, _, _ in AXIL_PORTS])
    _aximm(bifs, ic_m, "M00_AXI", "MASTER", freq_hz, bd_aw, [(p.upper(), f"M00_AXI_{p}") for p, _, _ in AXIL_PORTS])

    # -- the PS: FCLK0, its reset, M_AXI_GP0, and the memory map -------------------------------------
    ps = _module(modules, ip.PS_CELL, "xilinx.com:ip:processing_system7:5.5", CONFIGURABLE="TRUE", IS_PL="FALSE")
    del ps.attrib["MODCLASS"]
    ps_params: dict[str, object] = {
        "C_FCLK_CLK0_BUF": "TRUE", "PCW_FCLK_CLK0_BUF": "TRUE", "PCW_USE_M_AXI_GP0": 1, "PCW_EN_CLK0_PORT": 1,
        "PCW_EN_RST0_PORT": 1, "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": 50, "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125"}
    for i in range(4):  # FCLK0 at clock_mhz from the 1000 MHz IO PLL; FCLK1..3 off at their defaults
        mhz = clock_mhz if i == 0 else 50.0
        total = round(IO_PLL_MHZ / mhz)
        div0, div1 = next((a, total // a) for a in range(min(total, 63), 0, -1) if total % a == 0)
        ps_params.update({f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ": f"{mhz:g}",
                          f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ": f"{IO_PLL_MHZ / total:.6f}",
                          f"PCW_CLK{i}_FREQ": int(round(IO_PLL_MHZ / total * 1e6)),
                          f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL",
                          f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": div0, f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": div1,
                          f"PCW_FPGA_FCLK{i}_ENABLE": int(i == 0)})
    ps_params.update({"Component_Name": f"{name}_{ip.PS_CELL}_0", "EDK_IPTYPE": "PERIPHERAL"})
    _params(ps, ps_params)
    ports = _sub(ps, "PORTS")
    _port(ports, "M_AXI_GP0_ACLK", "I", fclk, [(ip.PS_CELL, "FCLK_CLK0")], sigis="clk", freq_hz=freq_hz)
    _port(ports, "FCLK_CLK0", "O", fclk, [(cell, ip.CLOCK_PORT), (ip.IC_CELL, "aclk"), (ip.PS_CELL, "M_AXI_GP0_ACLK"),
                                         (ip.RESET_CELL, "slowest_sync_clk")], sigis="clk", freq_hz=freq_hz)
    _port(ports, "FCLK_RESET0_N", "O", f"{ip.PS_CELL}_FCLK_RESET0_N", [(ip.RESET_CELL, "ext_reset_in")], sigis="rst")
    for pname, direction, width in AXIL_PORTS:  # the GP0 master (its AXI4-Lite subset)
        w = 32 if width is None else width
        _port(ports, f"M_AXI_GP0_{pname.upper()}", "O" if direction == "in" else "I", f"{ic_s}_{pname.upper()}",
              [(ip.IC_CELL, f"S00_AXI_{pname}")], width=w)
    bifs = _sub(ps, "BUSINTERFACES")
    _aximm(bifs, ic_s, "M_AXI_GP0", "MASTER", freq_hz, 32,
           [(p.upper(), f"M_AXI_GP0_{p.upper()}") for p, _, _ in AXIL_PORTS])
    mm = _sub(ps, "MEMORYMAP")
    _sub(mm, "MEMRANGE", ADDRESSBLOCK=ip.REGISTER_BLOCK, BASENAME="C_BASEADDR", BASEVALUE=f"0x{base_address:08X}",
         HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{base_address + rng - 1:08X}", INSTANCE=cell, IS_DATA="TRUE",
         IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE="M_AXI_GP0", MEMTYPE="REGISTER",
         SLAVEBUSINTERFACE=ip.BUS_INTERFACE)
    per = _sub(ps, "PERIPHERALS")
    _sub(per, "PERIPHERAL", INSTANCE=cell)

    # -- the reset ----------------------------------------------------------------------------------
    rst = _module(modules, ip.RESET_CELL, "xilinx.com:ip:proc_sys_reset:5.0")
    _params(rst, {"C_EXT_RST_WIDTH": 4, "C_AUX_RST_WIDTH": 4, "Component_Name": f"{name}_{ip.RESET_CELL}_0",
                  "EDK_IPTYPE": "PERIPHERAL"})
    ports = _sub(rst, "PORTS")
    _port(ports, "slowest_sync_clk", "I", fclk, [(ip.PS_CELL, "FCLK_CLK0")], sigis="clk", freq_hz=freq_hz)
    _port(ports, "ext_reset_in", "I", f"{ip.PS_CELL}_FCLK_RESET0_N", [(ip.PS_CELL, "FCLK_RESET0_N")], sigis="rst")
    _port(ports, "peripheral_reset", "O", rst_n, [(cell, ip.RESET_PORT)], sigis="rst")
    _port(ports, "interconnect_aresetn", "O", f"{ip.RESET_CELL}_interconnect_aresetn",
          [(ip.IC_CELL, "aresetn")], sigis="rst")
    _sub(rst, "BUSINTERFACES")
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def bit_file(design: str, words: int = 64) -> bytes:
    """A Xilinx .bit container: the header fields pynq parses, then ``words`` 32-bit words of data."""
    def field(key: int, text: str) -> bytes:
        data = text.encode("ascii") + b"\0"
        return bytes([key]) + struct.pack(">h", len(data)) + data

    head = struct.pack(">h", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">h", 1)
    body = b"\xff\xff\xff\xff" * (words - 2) + b"\xaa\x99\x55\x66" + b"\x20\x00\x00\x00"
    return (head + field(0x61, f"{design};UserID=0XFFFFFFFF;Version=2022.1") + field(0x62, PART)
            + field(0x63, "2026/12/02") + field(0x64, "00:00:00") + b"\x65" + struct.pack(">i", len(body)) + body)


def write_overlay(folder: Path, spec: Spec, lanes: int, *, name: str = "evoconn", **kw: object) -> Path:
    """Write ``name.hwh`` and ``name.bit`` into ``folder``; returns the .bit's path."""
    folder.mkdir(parents=True, exist_ok=True)
    hwh_tree(spec, lanes, name=name, **kw).write(folder / f"{name}.hwh", encoding="UTF-8", xml_declaration=True)
    bit = folder / f"{name}.bit"
    bit.write_bytes(bit_file(name))
    return bit
