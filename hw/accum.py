"""The accumulator array: N signed accumulators that a mask row adds a common ``delta`` to.

A mask row (N bits) read from block RAM adds ``delta`` to every accumulator whose bit is set
(``add``). The update phases read the accumulators ``lanes`` at a time: ``sel`` picks the row of
``lanes`` accumulators (an N / lanes-to-1 multiplexer), and the row lands in the ``bottom`` register
the cycle after, a pipeline stage of its own (stage 0 of the update), so that nothing of the
multiplexer or its select is in front of the LIF pipeline's stage 1. ``clear`` zeroes the whole
array in one cycle (the registers' synchronous reset) after the last row is read, so the array is
empty again after every pass. ``clear`` wins over ``add``.

``bottom`` is the selected row *after* this cycle's add: the add of row 0 is bypassed into it
(``bottom[lane] <= acc[lane] + (row[lane] ? delta : 0)`` when ``sel`` is 0), so the first row of a
pass can be taken in the same cycle as the last mask row's add lands (no cycle is lost to the
register). Only row 0 has that bypass: with ``add`` set and ``sel`` not 0, ``bottom`` holds the
row before the add. The controller never reads a row other than 0 while an add lands.

``sel`` must come straight from a register (the controller's ``acc_sel``, loaded one cycle ahead);
it fans out to every accumulator bit's multiplexer.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import saturate

__all__ = ["AccumulatorArray"]


class AccumulatorArray(wiring.Component):
    """Ports: ``row`` (N bits), ``add``, ``delta`` (signed), ``clear``, ``sel`` (a row of ``lanes``)
    in; out: ``bottom``, a register holding the ``lanes`` accumulators of the previous cycle's row
    ``sel`` (``bottom[lane]`` is accumulator ``sel * lanes + lane``, with row 0's add of that cycle
    bypassed into it, above), and ``bottom_sat``, the same saturated to ``sat_width`` bits and packed
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
            # row 0's add of this cycle, bypassed (the only row the controller reads while one lands)
            bypass = Mux(self.add & self.row[lane], self.delta, 0)
            m.d.sync += self.bottom[lane].eq((column[self.sel] if rows > 1 else acc[lane]) + bypass)
        m.d.comb += self.bottom_sat.eq(Cat(*(saturate(m, self.bottom[lane], self.sat_width, f"l{lane}_iin")
                                             [:self.sat_width] for lane in range(lanes))))
        return m
