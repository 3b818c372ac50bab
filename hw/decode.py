"""Address decode of the register file: one hit line per register and window, and the word index.

Built from :class:`evoconn.spec.RegisterMap` alone. An address hits a register when it is aligned
and equal to the register's offset; it hits a window when it is aligned, inside the window's span
and its word index is below the window's depth (so a hit implies an in-range memory row).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import RegisterMap

from .arith import log2_exact

__all__ = ["AddressDecoder"]


class AddressDecoder(wiring.Component):
    """Ports: ``addr`` (in); ``hit_<name>`` (out, one per register and window, lower case) and
    ``idx_<window>`` (out: the word index within the window's span)."""

    def __init__(self, regmap: RegisterMap):
        self.regmap = regmap
        members = {"addr": In(regmap.addr_width)}
        for r in regmap.registers.values():
            members[f"hit_{r.name.lower()}"] = Out(1)
        for w in regmap.windows.values():
            members[f"hit_{w.name.lower()}"] = Out(1)
            members[f"idx_{w.name.lower()}"] = Out(max(1, log2_exact(w.span) - 2))
        super().__init__(members)

    def hit(self, name: str):
        return getattr(self, f"hit_{name.lower()}")

    def idx(self, name: str):
        return getattr(self, f"idx_{name.lower()}")

    def elaborate(self, platform):
        m = Module()
        addr = self.addr
        aligned = addr[:2] == 0
        for r in self.regmap.registers.values():
            m.d.comb += self.hit(r.name).eq(aligned & (addr == r.offset))
        for w in self.regmap.windows.values():
            sb = log2_exact(w.span)
            widx = addr[2:sb]
            m.d.comb += [
                self.hit(w.name).eq(aligned & (addr[sb:] == (w.offset >> sb)) & (widx < w.depth)),
                self.idx(w.name).eq(widx),
            ]
        return m
