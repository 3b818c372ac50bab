"""The evoconn RSNN core: an Amaranth component sized from :class:`evoconn.spec.Spec`.

Architecture (one env step, START to DONE; the cycle counts are :class:`evoconn.spec.CycleModel`):

- **Accumulators.** One array of N signed accumulators, wide enough for both the exact input sum
  and the exact spike count. A mask row (N bits, read from block RAM in one cycle) adds a common
  ``delta`` to every accumulator whose bit is set; the update phases read the accumulators
  ``lanes`` at a time through an N / lanes-to-1 multiplexer and clear the whole array (the
  registers' synchronous reset) in the cycle of the last read, so it is empty again after every
  pass (v1 shifted the array down by ``lanes`` a cycle instead: more LUTs, a high-fanout shift).
- **Input phase.** ``2d`` reads of MASK_IN, row ``i`` adding ``+xq[i]`` (``i < d``) or
  ``-xq[i-d]``; one cycle for the last row's data; ``N / lanes`` cycles that saturate the sums to
  the state width and store them as I_in.
- **Sub-step.** Event-driven recurrent accumulation: one cycle per neuron that spiked in the
  previous sub-step, each reading that neuron's MASK_H row and adding its Dale sign (+1/-1) to the
  targets' accumulators (the next spike is found with a two-level lowest-set-bit search over the
  spike vector, :mod:`evoconn.hw.spikes`, which is consumed as it goes). Then ``N / lanes + 3``
  cycles of LIF updates: a pipeline of ``PIPE = 4`` registered stages takes ``lanes`` neurons a
  cycle (read-modify-write of I_syn in stage 1, v in stage 3, rate in stage 4; each memory is read
  one cycle before the stage that needs it). The new spikes are shifted into the spike vector
  ``lanes`` at a time from stage 3, so the next sub-step starts while stage 4 writes the last
  row's rate (that write runs on its own registered stage-valid bit, whichever state the FSM is
  in); the output phase waits for it, so the last sub-step takes one cycle more.
- **Output phase.** ``a * N / lanes`` cycles, each adding up to ``lanes`` rates selected by the
  transposed output mask into ``OUT[k]`` through three stages (the masked rates and the adder
  tree's first level, registered; its next two levels, registered; the rest and the add into
  ``OUT[k]``), plus one cycle of read latency and two that drain the stages.

The units are components of their own, composed with ``m.submodules``: the address decoders
(:mod:`evoconn.hw.decode`), the accumulator array (:mod:`evoconn.hw.accum`), the LIF pipeline
(:mod:`evoconn.hw.lif`), the spike search (:mod:`evoconn.hw.spikes`) and the output accumulator
(:mod:`evoconn.hw.output`); this module holds the memories, the controller (one FSM) and the
register file's reads and writes.

The register file implements :class:`evoconn.spec.RegisterMap` exactly, behind the AXI4-Lite
target of :mod:`evoconn.hw.axil`, with the board-safe responses of :mod:`evoconn.spec.protocol`
(core version 1.1). Bus behaviour beyond the table:

- every access answers OKAY: a read two clock edges after its AR handshake, a write one edge after
  its AW and W, RESET_STATE and ABORT once the clear is done (``response_bound``);
- an unaligned or unmapped address answers 0 to a read (ERROR | ERR_READ) and drops a write
  (ERROR | ERR_WRITE), as does a write to a read-only register or window; the first error's
  address goes to ERR_ADDR (decoding comes first, busy or not);
- in the STATE window, a write to neuron j's v word sets v; a write to its isyn, rate or i_in word
  answers OKAY and changes nothing, so v0 can go as one block write over the whole window;
- while BUSY, a window read answers 0 at once, and a write to a writable window (any STATE word
  included), START and RESET_STATE are dropped; each sets ERROR | ERR_BUSY. CLEAR_ERROR and ABORT
  are always obeyed; registers (STATUS, CYCLES, ...) are readable at any time;
- RESET_STATE zeroes v, I_syn, rate, I_in and the spikes in ``N / lanes`` cycles (and empties the
  accumulators); its write response is held until the clear is done, so a following START never
  meets BUSY. RESET_STATE together with START clears, then runs the step;
- ABORT sends the controller from any state to that clear (ABORTED if an env step was running,
  DONE clear), its response held likewise;
- byte strobes are honoured for the mask windows; other writes take the whole word;
- a hardware reset (``rst``) returns the registers and STATUS to their reset values but does not
  clear the memories (masks, neuron state, I_in): the host issues RESET_STATE first.
"""

from __future__ import annotations

import contextlib

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from evoconn.spec import DEFAULT_LANES, Access, Control, CycleModel, RegisterMap, Spec, Status

from .accum import AccumulatorArray
from .arith import divmod_const, log2_exact, named
from .axil import AXIL_PORTS, AXI4LiteTarget, axil_members
from .decode import AddressDecoder
from .lif import FAULTS as LIF_FAULTS
from .lif import PIPE, LIFPipeline
from .output import OutputAccumulator
from .spikes import SpikeSearch

__all__ = ["FAULTS", "MODULE_NAME", "PIPE", "EvoconnCore"]

#: The name of the exported Verilog module.
MODULE_NAME = "evoconn_core"

#: Deliberate faults for testing the tests: the LIF pipeline's, which break the arithmetic, and the
#: controller's, which break the protocol.
FAULTS = {
    **LIF_FAULTS,
    "hang": "an env step whose observation word 0 is the most negative value (-2**(obs_width-1)) "
            "never finishes: the controller stays in its last state, BUSY, CYCLES counting, until "
            "CONTROL.ABORT",
}


def _check_args(spec, lanes, fault) -> None:
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be an evoconn.spec.Spec, got {type(spec).__name__}")
    if not isinstance(lanes, int) or isinstance(lanes, bool):
        raise TypeError(f"lanes must be an int, got {lanes!r}")
    n = spec.n_neurons
    if not 1 <= lanes <= n or n % lanes:
        divisors = [x for x in range(1, n + 1) if n % x == 0]
        raise ValueError(f"lanes={lanes} must divide n_neurons={n}; choose one of {divisors}")
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {sorted(FAULTS, key=str)}, got {fault!r}")


class EvoconnCore(wiring.Component):
    """The RSNN core with an AXI4-Lite target (flat ports ``s_axil_*``, plus ``clk`` and ``rst``).

    Parameters
    ----------
    spec:
        The integer spec; every size, width, constant and address of the core derives from it.
    lanes:
        Neurons updated per clock; must divide ``spec.n_neurons``.
    fault:
        Test only: a key of :data:`FAULTS` that deliberately breaks the arithmetic, or ``'hang'``,
        which makes a step on a marked observation never finish.

    Attributes
    ----------
    regmap:
        The :class:`~evoconn.spec.RegisterMap` the bus implements.
    cycle_model:
        The :class:`~evoconn.spec.CycleModel` the core's timing follows exactly.
    """

    def __new__(cls, spec: Spec, lanes: int = DEFAULT_LANES, *, fault: str | None = None):
        # refuse bad arguments before the object exists, so that a refused core is not reported as
        # an unused elaboratable; src_loc_at=1 names the caller in any such warning, as before
        _check_args(spec, lanes, fault)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, spec: Spec, lanes: int = DEFAULT_LANES, *, fault: str | None = None):
        self.spec = spec
        self.lanes = lanes
        self.fault = fault
        self.controller_fault = fault if fault not in LIF_FAULTS else None
        self.regmap = RegisterMap(spec, lanes)
        self.cycle_model = CycleModel(spec, lanes)
        # One accumulator width for the input sums and the spike counts. Every partial input sum
        # is bounded by 2d * 2**(obs_width-1) = d * 2**obs_width, which in_sum_width holds.
        self.acc_width = max(spec.count_width, spec.in_sum_width)
        bound = spec.obs_dim << spec.obs_width
        assert bound <= (1 << (spec.in_sum_width - 1)) - 1, "input partial sums must fit"
        super().__init__(axil_members(self.regmap.addr_width))

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        spec, lanes, rmap = self.spec, self.lanes, self.regmap
        n, d, a, k_sub = spec.n_neurons, spec.obs_dim, spec.act_dim, spec.substeps
        sw, rw_bits, ow = spec.state_width, spec.rate_width, spec.obs_width
        rows = n // lanes
        row_words = spec.row_words
        row_bits = 32 * row_words

        m = Module()
        m.submodules.axil = axil = AXI4LiteTarget(rmap.addr_width)
        for name, direction, _ in AXIL_PORTS:
            outer, inner = getattr(self, "s_axil_" + name), getattr(axil, "s_axil_" + name)
            m.d.comb += inner.eq(outer) if direction == "in" else outer.eq(inner)
        bus = axil.bus

        # --- memories ----------------------------------------------------------------------------
        #: (name, read port, depth) of every memory: no read may address beyond the depth (an
        #: out-of-range read is X in simulation and undefined on a block RAM); tests check it
        self.read_ports = []

        def mask_mem(name, depth):
            mem = Memory(shape=unsigned(row_bits), depth=depth, init=[])
            m.submodules[name] = mem
            self.read_ports.append((name, mem.read_port(), depth))
            return self.read_ports[-1][1], mem.write_port(granularity=8)

        rp_in, wp_in = mask_mem("mask_in", spec.n_inputs)
        rp_h, wp_h = mask_mem("mask_h", n)
        rp_out, wp_out = mask_mem("mask_out", a)
        masks = {"MASK_IN": (rp_in, wp_in), "MASK_H": (rp_h, wp_h), "MASK_OUT": (rp_out, wp_out)}

        def state_mem(name, width, granularity=None):
            mem = Memory(shape=unsigned(lanes * width), depth=rows, init=[])
            m.submodules[name] = mem
            self.read_ports.append((name, mem.read_port(), rows))
            return self.read_ports[-1][1], mem.write_port(granularity=granularity)

        rp_v, wp_v = state_mem("state_v", sw, granularity=sw)
        rp_isyn, wp_isyn = state_mem("state_isyn", sw)
        rp_rate, wp_rate = state_mem("state_rate", rw_bits)
        rp_iin, wp_iin = state_mem("state_iin", sw)
        # word order of the STATE window (evoconn.spec.STATE_FIELDS: v, isyn, rate, i_in)
        state_fields = [(rp_v, sw), (rp_isyn, sw), (rp_rate, rw_bits), (rp_iin, sw)]
        n_fields = rmap.windows["STATE"].stride
        assert n_fields == len(state_fields)

        # --- registers ---------------------------------------------------------------------------
        obs = Array(Signal(signed(ow), name=f"obs{i}") for i in range(d))
        spike = Signal(n)
        cycles = Signal(rmap.registers["CYCLES"].width)
        spikes_w = rmap.registers["SPIKES"].width
        spikes = Signal(spikes_w)
        done, loaded, error, err_busy, err_not_loaded, err_read, err_write, aborted = (
            Signal(name=x) for x in ("done", "loaded", "error", "err_busy", "err_not_loaded",
                                     "err_read", "err_write", "aborted"))
        err_addr = Signal(rmap.registers["ERR_ADDR"].width)
        pend_start = Signal()

        i = Signal(range(spec.n_inputs))  # input row
        u = Signal(range(rows + PIPE))  # neuron row (lanes neurons)
        # u_d[s] = u - 1 - s during UPD: the row in stage s + 1 of the LIF pipeline
        u_d = [Signal.like(u, name=f"u_d{s}") for s in range(PIPE)]
        k = Signal(range(a))  # output
        sub = Signal(range(k_sub))  # sub-step

        row_valid = Signal()  # a mask row read last cycle: add it to the accumulators now
        row_sel_in = Signal()  # ... from MASK_IN (else MASK_H)
        delta = Signal(signed(max(ow + 1, 2)))
        out_valid, out_first = Signal(), Signal()
        out_k, out_u = Signal.like(k, name="out_k"), Signal.like(u, name="out_u")

        # --- bus decode --------------------------------------------------------------------------
        m.submodules.w_decode = w_dec = AddressDecoder(rmap)
        m.submodules.r_decode = r_dec = AddressDecoder(rmap)
        m.d.comb += [w_dec.addr.eq(bus.w_addr), r_dec.addr.eq(bus.r_addr)]
        whit = {name: w_dec.hit(name) for name in [*rmap.registers, *rmap.windows]}
        rhit = {name: r_dec.hit(name) for name in [*rmap.registers, *rmap.windows]}
        widx = {name: w_dec.idx(name) for name in rmap.windows}
        ridx = {name: r_dec.idx(name) for name in rmap.windows}
        cmd_start, cmd_reset, cmd_abort = Signal(), Signal(), Signal()

        # --- accumulators ------------------------------------------------------------------------
        m.submodules.accum = accum = AccumulatorArray(n, lanes, self.acc_width, len(delta), sw)
        m.d.comb += [accum.row.eq(Mux(row_sel_in, rp_in.data, rp_h.data)[:n]), accum.add.eq(row_valid),
                     accum.delta.eq(delta)]

        # --- the LIF update of lanes neurons: a pipeline of PIPE registered stages ------------
        m.submodules.lif = lif = LIFPipeline(spec, lanes, self.acc_width, u.shape(),
                                             fault=self.fault if self.fault in LIF_FAULTS else None)
        m.d.comb += [lif.acc.eq(accum.bottom), lif.isyn_rd.eq(rp_isyn.data), lif.v_rd.eq(rp_v.data),
                     lif.iin_rd.eq(rp_iin.data), lif.rate_rd.eq(rp_rate.data), lif.row4.eq(u_d[PIPE - 1])]
        # the spike vector takes the spikes from stage 3, so that the next sub-step's row-read phase
        # (or its update phase) can start while stage 4 writes the last row's rate; SPIKES counts
        # them from stage 4's register (from stage 3, its adder lengthened the critical path)
        z_bits = [lif.z[lane] for lane in range(lanes)]
        spike_next = named(m, Cat(spike[lanes:], lif.z3), "spike_next")
        fired = sum(z_bits[1:], z_bits[0].as_unsigned())
        spikes_sum = named(m, spikes + fired, "spikes_sum")
        spikes_max = (1 << spikes_w) - 1

        # --- the next presynaptic row to read ------------------------------------------------------
        m.submodules.spike_search = search = SpikeSearch(n)
        m.d.comb += search.vector.eq(spike)
        pre, spike_rest = search.pre, search.rest

        # --- output accumulation (read data of output k = out_k, row out_u) -----------------------
        m.submodules.output = output = OutputAccumulator(spec, lanes)
        m.d.comb += [output.valid.eq(out_valid), output.first.eq(out_first), output.k.eq(out_k),
                     output.mask.eq(rp_out.data.word_select(out_u, lanes)), output.rates.eq(rp_rate.data),
                     output.r_index.eq(ridx["OUT"])]

        # --- default memory addressing: the bus (the core's states override) ----------------------
        # a bus address outside a window reads row 0 (hit implies a row below the depth)
        for name, (rp, wp) in masks.items():
            row, word = divmod_const(ridx[name], row_words)
            m.d.comb += rp.addr.eq(Mux(rhit[name], row, 0))
            wrow, wword = divmod_const(widx[name], row_words)
            m.d.comb += [
                wp.addr.eq(wrow),
                wp.data.eq(bus.w_data.replicate(row_words)),
            ]
        r_neuron = ridx["STATE"][log2_exact(n_fields):]
        r_row, r_lane = divmod_const(r_neuron, lanes)
        for rp, _ in state_fields:
            m.d.comb += rp.addr.eq(Mux(rhit["STATE"], r_row, 0))
        w_field = widx["STATE"][:log2_exact(n_fields)]
        w_row, w_lane = divmod_const(widx["STATE"][log2_exact(n_fields):], lanes)
        m.d.comb += [wp_v.addr.eq(w_row), wp_v.data.eq(bus.w_data[:sw].replicate(lanes))]

        # --- the controller --------------------------------------------------------------------------
        def begin_step():
            m.d.sync += [cycles.eq(0), spikes.eq(0), done.eq(0), aborted.eq(0), i.eq(0)]
            m.next = "IN_READ"

        def enter_substep(vector):
            with m.If(vector != 0):
                m.next = "REC"
            with m.Else():
                m.next = "UPD"
            m.d.sync += u.eq(0)

        stage3 = Signal()  # stage 3 of the LIF pipeline holds a row (only in UPD)
        m.d.sync += [row_valid.eq(0), out_valid.eq(0), u_d[0].eq(u)]
        m.d.sync += [u_d[s + 1].eq(u_d[s]) for s in range(PIPE - 1)]

        in_step = Signal()  # an env step is running (driven below, from the FSM's state)

        @contextlib.contextmanager
        def state(name):
            """An FSM state that CONTROL.ABORT leaves for CLEAR (its statements come last, so win)."""
            with m.State(name):
                yield
                with m.If(cmd_abort):
                    m.d.sync += [u.eq(0), pend_start.eq(0)]
                    with m.If(in_step):
                        m.d.sync += [aborted.eq(1), done.eq(0)]
                    m.next = "CLEAR"

        with m.FSM(name="ctrl") as ctrl:
            with state("IDLE"):
                with m.If(cmd_reset):
                    m.d.sync += u.eq(0)
                    m.next = "CLEAR"
                with m.Elif(cmd_start):
                    begin_step()
            with state("CLEAR"):
                for wp in (wp_v, wp_isyn, wp_rate, wp_iin):
                    m.d.comb += [wp.addr.eq(u), wp.data.eq(0), wp.en.eq(-1)]
                # the accumulators, which an aborted step may have left full, are cleared at once
                m.d.comb += accum.clear.eq(1)
                m.d.sync += [spike.eq(0), u.eq(u + 1)]
                with m.If(u == rows - 1):
                    m.d.sync += pend_start.eq(0)
                    with m.If(pend_start):
                        begin_step()
                    with m.Else():
                        m.next = "IDLE"
            with state("IN_READ"):
                neg = i >= d
                xq = obs[Mux(neg, (i - d)[:len(i)], i)]
                m.d.comb += rp_in.addr.eq(i)
                m.d.sync += [row_valid.eq(1), row_sel_in.eq(1), delta.eq(Mux(neg, -xq, xq)),
                             i.eq(i + 1)]
                with m.If(i == spec.n_inputs - 1):
                    m.next = "IN_WAIT"
            with state("IN_WAIT"):
                m.d.sync += u.eq(0)
                m.next = "IN_STORE"
            with state("IN_STORE"):
                m.d.comb += [accum.sel.eq(u), accum.clear.eq(u == rows - 1), wp_iin.addr.eq(u),
                             wp_iin.data.eq(accum.bottom_sat), wp_iin.en.eq(-1)]
                m.d.sync += u.eq(u + 1)
                with m.If(u == rows - 1):
                    m.d.sync += sub.eq(0)
                    enter_substep(spike)
            with state("REC"):
                m.d.comb += rp_h.addr.eq(pre)
                m.d.sync += [row_valid.eq(1), row_sel_in.eq(0),
                             delta.eq(Mux(pre < spec.n_exc, 1, -1)), spike.eq(spike_rest)]
                with m.If(spike_rest == 0):
                    m.d.sync += u.eq(0)
                    m.next = "UPD"
            with state("UPD"):
                m.d.comb += stage3.eq((u >= 3) & (u <= rows + 2))

                def in_range(row):  # no read beyond the depth while the pipeline drains
                    return Mux(row < rows, row, 0)
                m.d.comb += [rp_isyn.addr.eq(in_range(u)),  # stage 1's, one cycle ahead
                             rp_iin.addr.eq(in_range(u_d[0])),  # stage 2's
                             rp_v.addr.eq(in_range(u_d[0])),  # stages 2 and 3's (carried in p2_v)
                             rp_rate.addr.eq(in_range(u_d[2]))]  # stage 4's
                m.d.sync += u.eq(u + 1)
                with m.If((u >= 1) & (u <= rows)):  # stage 1 holds a row
                    m.d.comb += [accum.sel.eq(u_d[0]), accum.clear.eq(u == rows),
                                 wp_isyn.addr.eq(u_d[0]), wp_isyn.data.eq(lif.isyn_new),
                                 wp_isyn.en.eq(-1)]
                with m.If(stage3):  # stage 3: the spikes are final
                    m.d.comb += [wp_v.addr.eq(u_d[2]), wp_v.data.eq(lif.v_new), wp_v.en.eq(-1)]
                    m.d.sync += spike.eq(spike_next)
                # stage 4 (the rate write, below) of the last row overlaps the next phase's first
                # cycle: a next sub-step starts one cycle before the pipeline is empty; OUT, which
                # reads the rates, only after it
                with m.If((sub == k_sub - 1) & (u == rows + PIPE - 1)):
                    m.d.sync += [u.eq(0), k.eq(0)]
                    m.next = "OUT"
                with m.If((sub != k_sub - 1) & (u == rows + PIPE - 2)):
                    m.d.sync += sub.eq(sub + 1)
                    enter_substep(spike_next)
            with state("OUT"):
                m.d.comb += [rp_rate.addr.eq(u), rp_out.addr.eq(k)]
                m.d.sync += [out_valid.eq(1), out_k.eq(k), out_u.eq(u), out_first.eq(u == 0),
                             u.eq(u + 1)]
                with m.If(u == rows - 1):
                    m.d.sync += [u.eq(0), k.eq(k + 1)]
                    with m.If(k == a - 1):
                        m.next = "OUT_WAIT"
            with state("OUT_WAIT"):  # the last row's read latency (its first stage)
                m.next = "OUT_DRAIN"
            with state("OUT_DRAIN"):  # the last row's second stage
                m.next = "OUT_LAST"
            with state("OUT_LAST"):  # the last row's third stage
                if self.controller_fault == "hang":  # test only: never finish on a marked observation
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
            m.d.comb += [wp_rate.addr.eq(u_d[3]), wp_rate.data.eq(lif.rate_new), wp_rate.en.eq(-1)]
            m.d.sync += spikes.eq(Mux(spikes_sum > spikes_max, spikes_max, spikes_sum))

        busy = named(m, ~ctrl.ongoing("IDLE"), "busy")
        m.d.comb += in_step.eq(~ctrl.ongoing("IDLE") & ~ctrl.ongoing("CLEAR"))
        with m.If(in_step):
            m.d.sync += cycles.eq(cycles + 1)

        # --- bus writes ------------------------------------------------------------------------------
        ro_regs = [r for r in rmap.registers.values() if r.access is Access.RO]
        ro_wins = [w for w in rmap.windows.values() if w.access is Access.RO]
        w_any = named(m, Cat(*whit.values()).any(), "w_any")
        w_ro = named(m, Cat(*(whit[r.name] for r in ro_regs), *(whit[w.name] for w in ro_wins)).any(), "w_ro")
        w_err = named(m, ~w_any | w_ro, "w_err")
        w_window = named(m, Cat(*(whit[w.name] for w in rmap.windows.values()
                                  if w.access is not Access.RO)).any(), "w_window")
        w_wait = Signal()  # a RESET_STATE write waits for the clear to finish
        data = bus.w_data
        c_start = data[Control.START.bit_length() - 1]
        c_reset = data[Control.RESET_STATE.bit_length() - 1]
        c_clear = data[Control.CLEAR_ERROR.bit_length() - 1]
        c_abort = data[Control.ABORT.bit_length() - 1]
        clear_now = named(m, bus.w_stb & ~w_wait & whit["CONTROL"] & c_clear & ~w_err, "clear_now")
        error_fresh = ~error | clear_now  # the next error is the first since CLEAR_ERROR

        def flag(addr, *bits):
            """Set ERROR and ``bits``; latch ``addr`` into ERR_ADDR if this is the first error. The
            write path comes after the read path, so a write wins ERR_ADDR in the same cycle."""
            m.d.sync += [b.eq(1) for b in (error, *bits)]
            with m.If(error_fresh):
                m.d.sync += err_addr.eq(addr)

        # --- bus reads (before the writes: see flag) -------------------------------------------
        # Every read answers OKAY one cycle after it is offered. An unmapped or unaligned address
        # answers 0 and sets ERR_READ; a window read while busy answers 0 and sets ERR_BUSY.
        r_wait = Signal()
        r_window = named(m, Cat(*(rhit[w.name] for w in rmap.windows.values())).any(), "r_window")
        r_any = named(m, Cat(*rhit.values()).any(), "r_any")
        r_refused = named(m, ~r_any | (r_window & busy), "r_refused")
        with m.If(r_wait):
            m.d.sync += r_wait.eq(0)
            with m.If(~r_any):
                flag(bus.r_addr, err_read)
            with m.Elif(r_window & busy):
                flag(bus.r_addr, err_busy)
        with m.Elif(bus.r_stb):
            m.d.sync += r_wait.eq(1)
        m.d.comb += [bus.r_ack.eq(r_wait), bus.r_err.eq(0)]

        clearing = ctrl.ongoing("CLEAR")
        with m.If(w_wait):
            m.d.comb += bus.w_ack.eq(~clearing)
            m.d.sync += w_wait.eq(clearing)
        with m.Elif(bus.w_stb):  # OKAY always: a refused write sets ERR_WRITE instead of SLVERR
            m.d.comb += [bus.w_ack.eq(1), bus.w_err.eq(0)]
            with m.If(w_err):
                flag(bus.w_addr, err_write)
            with m.Elif(whit["CONTROL"]):
                with m.If(c_clear):
                    m.d.sync += [error.eq(0), err_busy.eq(0), err_not_loaded.eq(0), err_read.eq(0),
                                 err_write.eq(0), err_addr.eq(0)]
                with m.If(c_abort):  # stop, clear; the response waits for the clear, as RESET_STATE's
                    m.d.comb += [cmd_abort.eq(1), bus.w_ack.eq(0)]
                    m.d.sync += w_wait.eq(1)
                with m.Elif(busy & (c_start | c_reset)):
                    flag(bus.w_addr, err_busy)
                with m.Elif(c_reset):
                    m.d.comb += [cmd_reset.eq(1), bus.w_ack.eq(0)]
                    m.d.sync += [w_wait.eq(1), pend_start.eq(c_start & loaded)]
                with m.Elif(c_start & loaded):
                    m.d.comb += cmd_start.eq(1)
                with m.If(~c_abort & ~busy & c_start & ~loaded):
                    flag(bus.w_addr, err_not_loaded)
            with m.Elif(w_window & busy):
                flag(bus.w_addr, err_busy)
            with m.Else():
                for name, (_, wp) in masks.items():
                    _, wword = divmod_const(widx[name], row_words)
                    with m.If(whit[name]):
                        m.d.comb += wp.en.eq(bus.w_strb << (wword * 4))
                        m.d.sync += loaded.eq(1)
                with m.If(whit["OBS"]):
                    m.d.sync += obs[widx["OBS"]].eq(data[:ow])
                with m.If(whit["STATE"] & (w_field == 0)):  # isyn, rate, i_in: OKAY, ignored
                    m.d.comb += wp_v.en.eq(Const(1, lanes) << w_lane)

        # --- read data ---------------------------------------------------------------------------
        status = Signal(rmap.registers["STATUS"].width)
        for bit, value in ((Status.BUSY, busy), (Status.DONE, done), (Status.ERROR, error),
                           (Status.LOADED, loaded), (Status.ABORTED, aborted), (Status.ERR_BUSY, err_busy),
                           (Status.ERR_NOT_LOADED, err_not_loaded), (Status.ERR_READ, err_read),
                           (Status.ERR_WRITE, err_write)):
            m.d.comb += status[bit.bit_length() - 1].eq(value)
        values = {name: Const(v, 32) for name, v in rmap.constants().items()}
        values |= {"STATUS": status, "CONTROL": Const(0, 32), "CYCLES": cycles, "SPIKES": spikes,
                   "ERR_ADDR": err_addr}
        missing = set(rmap.registers) - set(values)
        assert not missing, f"registers without a value: {missing}"

        r_data = Signal(32)
        m.d.comb += bus.r_data.eq(Mux(r_refused, 0, r_data))
        r_field = ridx["STATE"][:log2_exact(n_fields)]
        state_words = [Signal(signed(32), name=f"r_state_{f}") for f in range(n_fields)]
        for f, (rp, width) in enumerate(state_fields):
            m.d.comb += state_words[f].eq(rp.data.word_select(r_lane, width).as_signed())
        with m.Switch(Cat(*(rhit[x] for x in [*rmap.registers, *rmap.windows]))):
            for pos, name in enumerate([*rmap.registers, *rmap.windows]):
                with m.Case(1 << pos):
                    if name in values:
                        m.d.comb += r_data.eq(values[name])
                    elif name in masks:
                        _, word = divmod_const(ridx[name], row_words)
                        m.d.comb += r_data.eq(masks[name][0].data.word_select(word, 32))
                    elif name == "OBS":
                        m.d.comb += r_data.eq(obs[ridx[name]])
                    elif name == "OUT":
                        m.d.comb += r_data.eq(output.r_data)
                    elif name == "STATE":
                        m.d.comb += r_data.eq(Array(state_words)[r_field])
                    elif name == "SPIKE":
                        m.d.comb += r_data.eq(Cat(spike, Const(0, row_bits - n)).word_select(
                            ridx[name], 32))
                    else:  # pragma: no cover - a window the core does not know
                        raise AssertionError(f"no read path for {name}")
        return m
