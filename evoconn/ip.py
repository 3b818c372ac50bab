"""The core's identity as an IP block: its VLNV, ports, bus interface and block-design cell names.

One place for the names that the Vivado flow (:mod:`evoconn.hw.vivado`), the IP-XACT packaging
(:mod:`evoconn.hw.ipxact`), the FuseSoC core file and the board's driver
(:mod:`evoconn.host.driver`) must agree on. PYNQ keys ``Overlay.ip_dict`` by the block-design
cell's name and binds a driver by the cell's VLNV, so a flow that names the cell or the IP
differently from what the host looks for breaks ``evoconn flash`` on our own overlays.

Standard library only (no numpy): it is imported by the board's host and by the hardware flows.
"""

from __future__ import annotations

__all__ = [
    "BUS_INTERFACE", "CELL", "CLOCK_PORT", "IC_CELL", "LIBRARY", "MODULE_REF_VLNV", "NAME", "PS_CELL",
    "REGISTER_BLOCK", "RESET_CELL", "RESET_PORT", "TOP", "VENDOR", "VERSION", "VLNV",
]

#: The packaged IP's VLNV parts (vendor:library:name:version), as Vivado's IP catalog lists it.
VENDOR = "evoconn"
LIBRARY = "evoconn"
NAME = "evoconn_core"
VERSION = "1.0"
VLNV = f"{VENDOR}:{LIBRARY}:{NAME}:{VERSION}"

#: The IP's top HDL module: the core with its AXI4-Lite port declared as an interface.
TOP = "evoconn_axil"
#: The VLNV Vivado gives a module-reference cell of ``TOP`` (overlays built before the IP was
#: packaged); the board's driver binds to it as well.
MODULE_REF_VLNV = f"xilinx.com:module_ref:{TOP}:1.0"

#: The AXI4-Lite slave interface, its clock and its (active-high) reset on ``TOP``.
BUS_INTERFACE = "S_AXI"
CLOCK_PORT = "clk"
RESET_PORT = "rst"
#: The IP-XACT address block holding the register map (on ``BUS_INTERFACE``).
REGISTER_BLOCK = "regs"

#: Cell names in the PYNQ-Z2 block design. ``CELL`` is the key of the core's ``ip_dict`` entry
#: and the attribute name on the overlay: ``pynq.Overlay("evoconn.bit").evoconn_core``.
CELL = "evoconn_core"
PS_CELL = "ps7"
IC_CELL = "axi_ic"
RESET_CELL = "rst_fclk0"
