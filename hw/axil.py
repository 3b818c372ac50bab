"""An AXI4-Lite target that turns bus transactions into a simple, stallable register bus.

The five AXI4-Lite channels are independent: AW and W are each taken into a one-entry holding
register whenever it is free, in either order and in different cycles, so a master may apply any
backpressure or pause on any channel. Once both halves of a write are held (and no response is
waiting), the write is offered on the internal bus until the register file acknowledges it;
reads likewise. All AXI outputs are registered or depend on registered state only.

The target answers as soon as the register file acknowledges, with SLVERR where the register file
raises ``w_err``/``r_err``. The evoconn core ties both low and acknowledges every access within a
bounded number of cycles (the board-safe responses of :mod:`evoconn.spec.protocol`): on a Zynq an
SLVERR is a SIGBUS for the host and an unanswered read stalls the ARM.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXIL_PORTS", "OKAY", "SLVERR", "AXI4LiteTarget", "RegBusSignature", "axil_members"]

#: AXI response codes.
OKAY = 0b00
SLVERR = 0b10

#: The AXI4-Lite target ports, without prefix: (name, direction seen by the target, width).
#: A width of ``None`` is the address width.
AXIL_PORTS = (
    ("awaddr", "in", None),
    ("awvalid", "in", 1),
    ("awready", "out", 1),
    ("wdata", "in", 32),
    ("wstrb", "in", 4),
    ("wvalid", "in", 1),
    ("wready", "out", 1),
    ("bresp", "out", 2),
    ("bvalid", "out", 1),
    ("bready", "in", 1),
    ("araddr", "in", None),
    ("arvalid", "in", 1),
    ("arready", "out", 1),
    ("rdata", "out", 32),
    ("rresp", "out", 2),
    ("rvalid", "out", 1),
    ("rready", "in", 1),
)


def axil_members(addr_width: int, prefix: str = "s_axil_") -> dict:
    """Flat signature members of an AXI4-Lite target port, named ``prefix + channel signal``.

    Flat members keep the exported Verilog port names standard (``s_axil_awaddr`` ...), which is
    what cocotbext-axi's ``AxiLiteBus.from_prefix(dut, "s_axil")`` looks for.
    """
    if not isinstance(addr_width, int) or not 3 <= addr_width <= 32:
        raise ValueError(f"addr_width must be an int in [3, 32], got {addr_width!r}")
    members = {}
    for name, direction, width in AXIL_PORTS:
        shape = addr_width if width is None else width
        members[prefix + name] = In(shape) if direction == "in" else Out(shape)
    return members


class RegBusSignature(wiring.Signature):
    """The internal register bus, seen from its initiator (the AXI target).

    A write is offered with ``w_stb`` and held, with ``w_addr``/``w_data``/``w_strb``, until the
    register file raises ``w_ack`` (with ``w_err`` for SLVERR) in the same cycle; reads likewise
    with ``r_stb``, answered by ``r_ack`` with ``r_data`` and ``r_err``. The register file may
    take any number of cycles to acknowledge.
    """

    def __init__(self, addr_width: int):
        super().__init__({
            "w_stb": Out(1), "w_addr": Out(addr_width), "w_data": Out(32), "w_strb": Out(4),
            "w_ack": In(1), "w_err": In(1),
            "r_stb": Out(1), "r_addr": Out(addr_width),
            "r_ack": In(1), "r_data": In(32), "r_err": In(1),
        })


class AXI4LiteTarget(wiring.Component):
    """AXI4-Lite target with flat ``s_axil_*`` ports and an internal :class:`RegBusSignature`.

    Parameters
    ----------
    addr_width:
        Byte address width of ``s_axil_awaddr`` and ``s_axil_araddr``.
    """

    def __init__(self, addr_width: int):
        members = axil_members(addr_width)
        members["bus"] = Out(RegBusSignature(addr_width))
        self.addr_width = addr_width
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        aw = self.addr_width
        bus = self.bus

        # --- write: AW and W held independently, then one bus write, then B --------------------
        aw_full, aw_addr = Signal(), Signal(aw)
        w_full, w_data, w_strb = Signal(), Signal(32), Signal(4)
        bvalid, bresp = Signal(), Signal(2)
        m.d.comb += [
            self.s_axil_awready.eq(~aw_full),
            self.s_axil_wready.eq(~w_full),
            self.s_axil_bvalid.eq(bvalid),
            self.s_axil_bresp.eq(bresp),
            bus.w_stb.eq(aw_full & w_full & ~bvalid),
            bus.w_addr.eq(aw_addr),
            bus.w_data.eq(w_data),
            bus.w_strb.eq(w_strb),
        ]
        with m.If(self.s_axil_awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(self.s_axil_awaddr)]
        with m.If(self.s_axil_wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(self.s_axil_wdata), w_strb.eq(self.s_axil_wstrb)]
        with m.If(bus.w_stb & bus.w_ack):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bvalid.eq(1),
                         bresp.eq(bus.w_err.replicate(2) & SLVERR)]
        with m.If(bvalid & self.s_axil_bready):
            m.d.sync += bvalid.eq(0)

        # --- read: AR held, one bus read, then R --------------------------------------------------
        ar_full, ar_addr = Signal(), Signal(aw)
        rvalid, rdata, rresp = Signal(), Signal(32), Signal(2)
        m.d.comb += [
            self.s_axil_arready.eq(~ar_full & ~rvalid),
            self.s_axil_rvalid.eq(rvalid),
            self.s_axil_rdata.eq(rdata),
            self.s_axil_rresp.eq(rresp),
            bus.r_stb.eq(ar_full),
            bus.r_addr.eq(ar_addr),
        ]
        with m.If(self.s_axil_arvalid & ~ar_full & ~rvalid):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(self.s_axil_araddr)]
        with m.If(bus.r_stb & bus.r_ack):
            m.d.sync += [ar_full.eq(0), rvalid.eq(1), rdata.eq(bus.r_data),
                         rresp.eq(bus.r_err.replicate(2) & SLVERR)]
        with m.If(rvalid & self.s_axil_rready):
            m.d.sync += rvalid.eq(0)
        return m
