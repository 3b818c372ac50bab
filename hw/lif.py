"""The LIF update of ``lanes`` neurons a cycle: a pipeline of :data:`PIPE` registered stages.

Row r's I_syn is read at UPD cycle r - 1; stage s works on it at cycle r + s, with each state
memory read one cycle before the stage that needs it (so no state is carried in registers beyond
``decay(I_syn)``, v and u - v) and written back from that stage (the controller addresses the
memories; this unit is the arithmetic):

0. ``decay(I_syn)``, registered beside the row of recurrent counts ``c`` (the accumulator array's
   register)
1. ``I_syn' = sat(decay(I_syn) + c << rec_shift)``                  (``isyn_new``)
2. ``u = sat(I_syn' + I_in); d = u - v``
3. ``v' = sat(v + gain(d)); z = v' > 2**F; v'' = z ? 0 : v'``       (``v_new``)
4. ``rate' = sat(rate + gain(target(z) - rate))``                   (``rate_new``, ``z``)

The arithmetic is :mod:`evoconn.hw.arith`'s transcription of the spec. The deliberate faults of
:data:`FAULTS` live here, since each one breaks this arithmetic.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import Spec

from .arith import decay, gain, named, saturate

__all__ = ["FAULTS", "PIPE", "LIFPipeline"]

#: Deliberate faults for testing the tests: each makes the core disagree with the oracle.
FAULTS = {
    None: "the correct core",
    "leak_shift": "membrane gain uses mem_leak (a, b + 1): a wrong membrane leak",
    "threshold": "fires on v >= 2**F instead of v > 2**F",
    "dale": "the rate trace of a spike takes the opposite Dale sign",
}

#: Registered stages of the per-lane LIF update (CycleModel.substep_overhead).
PIPE = 4


class LIFPipeline(wiring.Component):
    """Ports in: ``acc`` (the recurrent counts of the row in stage 1), the memories' read data
    ``isyn_rd`` (stage 0), ``v_rd`` and ``iin_rd`` (stage 2), ``rate_rd`` (stage 4), ``row4`` (the row
    in stage 4, for its Dale sign). Out: ``isyn_new``, ``v_new``, ``rate_new`` (rows to write back,
    lane 0 first), ``z3`` (the spikes of the row in stage 3) and ``z`` (those of the row in stage 4)."""

    def __init__(self, spec: Spec, lanes: int, acc_width: int, row_shape, *, fault: str | None = None):
        self.spec, self.lanes, self.fault = spec, lanes, fault
        sw, rw = spec.state_width, spec.rate_width
        super().__init__({
            "acc": In(data.ArrayLayout(signed(acc_width), lanes)),
            "isyn_rd": In(lanes * sw),
            "v_rd": In(lanes * sw),
            "iin_rd": In(lanes * sw),
            "rate_rd": In(lanes * rw),
            "row4": In(row_shape),
            "isyn_new": Out(lanes * sw),
            "v_new": Out(lanes * sw),
            "rate_new": Out(lanes * rw),
            "z": Out(lanes),
            "z3": Out(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        spec, lanes = self.spec, self.lanes
        sw, rw_bits = spec.state_width, spec.rate_width
        mem_leak = spec.mem_leak
        if self.fault == "leak_shift":
            mem_leak = (mem_leak[0], mem_leak[1] + 1)
        thr = spec.threshold
        p1_isyn = [Signal(signed(sw), name=f"l{lane}_p1_isyn") for lane in range(lanes)]
        p2_v = [Signal(signed(sw), name=f"l{lane}_p2_v") for lane in range(lanes)]
        p2_d = [Signal(signed(sw + 1), name=f"l{lane}_p2_d") for lane in range(lanes)]
        # the threshold compare without the saturation in front of it: sat(x) > thr iff x > thr
        # (sat is monotonic and thr lies strictly inside the state range), and x > thr iff
        # (v - (thr + 1)) + gain(d) >= 0, whose v - (thr + 1) stage 2 registers; the spike is then
        # the sign of one add beside the one that makes v' (the fault: x >= thr, v - thr)
        lo, hi = -(1 << (sw - 1)), (1 << (sw - 1)) - 1
        assert lo < thr < hi, "the threshold must lie inside the state range"
        thr_off = thr + (0 if self.fault == "threshold" else 1)
        p2_vt = [Signal(signed(sw + 1), name=f"l{lane}_p2_vt") for lane in range(lanes)]
        p3_z = Signal(lanes)
        z3 = []
        v_new, isyn_new, rate_new = [], [], []
        for lane in range(lanes):
            v_old = self.v_rd[lane * sw:(lane + 1) * sw].as_signed()
            isyn_old = self.isyn_rd[lane * sw:(lane + 1) * sw].as_signed()
            rate_old = self.rate_rd[lane * rw_bits:(lane + 1) * rw_bits].as_signed()
            iin = self.iin_rd[lane * sw:(lane + 1) * sw].as_signed()
            p = f"l{lane}"
            # stage 0: the decay, registered (the row's counts are the accumulator array's register)
            dec = decay(isyn_old, spec.syn_leak)
            p0_dec = Signal(dec.shape(), name=f"{p}_p0_dec")  # at its full width: nothing narrows
            m.d.sync += p0_dec.eq(dec)
            # stage 1
            isyn1 = saturate(m, p0_dec + (self.acc[lane] << spec.rec_shift), sw, f"{p}_isyn")
            m.d.sync += p1_isyn[lane].eq(isyn1)
            # stage 2
            u_cur = saturate(m, p1_isyn[lane] + iin, sw, f"{p}_u")
            m.d.sync += [p2_v[lane].eq(v_old), p2_d[lane].eq(u_cur - v_old), p2_vt[lane].eq(v_old - thr_off)]
            # stage 3
            g = named(m, gain(p2_d[lane], mem_leak), f"{p}_g")
            v1 = saturate(m, p2_v[lane] + g, sw, f"{p}_v")
            z = named(m, ~(p2_vt[lane] + g)[-1], f"{p}_z")  # v' > thr (v' >= thr under the fault)
            m.d.sync += p3_z[lane].eq(z)
            z3.append(z)
            # stage 4: neuron r * lanes + lane is excitatory iff r < ceil((n_exc - lane) / lanes)
            exc_rows = -((lane - spec.n_exc) // lanes)
            exc = named(m, self.row4 < exc_rows if exc_rows > 0 else Const(0), f"{p}_exc")
            if self.fault == "dale":
                exc = ~exc
            z4 = p3_z[lane]
            target = Mux(z4, Mux(exc, spec.rate_target, -spec.rate_target), 0)
            rate1 = saturate(m, rate_old + gain(target - rate_old, spec.out_leak), rw_bits, f"{p}_rate")
            v_new.append(Mux(z, 0, v1)[:sw])
            isyn_new.append(isyn1[:sw])
            rate_new.append(rate1[:rw_bits])
        m.d.comb += [
            self.isyn_new.eq(Cat(*isyn_new)),
            self.v_new.eq(Cat(*v_new)),
            self.rate_new.eq(Cat(*rate_new)),
            self.z.eq(p3_z),
            self.z3.eq(Cat(*z3)),
        ]
        return m
