"""The accumulator array: N signed accumulators that a mask row adds a common ``delta`` to.

A mask row (N bits) read from block RAM adds ``delta`` to every accumulator whose bit is set
(``add``); the update phases read the accumulators ``lanes`` at a time from the bottom of the array
while shifting it down by ``lanes`` places (``shift``; zeros come in at the top), so the array is
empty again after every pass and no wide multiplexer is needed. ``shift`` wins over ``add``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import saturate

__all__ = ["AccumulatorArray"]


class AccumulatorArray(wiring.Component):
    """Ports: ``row`` (N bits), ``add``, ``delta`` (signed), ``shift`` in; out: ``bottom``, the
    ``lanes`` lowest accumulators (``bottom[lane]`` is accumulator ``lane``), and ``bottom_sat``,
    the same saturated to ``sat_width`` bits and packed lane 0 first (the I_in row to store)."""

    def __init__(self, n: int, lanes: int, width: int, delta_width: int, sat_width: int):
        self.n, self.lanes, self.width, self.sat_width = n, lanes, width, sat_width
        super().__init__({
            "row": In(n),
            "add": In(1),
            "delta": In(signed(delta_width)),
            "shift": In(1),
            "bottom": Out(data.ArrayLayout(signed(width), lanes)),
            "bottom_sat": Out(lanes * sat_width),
        })

    def elaborate(self, platform):
        m = Module()
        n, lanes = self.n, self.lanes
        acc = [Signal(signed(self.width), name=f"acc{j}") for j in range(n)]
        for j in range(n):
            with m.If(self.shift):
                m.d.sync += acc[j].eq(acc[j + lanes] if j + lanes < n else 0)
            with m.Elif(self.add):
                m.d.sync += acc[j].eq(acc[j] + Mux(self.row[j], self.delta, 0))
        m.d.comb += [self.bottom[lane].eq(acc[lane]) for lane in range(lanes)]
        m.d.comb += self.bottom_sat.eq(Cat(*(saturate(m, acc[lane], self.sat_width, f"l{lane}_iin")[:self.sat_width]
                                             for lane in range(lanes))))
        return m
