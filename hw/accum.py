"""The accumulator array: N signed accumulators that a mask row adds a common ``delta`` to.

A mask row (N bits) read from block RAM adds ``delta`` to every accumulator whose bit is set
(``add``). The update phases read the accumulators ``lanes`` at a time: ``sel`` picks the row of
``lanes`` accumulators on ``bottom`` (an N / lanes-to-1 multiplexer), and ``clear`` zeroes the whole
array in one cycle (the registers' synchronous reset) after the last row is read, so the array is
empty again after every pass. ``clear`` wins over ``add``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import saturate

__all__ = ["AccumulatorArray"]


class AccumulatorArray(wiring.Component):
    """Ports: ``row`` (N bits), ``add``, ``delta`` (signed), ``clear``, ``sel`` (a row of ``lanes``)
    in; out: ``bottom``, the ``lanes`` accumulators of row ``sel`` (``bottom[lane]`` is accumulator
    ``sel * lanes + lane``), and ``bottom_sat``, the same saturated to ``sat_width`` bits and packed
    lane 0 first (the I_in row to store)."""

    def __init__(self, n: int, lanes: int, width: int, delta_width: int, sat_width: int):
        self.n, self.lanes, self.width, self.sat_width = n, lanes, width, sat_width
        super().__init__({
            "row": In(n),
            "add": In(1),
            "delta": In(signed(delta_width)),
            "clear": In(1),
            "sel": In(range(n // lanes)),
            "bottom": Out(data.ArrayLayout(signed(width), lanes)),
            "bottom_sat": Out(lanes * sat_width),
        })

    def elaborate(self, platform):
        m = Module()
        n, lanes = self.n, self.lanes
        acc = [Signal(signed(self.width), name=f"acc{j}") for j in range(n)]
        for j in range(n):
            with m.If(self.clear):
                m.d.sync += acc[j].eq(0)
            with m.Elif(self.add):
                m.d.sync += acc[j].eq(acc[j] + Mux(self.row[j], self.delta, 0))
        rows = n // lanes
        for lane in range(lanes):
            column = Array(acc[r * lanes + lane] for r in range(rows))
            m.d.comb += self.bottom[lane].eq(column[self.sel] if rows > 1 else acc[lane])
        m.d.comb += self.bottom_sat.eq(Cat(*(saturate(m, self.bottom[lane], self.sat_width, f"l{lane}_iin")
                                             [:self.sat_width] for lane in range(lanes))))
        return m
