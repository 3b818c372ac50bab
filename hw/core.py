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
  one cycle before the stage that needs it), behind a stage 0 that registers the row's recurrent
  counts (the accumulator array's ``bottom``, the last row read's add bypassed into it, so it costs
  no cycle) and ``decay(I_syn)``; the accumulator select and clear are registers of their own, so
  neither the FSM's decode nor the N / lanes-to-1 read multiplexer is in front of stage 1. The
  sub-step's first cycle (``SUB``) picks a row read or the update phase from the registered spike
  vector. The new spikes are shifted into the spike vector
  ``lanes`` at a time from stage 3, so the next sub-step starts while stage 4 writes the last
  row's rate (that write runs on its own registered stage-valid bit, whichever state the FSM is
  in); the output phase waits for it, so the last sub-step takes one cycle more.
- **Output phase.** ``a * N / lanes`` cycles, each adding up to ``lanes`` rates selected by the
  transposed output mask into ``OUT[k]`` through three stages (the masked rates and the adder
  tree's first level, registered; its next two levels, registered; the rest and the add into
  ``OUT[k]``), plus one cycle of read latency and two that drain the stages.

The core is a composition: every unit is a component of its own, in a module of its own, and
this module only wires them together with ``m.submodules``:

- :mod:`evoconn.hw.axil`: the AXI4-Lite target, turning the bus into a simple register bus;
- :mod:`evoconn.hw.regfile`: the register file (its two address decoders, :mod:`evoconn.hw.decode`,
  generated from :func:`evoconn.spec.protocol.regions`; bus reads and writes, STATUS and error
  latching, ERR_ADDR, CONTROL's commands, CYCLES and SPIKES);
- :mod:`evoconn.hw.memories`: the mask and state memories, with their bus and datapath ports;
- :mod:`evoconn.hw.controller`: the FSM (input phase, sub-steps, output phase, clear and abort);
- the datapath: the accumulator array (:mod:`evoconn.hw.accum`), the LIF pipeline
  (:mod:`evoconn.hw.lif`), the spike search (:mod:`evoconn.hw.spikes`) and the output accumulator
  (:mod:`evoconn.hw.output`).

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

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring

from evoconn.spec import DEFAULT_LANES, CycleModel, RegisterMap, Spec

from .accum import AccumulatorArray
from .arith import divmod_const
from .axil import AXIL_PORTS, AXI4LiteTarget, axil_members
from .controller import FAULTS as CONTROLLER_FAULTS
from .controller import Controller
from .decode import FAULTS as DECODE_FAULTS
from .lif import FAULTS as LIF_FAULTS
from .lif import PIPE, LIFPipeline
from .memories import BUS_WRITES, DP_WRITES, MASKS, RHO, Memories
from .output import OutputAccumulator
from .regfile import FAULTS as REGFILE_FAULTS
from .regfile import RegisterFile
from .sampler import MASKS as SAMPLER_MASKS
from .sampler import MaskSampler
from .spikes import SpikeSearch

__all__ = ["FAULTS", "MODULE_NAME", "PIPE", "EvoconnCore"]

#: The name of the exported Verilog module.
MODULE_NAME = "evoconn_core"

#: Deliberate faults for testing the tests, each a realistic one-line bug of one unit, selected by
#: ``EvoconnCore(..., fault=name)`` and absent (the netlist unchanged) with ``fault=None``: the LIF
#: pipeline's (the arithmetic), the controller's (``hang`` breaks the protocol; the others skip a
#: sub-step, an input row or an output row), the register file's (the CYCLES and SPIKES counters,
#: ERR_ADDR, LOADED kept over ``rst``), the address decoder's (an aliased register, a read-only
#: register not refused) and this module's wiring (the AXI target out of ``rst``).
#: ``tests/sim/test_rtl_faults.py`` shows the rtl tier catches each (bench/results/mutation.md).
#: (The AXI target's own faults, :data:`evoconn.hw.axil.FAULTS`, are for its formal check.)
WIRING_FAULTS = {
    "axil_reset_less": "the AXI target sits in a clock domain without rst: after rst in the middle of a "
                       "write, its held address (and any held half) survives",
}
FAULTS = {**LIF_FAULTS, **CONTROLLER_FAULTS, **REGFILE_FAULTS, **DECODE_FAULTS, **WIRING_FAULTS}


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
    if fault == "substep_skipped" and spec.substeps < 2:
        raise ValueError("fault 'substep_skipped' needs substeps >= 2")
    if fault == "output_row_short" and n // lanes < 2:
        raise ValueError("fault 'output_row_short' needs n_neurons / lanes >= 2")


class EvoconnCore(wiring.Component):
    """The RSNN core with an AXI4-Lite target (flat ports ``s_axil_*``, plus ``clk`` and ``rst``).

    Parameters
    ----------
    spec:
        The integer spec; every size, width, constant and address of the core derives from it.
    lanes:
        Neurons updated per clock; must divide ``spec.n_neurons``.
    fault:
        Test only: a key of :data:`FAULTS`, a deliberate bug (``'hang'`` makes a step on a marked
        observation never finish).

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
        self.controller_fault = fault if fault in CONTROLLER_FAULTS else None
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
        m = Module()
        axil = AXI4LiteTarget(rmap.addr_width)
        if self.fault == "axil_reset_less":  # test only: the target clocked by clk, but no rst
            m.domains.axil = ClockDomain("axil", reset_less=True, local=True)
            m.d.comb += ClockSignal("axil").eq(ClockSignal("sync"))
            m.submodules.axil = DomainRenamer("axil")(axil)
        else:
            m.submodules.axil = axil
        for name, direction, _ in AXIL_PORTS:
            outer, inner = getattr(self, "s_axil_" + name), getattr(axil, "s_axil_" + name)
            m.d.comb += inner.eq(outer) if direction == "in" else outer.eq(inner)

        m.submodules.memories = mems = Memories(spec, lanes)
        for name, mem in mems.memories.items():  # at the top, so the netlist keeps their names
            m.submodules[name] = mem
        self.read_ports = mems.read_ports
        m.submodules.regfile = regs = RegisterFile(
            spec, lanes, rmap, mems, fault=self.fault if self.fault in {**REGFILE_FAULTS, **DECODE_FAULTS} else None)
        wiring.connect(m, axil.bus, regs.bus)
        delta_width = max(spec.obs_width + 1, 2)
        m.submodules.accum = accum = AccumulatorArray(spec.n_neurons, lanes, self.acc_width, delta_width,
                                                      spec.state_width)
        m.submodules.spike_search = search = SpikeSearch(spec.n_neurons)
        m.submodules.ctrl = ctrl = Controller(spec, lanes, mems, delta_width, len(search.pre),
                                              fault=self.controller_fault)
        m.submodules.lif = lif = LIFPipeline(spec, lanes, self.acc_width, ctrl.row4.shape(),
                                             fault=self.fault if self.fault in LIF_FAULTS else None)
        m.submodules.output = output = OutputAccumulator(spec, lanes)
        # the mask sampler, reset by ABORT (its Threefry unit too, so a new fill starts clean)
        sampler = MaskSampler(spec, self.cycle_model.sampler_unroll)
        m.submodules.sampler = ResetInserter(regs.cmd_abort)(sampler)
        sampling = Signal(name="sampling")  # the fill runs (its last output's cycle included)
        m.d.comb += sampling.eq(sampler.busy | sampler.done)

        # the register file, the controller and the sampler
        m.d.comb += [getattr(ctrl, x).eq(getattr(regs, x)) for x in ("cmd_start", "cmd_reset", "cmd_abort",
                                                                      "cmd_pend", "cmd_sample", "obs")]
        m.d.comb += [getattr(regs, x).eq(getattr(ctrl, x)) for x in ("clearing", "done", "aborted",
                                                                      "spikes_en", "spike")]
        m.d.comb += [regs.busy.eq(ctrl.busy | sampling), regs.sampling.eq(sampling), ctrl.sampling.eq(sampling),
                     regs.in_step.eq(ctrl.in_step | sampling), regs.begin.eq(ctrl.begin | ctrl.sample_go),
                     sampler.start.eq(ctrl.sample_go), sampler.k0.eq(regs.seed0), sampler.k1.eq(regs.seed1)]
        m.d.comb += [regs.z.eq(lif.z), regs.out_data.eq(output.r_data), output.r_index.eq(regs.out_index)]
        # the memories: the bus side from the register file, the datapath side from the controller
        # (the rho memory's datapath side is the sampler's read port)
        for name in mems.shapes:
            m.d.comb += [regs.mem(name, "rdata").eq(mems.rdata(name)),
                         mems.port("bus", name, "raddr").eq(regs.mem(name, "raddr"))]
            dp = (sampler.rho_addr, sampler.busy) if name == RHO else (ctrl.mem(name, "raddr"), ctrl.mem(name, "ren"))
            m.d.comb += [mems.port("dp", name, "raddr").eq(dp[0]), mems.port("dp", name, "ren").eq(dp[1])]
        m.d.comb += sampler.rho_data.eq(mems.rdata(RHO))
        # the bus side of the masks and of v: the register file's, or the sampler's while it fills
        # (the register file writes no window then: the core is busy)
        fill = {name: (sampler.m_row, sampler.m_data.replicate(spec.row_words),
                       Mux(sampler.m_valid & (sampler.m_mem == SAMPLER_MASKS.index(name)),
                           Const(0xF, 4) << (sampler.m_word * 4), 0)) for name in MASKS}
        v_row, v_lane = divmod_const(sampler.v_index, lanes)
        v0 = Cat(sampler.v_data, Const(0, spec.state_width - spec.state_frac))  # in [0, 2**F): v >= 0
        fill["state_v"] = (v_row, v0.replicate(lanes), Mux(sampler.v_valid, Const(1, lanes) << v_lane, 0))
        for name in BUS_WRITES:
            if name in fill:
                m.d.comb += [mems.port("bus", name, x).eq(Mux(sampling, f, regs.mem(name, x)))
                             for x, f in zip(("waddr", "wdata", "wen"), fill[name], strict=True)]
            else:
                m.d.comb += [mems.port("bus", name, x).eq(regs.mem(name, x)) for x in ("waddr", "wdata", "wen")]
        for name in DP_WRITES:
            m.d.comb += [mems.port("dp", name, x).eq(ctrl.mem(name, x)) for x in ("waddr", "wdata", "wen")]
        # the datapath units
        m.d.comb += [
            accum.row.eq(Mux(ctrl.row_sel_in, mems.mask_in_rdata, mems.mask_h_rdata)[:spec.n_neurons]),
            accum.add.eq(ctrl.row_valid), accum.delta.eq(ctrl.delta), accum.sel.eq(ctrl.acc_sel),
            accum.clear.eq(ctrl.acc_clear), ctrl.acc_bottom_sat.eq(accum.bottom_sat),
            search.vector.eq(ctrl.spike), ctrl.pre.eq(search.pre), ctrl.spike_rest.eq(search.rest),
            lif.acc.eq(accum.bottom), lif.isyn_rd.eq(mems.state_isyn_rdata), lif.v_rd.eq(mems.state_v_rdata),
            lif.iin_rd.eq(mems.state_iin_rdata), lif.rate_rd.eq(mems.state_rate_rdata), lif.row4.eq(ctrl.row4),
            ctrl.isyn_new.eq(lif.isyn_new), ctrl.v_new.eq(lif.v_new), ctrl.rate_new.eq(lif.rate_new),
            ctrl.z3.eq(lif.z3),
            output.valid.eq(ctrl.out_valid), output.first.eq(ctrl.out_first), output.k.eq(ctrl.out_k),
            output.mask.eq(mems.mask_out_rdata.word_select(ctrl.out_u, lanes)),
            output.rates.eq(mems.state_rate_rdata),
        ]
        return m
