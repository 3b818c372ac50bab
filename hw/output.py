"""The output accumulator: ``OUT[k] += sum of the rates that MASK_OUT row k selects``, ``lanes`` a cycle.

Three registered stages (``CycleModel.output_overhead`` counts them with the read latency): the
masked rates and the adder tree's first level; its next two levels; the rest of the tree and the
add into ``OUT[k]`` (cleared by the first row of each output). ``r_index``/``r_data`` read OUT.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import Spec

from .arith import named

__all__ = ["OutputAccumulator"]


def _tree_level(terms):
    return [terms[t] + terms[t + 1] if t + 1 < len(terms) else terms[t] for t in range(0, len(terms), 2)]


class OutputAccumulator(wiring.Component):
    """Ports in: ``valid``, ``first`` (the row is output k's first), ``k``, ``mask`` (the ``lanes``
    bits of MASK_OUT row k for this row of neurons), ``rates`` (the row's rates, lane 0 first),
    ``r_index``; out: ``r_data`` (``OUT[r_index]``)."""

    def __init__(self, spec: Spec, lanes: int):
        self.spec, self.lanes = spec, lanes
        a = spec.act_dim
        super().__init__({
            "valid": In(1),
            "first": In(1),
            "k": In(range(a)),
            "mask": In(lanes),
            "rates": In(lanes * spec.rate_width),
            "r_index": In(range(a)),
            "r_data": Out(signed(spec.out_width)),
        })

    def elaborate(self, platform):
        m = Module()
        spec, lanes, rw = self.spec, self.lanes, self.spec.rate_width
        out = Array(Signal(signed(spec.out_width), name=f"out{k}") for k in range(spec.act_dim))
        terms = [Mux(self.mask[lane], self.rates[lane * rw:(lane + 1) * rw].as_signed(), 0)
                 for lane in range(lanes)]
        o_valid, o_first, o_k = self.valid, self.first, self.k
        for stage, levels in enumerate((1, 2), start=1):
            for _ in range(levels):
                if len(terms) > 1:
                    terms = _tree_level(terms)
            regs = []
            for t, term in enumerate(terms):
                reg = Signal(Value.cast(term).shape(), name=f"out_s{stage}_{t}")
                m.d.sync += reg.eq(term)
                regs.append(reg)
            terms = regs
            nv, nf = Signal(name=f"out_valid_s{stage}"), Signal(name=f"out_first_s{stage}")
            nk = Signal.like(self.k, name=f"out_k_s{stage}")
            m.d.sync += [nv.eq(o_valid), nf.eq(o_first), nk.eq(o_k)]
            o_valid, o_first, o_k = nv, nf, nk
        while len(terms) > 1:
            terms = _tree_level(terms)
        out_sum = named(m, terms[0], "out_sum")
        with m.If(o_valid):
            m.d.sync += out[o_k].eq(Mux(o_first, 0, out[o_k]) + out_sum)
        m.d.comb += self.r_data.eq(out[self.r_index])
        return m
