"""The controller of one env step: one FSM that sequences the datapath (the cycle counts are
:class:`evoconn.spec.CycleModel`'s; see :mod:`evoconn.hw.core` for the phases).

States: ``IDLE``; ``CLEAR`` (RESET_STATE, SAMPLE or ABORT: zero the state memories and the
spikes, N / lanes cycles; after SAMPLE's, ``sample_go`` starts the mask sampler in its last
cycle); the input phase ``IN_READ`` (2d mask rows), ``IN_WAIT``, ``IN_STORE`` (N / lanes rows of
I_in); per sub-step ``SUB`` (its first cycle), ``REC`` (one cycle per spiking presynaptic
neuron) and ``UPD`` (the LIF pipeline, N / lanes + PIPE - 1 cycles, the last sub-step one more); the
output phase ``OUT`` (a * N / lanes cycles), ``OUT_WAIT``, ``OUT_DRAIN``, ``OUT_LAST``.

``SUB`` is a sub-step's first cycle whatever it holds: the first row read when a neuron spiked
(then it is a ``REC`` cycle), else the update phase's first cycle (``UPD`` at row 0). The choice is
made inside it from the registered spike vector, so the cycle before (the previous sub-step's
stage 3, whose spikes come from the threshold compare) does not decide the next state from them.

The accumulator array's row select ``acc_sel`` and its ``acc_clear`` are registers of their own,
loaded one cycle ahead: no decode of the FSM's state lies between them and the array.

It drives the datapath side of the memories (:mod:`evoconn.hw.memories`), the accumulator array's
and the output accumulator's controls, and owns the spike vector, DONE and ABORTED. The register
file (:mod:`evoconn.hw.regfile`) hands it the commands (``cmd_start``, ``cmd_reset``, ``cmd_abort``,
``cmd_pend``: START after the RESET_STATE of the same write; ``cmd_sample``) and the observation;
``sampling`` (the sampler is filling: an ABORT then sets ABORTED too); it tells the
register file when it is ``busy``, ``clearing`` and ``in_step`` (CYCLES counts), when a step begins
(``begin``: CYCLES and SPIKES restart) and when stage 4 of the LIF pipeline lands a row
(``spikes_en``: SPIKES counts its spikes).
"""

from __future__ import annotations

import contextlib

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import Spec

from .arith import named
from .lif import PIPE
from .memories import MASKS, STATES, Memories

__all__ = ["FAULTS", "Controller"]

#: The controller's deliberate faults (test only; see :data:`evoconn.hw.core.FAULTS`).
FAULTS = {
    "hang": "an env step whose observation word 0 is the most negative value (-2**(obs_width-1)) "
            "never finishes: the controller stays in its last state, BUSY, CYCLES counting, until "
            "CONTROL.ABORT",
    "substep_skipped": "the sub-step counter's last value is K - 2 instead of K - 1: every env step "
                       "runs K - 1 sub-steps (needs K >= 2)",
    "input_row_skipped": "the input phase stops one MASK_IN row early: the last row (-x[d-1]) is "
                         "never added into I_in",
    "output_row_short": "the output phase's row loop wraps one row early: the last lanes neurons "
                        "never reach OUT[k] (needs N / lanes >= 2)",
}


class Controller(wiring.Component):
    """The FSM. ``acc_width`` is the accumulator array's; ``delta_width`` its ``delta``'s."""

    def __init__(self, spec: Spec, lanes: int, memories: Memories, delta_width: int, pre_width: int,
                 *, fault: str | None = None):
        self.spec, self.lanes, self.fault = spec, lanes, fault
        n, d, a = spec.n_neurons, spec.obs_dim, spec.act_dim
        sw, rw = spec.state_width, spec.rate_width
        rows = n // lanes
        row_shape = range(rows + PIPE)
        members = {
            # from the register file
            "cmd_start": In(1), "cmd_reset": In(1), "cmd_abort": In(1), "cmd_pend": In(1),
            "cmd_sample": In(1), "sampling": In(1), "sample_go": Out(1),
            "obs": In(data.ArrayLayout(signed(spec.obs_width), d)),
            # from the datapath
            "pre": In(pre_width), "spike_rest": In(n),
            "acc_bottom_sat": In(lanes * sw),
            "isyn_new": In(lanes * sw), "v_new": In(lanes * sw), "rate_new": In(lanes * rw),
            "z3": In(lanes),
            # to the register file
            "busy": Out(1), "clearing": Out(1), "in_step": Out(1), "done": Out(1), "aborted": Out(1),
            "begin": Out(1), "spikes_en": Out(1), "spike": Out(n),
            # to the accumulator array, the LIF pipeline and the output accumulator
            "row_valid": Out(1), "row_sel_in": Out(1), "delta": Out(signed(delta_width)),
            "acc_sel": Out(range(rows)), "acc_clear": Out(1),
            "row4": Out(row_shape),
            "out_valid": Out(1), "out_first": Out(1), "out_k": Out(range(a)), "out_u": Out(row_shape),
        }
        for name in (*MASKS, *STATES):
            depth = memories.shapes[name][1]
            members[f"{name}_raddr"] = Out(range(depth))
            members[f"{name}_ren"] = Out(1)
        members.update(memories.write_members("dp", STATES))
        super().__init__(members)

    def mem(self, name: str, what: str):
        return getattr(self, f"{name}_{what}")

    def elaborate(self, platform):
        spec, lanes = self.spec, self.lanes
        n, d, a, k_sub = spec.n_neurons, spec.obs_dim, spec.act_dim, spec.substeps
        ow = spec.obs_width
        rows = n // lanes
        m = Module()
        # the last input row, sub-step and output row (each one short under its test-only fault)
        last_in = spec.n_inputs - 1 - (self.fault == "input_row_skipped")
        last_sub = k_sub - 1 - (self.fault == "substep_skipped")
        last_out_row = rows - 1 - (self.fault == "output_row_short")

        obs = Array(self.obs[j] for j in range(d))
        spike, done, aborted = self.spike, self.done, self.aborted
        pend_start = Signal()
        pend_sample = Signal()  # SAMPLE: the fill follows the clear
        row_valid, row_sel_in, delta = self.row_valid, self.row_sel_in, self.delta
        out_valid, out_first, out_k, out_u = self.out_valid, self.out_first, self.out_k, self.out_u

        i = Signal(range(spec.n_inputs))  # input row
        u = Signal(range(rows + PIPE))  # neuron row (lanes neurons)
        # u_d[s] = u - 1 - s during UPD: the row in stage s + 1 of the LIF pipeline
        u_d = [Signal.like(u, name=f"u_d{s}") for s in range(PIPE)]
        k = Signal(range(a))  # output
        sub = Signal(range(k_sub))  # sub-step
        m.d.comb += self.row4.eq(u_d[PIPE - 1])
        # the spike vector takes the spikes from stage 3, so that the next sub-step's row-read phase
        # (or its update phase) can start while stage 4 writes the last row's rate
        spike_next = named(m, Cat(spike[lanes:], self.z3), "spike_next")

        def rd(name, addr):
            m.d.comb += [self.mem(name, "raddr").eq(addr), self.mem(name, "ren").eq(1)]

        def wr(name, addr, value):
            m.d.comb += [self.mem(name, "waddr").eq(addr), self.mem(name, "wdata").eq(value),
                         self.mem(name, "wen").eq(-1)]

        def begin_step():
            m.d.comb += self.begin.eq(1)  # CYCLES and SPIKES restart
            m.d.sync += [done.eq(0), aborted.eq(0), i.eq(0)]
            m.next = "IN_READ"

        # the accumulator array's row select and clear: registers loaded one cycle ahead. ``sel``
        # counts on by itself (row r of a pass is read r cycles after it is loaded with 0); ``clr``
        # is set for one cycle by the statements below (each the cycle before its clear)
        sel, clr = self.acc_sel, self.acc_clear
        m.d.sync += [sel.eq(sel + 1), clr.eq(0)]

        def enter_substep():
            # the choice between a row-read phase and the update phase is made in SUB itself
            m.d.sync += [u.eq(0), sel.eq(0)]
            m.next = "SUB"

        def rec_cycle():
            """One cycle of the row-read phase: read the next spiking neuron's MASK_H row."""
            rd("mask_h", self.pre)
            rd("state_isyn", 0)  # for the update phase's stage 0, should this be the last row read
            m.d.sync += [row_valid.eq(1), row_sel_in.eq(0),
                         delta.eq(Mux(self.pre < spec.n_exc, 1, -1)), spike.eq(self.spike_rest)]
            with m.If(self.spike_rest == 0):
                m.d.sync += [u.eq(0), sel.eq(0)]
                m.next = "UPD"
            with m.Else():
                m.next = "REC"

        stage3 = Signal()  # stage 3 of the LIF pipeline holds a row (only in UPD)
        m.d.sync += [row_valid.eq(0), out_valid.eq(0), u_d[0].eq(u)]
        m.d.sync += [u_d[s + 1].eq(u_d[s]) for s in range(PIPE - 1)]

        in_step = self.in_step  # an env step is running (driven below, from the FSM's state)

        @contextlib.contextmanager
        def state(name):
            """An FSM state that CONTROL.ABORT leaves for CLEAR (its statements come last, so win)."""
            with m.State(name):
                yield
                with m.If(self.cmd_abort):
                    m.d.sync += [u.eq(0), pend_start.eq(0), pend_sample.eq(0)]
                    with m.If(in_step | self.sampling):
                        m.d.sync += [aborted.eq(1), done.eq(0)]
                    m.next = "CLEAR"

        with m.FSM(name="ctrl") as ctrl:
            with state("IDLE"):
                with m.If(self.cmd_reset | self.cmd_sample):
                    m.d.sync += [u.eq(0), pend_start.eq(self.cmd_pend & ~self.cmd_sample),
                                 pend_sample.eq(self.cmd_sample)]
                    m.next = "CLEAR"
                with m.Elif(self.cmd_start):
                    begin_step()
            with state("CLEAR"):
                for name in STATES:
                    wr(name, u, 0)
                # the accumulators, which an aborted step may have left full, are cleared from the
                # second cycle of CLEAR to the first after it (an add still landing in the first
                # cycle is cleared too; the cycle after CLEAR has none)
                m.d.sync += clr.eq(1)
                m.d.sync += [spike.eq(0), u.eq(u + 1)]
                with m.If(u == rows - 1):
                    m.d.sync += [pend_start.eq(0), pend_sample.eq(0)]
                    m.d.comb += self.sample_go.eq(pend_sample & ~self.cmd_abort)
                    with m.If(pend_start):
                        begin_step()
                    with m.Else():
                        m.next = "IDLE"
            with state("IN_READ"):
                neg = i >= d
                xq = obs[Mux(neg, (i - d)[:len(i)], i)]
                rd("mask_in", i)
                m.d.sync += [row_valid.eq(1), row_sel_in.eq(1), delta.eq(Mux(neg, -xq, xq)),
                             i.eq(i + 1)]
                with m.If(i == last_in):
                    m.d.sync += sel.eq(0)  # row 0 is taken in IN_WAIT, with the last row's add
                    m.next = "IN_WAIT"
            with state("IN_WAIT"):
                m.d.sync += [u.eq(0), clr.eq(rows == 1)]
                m.next = "IN_STORE"
            with state("IN_STORE"):  # row u, taken the cycle before (sel is u + 1)
                wr("state_iin", u, self.acc_bottom_sat)
                rd("state_isyn", 0)  # for the first sub-step's stage 0, should it have no row reads
                m.d.sync += [u.eq(u + 1), clr.eq(u == rows - 2)]  # the clear in the last cycle
                with m.If(u == rows - 1):
                    m.d.sync += sub.eq(0)
                    enter_substep()
            with state("SUB"):
                with m.If(spike != 0):
                    rec_cycle()
                with m.Else():  # no spike arrives: the update phase's first cycle (UPD at row 0)
                    rd("state_isyn", 1 if rows > 1 else 0)
                    m.d.sync += [u.eq(1), clr.eq(rows == 1)]
                    m.next = "UPD"
            with state("REC"):
                rec_cycle()
            with state("UPD"):
                m.d.comb += stage3.eq((u >= 3) & (u <= rows + 2))

                def in_range(row):  # no read beyond the depth while the pipeline drains
                    return Mux(row < rows, row, 0)
                # stage 0's, one cycle ahead (row 0's in the cycle before UPD, and again from the
                # last row on: the next sub-step's, should it have no row reads)
                rd("state_isyn", in_range(u + 1))
                rd("state_iin", in_range(u_d[0]))  # stage 2's
                rd("state_v", in_range(u_d[0]))  # stages 2 and 3's (carried in p2_v)
                rd("state_rate", in_range(u_d[2]))  # stage 4's
                # stage 0 (the accumulator row's register) takes row u (sel is u); the array is
                # cleared in the cycle after the last (u = rows)
                m.d.sync += [u.eq(u + 1), clr.eq(u == rows - 1)]
                with m.If((u >= 1) & (u <= rows)):  # stage 1 holds a row
                    wr("state_isyn", u_d[0], self.isyn_new)
                with m.If(stage3):  # stage 3: the spikes are final
                    wr("state_v", u_d[2], self.v_new)
                    m.d.sync += spike.eq(spike_next)
                # stage 4 (the rate write, below) of the last row overlaps the next phase's first
                # cycle: a next sub-step starts one cycle before the pipeline is empty; OUT, which
                # reads the rates, only after it
                with m.If((sub == last_sub) & (u == rows + PIPE - 1)):
                    m.d.sync += [u.eq(0), k.eq(0)]
                    m.next = "OUT"
                with m.If((sub != last_sub) & (u == rows + PIPE - 2)):
                    m.d.sync += sub.eq(sub + 1)
                    enter_substep()
            with state("OUT"):
                rd("state_rate", u)
                rd("mask_out", k)
                m.d.sync += [out_valid.eq(1), out_k.eq(k), out_u.eq(u), out_first.eq(u == 0),
                             u.eq(u + 1)]
                with m.If(u == last_out_row):
                    m.d.sync += [u.eq(0), k.eq(k + 1)]
                    with m.If(k == a - 1):
                        m.next = "OUT_WAIT"
            with state("OUT_WAIT"):  # the last row's read latency (its first stage)
                m.next = "OUT_DRAIN"
            with state("OUT_DRAIN"):  # the last row's second stage
                m.next = "OUT_LAST"
            with state("OUT_LAST"):  # the last row's third stage
                if self.fault == "hang":  # test only: never finish on a marked observation
                    hang = obs[0] == -(1 << (ow - 1))
                else:
                    hang = Const(0)
                with m.If(~hang):
                    m.d.sync += done.eq(1)
                    m.next = "IDLE"

        # stage 4 of the LIF pipeline: the cycle after stage 3, whichever state the FSM is in by then
        # (not into a clear: an ABORT during UPD must not let the aborted row's rate land after it)
        stage4 = Signal()
        m.d.sync += stage4.eq(stage3)
        with m.If(stage4 & ~ctrl.ongoing("CLEAR")):
            wr("state_rate", u_d[3], self.rate_new)
            m.d.comb += self.spikes_en.eq(1)

        m.d.comb += [self.busy.eq(~ctrl.ongoing("IDLE")), self.clearing.eq(ctrl.ongoing("CLEAR")),
                     in_step.eq(~ctrl.ongoing("IDLE") & ~ctrl.ongoing("CLEAR"))]
        return m
