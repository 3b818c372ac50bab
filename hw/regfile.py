"""The register file: the bus side of the core, behind the AXI4-Lite target's register bus.

It implements :class:`evoconn.spec.RegisterMap` with the board-safe responses of
:mod:`evoconn.spec.protocol` (the rules are listed in :mod:`evoconn.hw.core`): the two address
decoders (reads and writes, :mod:`evoconn.hw.decode`), the bus reads and writes, the observation
registers, LOADED, STATUS with ERROR and its cause bits, ERR_ADDR (the first error's address),
CONTROL (START, RESET_STATE, CLEAR_ERROR, ABORT, SAMPLE, handed to the controller as commands), the
CYCLES and SPIKES counters, SEED0 and SEED1 (the key the mask sampler takes), and the bus side of
the memories (:mod:`evoconn.hw.memories`: the masks, the state, the rho memory).

From the controller (:mod:`evoconn.hw.controller`) it takes ``busy``, ``clearing``, ``in_step``,
``done``, ``aborted``, ``begin`` (CYCLES and SPIKES restart), ``spikes_en`` with ``z`` (stage 4's
spikes, counted into SPIKES) and ``spike`` (the SPIKE window); from the output accumulator its
``out_data`` (the OUT window, at ``out_index``). ``busy`` is the core's (the controller's or the
sampler's), ``sampling`` the sampler's alone (STATUS.SAMPLING).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import Access, Control, RegisterMap, Spec, Status

from .arith import divmod_const, log2_exact, named
from .axil import RegBusSignature
from .decode import FAULTS as DECODE_FAULTS
from .decode import AddressDecoder
from .memories import MASKS, RHO, STATES, Memories

__all__ = ["FAULTS", "RegisterFile"]

#: The register file's deliberate faults (test only; see :data:`evoconn.hw.core.FAULTS`).
FAULTS = {
    "cycles_off_by_one": "START sets CYCLES to 1 instead of 0: every step reads one cycle too many",
    "spikes_not_reset": "START leaves SPIKES as it was: it counts on across env steps",
    "spikes_wrap": "SPIKES adds without saturating: past 2**16 - 1 it wraps around",
    "err_addr_read": "a refused read sets ERROR and its cause but does not latch its address in ERR_ADDR",
    "loaded_survives_rst": "LOADED is left out of the synchronous reset: after rst STATUS still reads LOADED",
}


class RegisterFile(wiring.Component):
    """The register file of :class:`evoconn.hw.core.EvoconnCore` (ports: see the module docstring)."""

    def __init__(self, spec: Spec, lanes: int, regmap: RegisterMap, memories: Memories, *,
                 fault: str | None = None):
        self.spec, self.lanes, self.regmap, self.fault = spec, lanes, regmap, fault
        self.shapes = memories.shapes
        self.decode_fault = fault if fault in DECODE_FAULTS else None
        members = {
            "bus": In(RegBusSignature(regmap.addr_width)),
            "cmd_start": Out(1), "cmd_reset": Out(1), "cmd_abort": Out(1), "cmd_pend": Out(1),
            "cmd_sample": Out(1), "seed0": Out(32), "seed1": Out(32), "sampling": In(1),
            "obs": Out(data.ArrayLayout(signed(spec.obs_width), spec.obs_dim)),
            "busy": In(1), "clearing": In(1), "in_step": In(1), "done": In(1), "aborted": In(1),
            "begin": In(1), "spikes_en": In(1), "z": In(lanes), "spike": In(spec.n_neurons),
            "out_index": Out(range(spec.act_dim)), "out_data": In(signed(spec.out_width)),
        }
        for name, (width, depth, _) in memories.shapes.items():
            members[f"{name}_rdata"] = In(width)
            members[f"{name}_raddr"] = Out(range(depth))
        members.update(memories.write_members("bus", (*MASKS, "state_v", RHO)))
        super().__init__(members)

    def mem(self, name: str, what: str):
        return getattr(self, f"{name}_{what}")

    def elaborate(self, platform):
        spec, lanes, rmap = self.spec, self.lanes, self.regmap
        n, d, ow, sw = spec.n_neurons, spec.obs_dim, spec.obs_width, spec.state_width
        row_words = spec.row_words
        row_bits = 32 * row_words
        bus = self.bus
        m = Module()

        # --- registers ---------------------------------------------------------------------------
        obs = Array(Signal(signed(ow), name=f"obs{i}") for i in range(d))
        m.d.comb += [self.obs[i].eq(obs[i]) for i in range(d)]
        cycles = Signal(rmap.registers["CYCLES"].width)
        spikes_w = rmap.registers["SPIKES"].width
        spikes = Signal(spikes_w)
        loaded, error, err_busy, err_not_loaded, err_read, err_write = (
            Signal(name=x, reset_less=x == "loaded" and self.fault == "loaded_survives_rst")
            for x in ("loaded", "error", "err_busy", "err_not_loaded", "err_read", "err_write"))
        err_addr = Signal(rmap.registers["ERR_ADDR"].width)
        seed0, seed1 = Signal(32), Signal(32)
        m.d.comb += [self.seed0.eq(seed0), self.seed1.eq(seed1)]
        busy = self.busy

        # --- the counters ------------------------------------------------------------------------
        # SPIKES counts from stage 4's register (from stage 3, its adder lengthened the critical path)
        z_bits = [self.z[lane] for lane in range(lanes)]
        fired = sum(z_bits[1:], z_bits[0].as_unsigned())
        spikes_sum = named(m, spikes + fired, "spikes_sum")
        spikes_max = (1 << spikes_w) - 1
        with m.If(self.begin):
            m.d.sync += cycles.eq(int(self.fault == "cycles_off_by_one"))
            if self.fault != "spikes_not_reset":
                m.d.sync += spikes.eq(0)
        with m.If(self.in_step):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.spikes_en):
            if self.fault == "spikes_wrap":
                m.d.sync += spikes.eq(spikes_sum)
            else:
                m.d.sync += spikes.eq(Mux(spikes_sum > spikes_max, spikes_max, spikes_sum))

        # --- bus decode --------------------------------------------------------------------------
        m.submodules.w_decode = w_dec = AddressDecoder(rmap, fault=self.decode_fault)
        m.submodules.r_decode = r_dec = AddressDecoder(rmap, fault=self.decode_fault)
        m.d.comb += [w_dec.addr.eq(bus.w_addr), r_dec.addr.eq(bus.r_addr)]
        whit = {name: w_dec.hit(name) for name in [*rmap.registers, *rmap.windows]}
        rhit = {name: r_dec.hit(name) for name in [*rmap.registers, *rmap.windows]}
        widx = {name: w_dec.idx(name) for name in rmap.windows}
        ridx = {name: r_dec.idx(name) for name in rmap.windows}
        m.d.comb += self.out_index.eq(ridx["OUT"])

        # --- the bus side of the memories --------------------------------------------------------
        # a bus address outside a window reads row 0 (hit implies a row below the depth)
        masks = dict(zip(MASKS, ("MASK_IN", "MASK_H", "MASK_OUT"), strict=True))
        for mem, win in masks.items():
            row, _ = divmod_const(ridx[win], row_words)
            m.d.comb += self.mem(mem, "raddr").eq(Mux(rhit[win], row, 0))
            wrow, _ = divmod_const(widx[win], row_words)
            m.d.comb += [self.mem(mem, "waddr").eq(wrow), self.mem(mem, "wdata").eq(bus.w_data.replicate(row_words))]
        n_fields = rmap.windows["STATE"].stride
        assert n_fields == len(STATES)
        r_neuron = ridx["STATE"][log2_exact(n_fields):]
        r_row, r_lane = divmod_const(r_neuron, lanes)
        for mem in STATES:
            m.d.comb += self.mem(mem, "raddr").eq(Mux(rhit["STATE"], r_row, 0))
        rho_w = self.shapes[RHO][0]
        m.d.comb += [self.mem(RHO, "raddr").eq(Mux(rhit["RHO"], ridx["RHO"], 0)),
                     self.mem(RHO, "waddr").eq(widx["RHO"]), self.mem(RHO, "wdata").eq(bus.w_data[:rho_w])]
        w_field = widx["STATE"][:log2_exact(n_fields)]
        w_row, w_lane = divmod_const(widx["STATE"][log2_exact(n_fields):], lanes)
        m.d.comb += [self.state_v_waddr.eq(w_row), self.state_v_wdata.eq(bus.w_data[:sw].replicate(lanes))]

        # --- bus writes ------------------------------------------------------------------------------
        w_err = named(m, w_dec.refused_write, "w_err")
        w_window = named(m, Cat(*(whit[w.name] for w in rmap.windows.values()
                                  if w.access is not Access.RO)).any(), "w_window")
        w_wait = Signal()  # a RESET_STATE write waits for the clear to finish
        wdata = bus.w_data
        c_start = wdata[Control.START.bit_length() - 1]
        c_reset = wdata[Control.RESET_STATE.bit_length() - 1]
        c_clear = wdata[Control.CLEAR_ERROR.bit_length() - 1]
        c_abort = wdata[Control.ABORT.bit_length() - 1]
        c_sample = wdata[Control.SAMPLE.bit_length() - 1]
        clear_now = named(m, bus.w_stb & ~w_wait & whit["CONTROL"] & c_clear & ~w_err, "clear_now")
        error_fresh = ~error | clear_now  # the next error is the first since CLEAR_ERROR

        def flag(addr, *bits, latch=True):
            """Set ERROR and ``bits``; latch ``addr`` into ERR_ADDR if this is the first error. The
            write path comes after the read path, so a write wins ERR_ADDR in the same cycle."""
            m.d.sync += [b.eq(1) for b in (error, *bits)]
            if latch:
                with m.If(error_fresh):
                    m.d.sync += err_addr.eq(addr)

        # --- bus reads (before the writes: see flag) -------------------------------------------
        # Every read answers OKAY one cycle after it is offered. An unmapped or unaligned address
        # answers 0 and sets ERR_READ; a window read while busy answers 0 and sets ERR_BUSY.
        r_wait = Signal()
        r_window = named(m, Cat(*(rhit[w.name] for w in rmap.windows.values())).any(), "r_window")
        r_unmapped = named(m, r_dec.refused_read, "r_unmapped")
        r_refused = named(m, r_unmapped | (r_window & busy), "r_refused")
        with m.If(r_wait):
            m.d.sync += r_wait.eq(0)
            with m.If(r_unmapped):
                flag(bus.r_addr, err_read, latch=self.fault != "err_addr_read")
            with m.Elif(r_window & busy):
                flag(bus.r_addr, err_busy)
        with m.Elif(bus.r_stb):
            m.d.sync += r_wait.eq(1)
        m.d.comb += [bus.r_ack.eq(r_wait), bus.r_err.eq(0)]

        with m.If(w_wait):
            m.d.comb += bus.w_ack.eq(~self.clearing)
            m.d.sync += w_wait.eq(self.clearing)
        with m.Elif(bus.w_stb):  # OKAY always: a refused write sets ERR_WRITE instead of SLVERR
            m.d.comb += [bus.w_ack.eq(1), bus.w_err.eq(0)]
            with m.If(w_err):
                flag(bus.w_addr, err_write)
            with m.Elif(whit["CONTROL"]):
                with m.If(c_clear):
                    m.d.sync += [error.eq(0), err_busy.eq(0), err_not_loaded.eq(0), err_read.eq(0),
                                 err_write.eq(0), err_addr.eq(0)]
                with m.If(c_abort):  # stop, clear; the response waits for the clear, as RESET_STATE's
                    m.d.comb += [self.cmd_abort.eq(1), bus.w_ack.eq(0)]
                    m.d.sync += w_wait.eq(1)
                with m.Elif(busy & (c_start | c_reset | c_sample)):
                    flag(bus.w_addr, err_busy)
                with m.Elif(c_sample):  # a clear, then the fill; the response waits for the clear
                    m.d.comb += [self.cmd_sample.eq(1), bus.w_ack.eq(0)]
                    m.d.sync += [w_wait.eq(1), loaded.eq(1)]
                    with m.If(c_start):  # START meets the fill it starts: refused as while busy
                        flag(bus.w_addr, err_busy)
                with m.Elif(c_reset):
                    m.d.comb += [self.cmd_reset.eq(1), self.cmd_pend.eq(c_start & loaded), bus.w_ack.eq(0)]
                    m.d.sync += w_wait.eq(1)
                with m.Elif(c_start & loaded):
                    m.d.comb += self.cmd_start.eq(1)
                with m.If(~c_abort & ~busy & c_start & ~loaded & ~c_sample):
                    flag(bus.w_addr, err_not_loaded)
            with m.Elif(whit["SEED0"]):  # the seeds are registers: writable while busy too
                m.d.sync += seed0.eq(wdata)
            with m.Elif(whit["SEED1"]):
                m.d.sync += seed1.eq(wdata)
            with m.Elif(w_window & busy):
                flag(bus.w_addr, err_busy)
            with m.Else():
                for mem, win in masks.items():
                    _, wword = divmod_const(widx[win], row_words)
                    with m.If(whit[win]):
                        m.d.comb += self.mem(mem, "wen").eq(bus.w_strb << (wword * 4))
                        m.d.sync += loaded.eq(1)
                with m.If(whit[RHO.upper()]):
                    m.d.comb += self.mem(RHO, "wen").eq(1)
                with m.If(whit["OBS"]):
                    m.d.sync += obs[widx["OBS"]].eq(wdata[:ow])
                with m.If(whit["STATE"] & (w_field == 0)):  # isyn, rate, i_in: OKAY, ignored
                    m.d.comb += self.state_v_wen.eq(Const(1, lanes) << w_lane)

        # --- read data ---------------------------------------------------------------------------
        status = Signal(rmap.registers["STATUS"].width)
        for bit, value in ((Status.BUSY, busy), (Status.DONE, self.done), (Status.ERROR, error),
                           (Status.LOADED, loaded), (Status.ABORTED, self.aborted),
                           (Status.SAMPLING, self.sampling), (Status.ERR_BUSY, err_busy),
                           (Status.ERR_NOT_LOADED, err_not_loaded), (Status.ERR_READ, err_read),
                           (Status.ERR_WRITE, err_write)):
            m.d.comb += status[bit.bit_length() - 1].eq(value)
        values = {name: Const(v, 32) for name, v in rmap.constants().items()}
        values |= {"STATUS": status, "CONTROL": Const(0, 32), "CYCLES": cycles, "SPIKES": spikes,
                   "ERR_ADDR": err_addr, "SEED0": seed0, "SEED1": seed1}
        missing = set(rmap.registers) - set(values)
        assert not missing, f"registers without a value: {missing}"

        r_data = Signal(32)
        m.d.comb += bus.r_data.eq(Mux(r_refused, 0, r_data))
        r_field = ridx["STATE"][:log2_exact(n_fields)]
        state_words = [Signal(signed(32), name=f"r_state_{f}") for f in range(n_fields)]
        for f, mem in enumerate(STATES):
            width = self.shapes[mem][0] // lanes
            m.d.comb += state_words[f].eq(self.mem(mem, "rdata").word_select(r_lane, width).as_signed())
        window_mem = {win: mem for mem, win in masks.items()}
        with m.Switch(Cat(*(rhit[x] for x in [*rmap.registers, *rmap.windows]))):
            for pos, name in enumerate([*rmap.registers, *rmap.windows]):
                with m.Case(1 << pos):
                    if name in values:
                        m.d.comb += r_data.eq(values[name])
                    elif name in window_mem:
                        _, word = divmod_const(ridx[name], row_words)
                        m.d.comb += r_data.eq(self.mem(window_mem[name], "rdata").word_select(word, 32))
                    elif name == RHO.upper():
                        m.d.comb += r_data.eq(self.mem(RHO, "rdata"))
                    elif name == "OBS":
                        m.d.comb += r_data.eq(obs[ridx[name]])
                    elif name == "OUT":
                        m.d.comb += r_data.eq(self.out_data)
                    elif name == "STATE":
                        m.d.comb += r_data.eq(Array(state_words)[r_field])
                    elif name == "SPIKE":
                        m.d.comb += r_data.eq(Cat(self.spike, Const(0, row_bits - n)).word_select(
                            ridx[name], 32))
                    else:  # pragma: no cover - a window the core does not know
                        raise AssertionError(f"no read path for {name}")
        return m
