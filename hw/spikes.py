"""The spike search: the lowest set bit of the spike vector, the next presynaptic row to read.

Combinational: ``pre`` is the index of the lowest set bit of ``vector`` (0 when none is set) and
``rest`` the vector with that bit cleared, so the controller consumes the vector one spike a cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SpikeSearch"]


class SpikeSearch(wiring.Component):
    """Ports: ``vector`` (N bits) in; ``pre`` (index), ``rest`` (N bits) out."""

    def __init__(self, n: int):
        self.n = n
        super().__init__({
            "vector": In(n),
            "pre": Out(max(1, (n - 1).bit_length())),
            "rest": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n, spike = self.n, self.vector
        lowest = (spike & (~spike + 1))[:n]
        idx_bits = []
        for b in range(max(1, (n - 1).bit_length())):
            sel = sum(1 << j for j in range(n) if (j >> b) & 1)
            idx_bits.append((lowest & sel).any())
        m.d.comb += [self.pre.eq(Cat(*idx_bits)), self.rest.eq((spike & (spike - 1))[:n])]
        return m
