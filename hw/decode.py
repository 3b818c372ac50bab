"""Address decode of the register file, generated from the register protocol's list of regions.

:func:`evoconn.spec.protocol.regions` describes every mapped register and window once (offset,
words, aligned span, access rule); :func:`evoconn.spec.protocol.access` decodes with the same
list. Here each region becomes one comparator: an address hits it when it is aligned, inside the
region's span, and its word index is below the region's word count (so a window hit implies an
in-range memory row). ``refused_read`` / ``refused_write`` are the protocol's refusals: no region
hit (unaligned or unmapped), or a region whose access rule refuses the operation.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import RegisterMap
from evoconn.spec.protocol import regions

from .arith import log2_exact

__all__ = ["FAULTS", "AddressDecoder"]

#: The decoder's deliberate faults (test only; see :data:`evoconn.hw.core.FAULTS`).
FAULTS = {
    "decode_alias": "the register comparator ignores address bit 6, so each unmapped word "
                    "0x40-0x78 answers as the register 0x40 below it instead of being refused",
    "decode_ro_writable": "the write-refusal check leaves CYCLES out: a write to that read-only "
                          "register is not refused (no ERR_WRITE)",
}

class AddressDecoder(wiring.Component):
    """Ports: ``addr`` (in); ``hit_<name>`` (out, one per register and window, lower case),
    ``idx_<window>`` (out: the word index within the window's span), ``refused_read`` and
    ``refused_write`` (out: the protocol refuses a read or a write at ``addr``)."""

    def __init__(self, regmap: RegisterMap, *, fault: str | None = None):
        self.regmap = regmap
        self.fault = fault
        self.regions = regions(regmap)
        members = {"addr": In(regmap.addr_width), "refused_read": Out(1), "refused_write": Out(1)}
        for r in self.regions:
            members[f"hit_{r.name.lower()}"] = Out(1)
            if r.is_window:
                members[f"idx_{r.name.lower()}"] = Out(max(1, log2_exact(r.span) - 2))
        super().__init__(members)

    def hit(self, name: str):
        return getattr(self, f"hit_{name.lower()}")

    def idx(self, name: str):
        return getattr(self, f"idx_{name.lower()}")

    def elaborate(self, platform):
        m = Module()
        addr = self.addr
        aligned = addr[:2] == 0
        for r in self.regions:
            sb = log2_exact(r.span)
            widx = addr[2:sb]
            hit = aligned & (addr[sb:] == (r.offset >> sb))
            if self.fault == "decode_alias" and not r.is_window:
                hit = aligned & ((addr & ~0x40) == r.offset)
            if r.words < r.span // 4:
                hit &= widx < r.words
            m.d.comb += self.hit(r.name).eq(hit)
            if r.is_window:
                m.d.comb += self.idx(r.name).eq(widx)
        hits = Cat(*(self.hit(r.name) for r in self.regions))
        for op, port in (("read", self.refused_read), ("write", self.refused_write)):
            refusing = [self.hit(r.name) for r in self.regions if r.refusal(op) is not None
                        and not (self.fault == "decode_ro_writable" and r.name == "CYCLES")]
            m.d.comb += port.eq(~hits.any() | Cat(*refusing).any())
        return m
