"""The cycle model: clock cycles of one env step, the RTL's timing contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from evoconn.spec.sizes import DEFAULT_LANES, Spec, SpecError


@dataclasses.dataclass(frozen=True)
class CycleModel:
    """Clock cycles of one env step of the core, from the sizes and the spike counts.

    The core is event-driven: in each sub-step it reads one recurrent mask row (all N bits at
    once) per neuron that spiked in the previous sub-step, then updates the N neurons ``lanes``
    at a time. Phases, from START to DONE:

    - input:    ``2d`` row reads, each adding ``+-xq`` to all N input accumulators, then one cycle
                per ``lanes`` neurons to saturate and store I_in;
    - sub-step: ``spikes(previous sub-step)`` row reads + ``N / lanes`` update cycles
                + ``substep_overhead``;
    - output:   ``a * N / lanes`` cycles of multiply-free accumulation + ``output_overhead``;
    - plus ``start_overhead``.

    The constants are the RTL's contract: the core (:mod:`evoconn.hw.core`) is built to take
    exactly this many cycles, counted by its CYCLES register as the cycles with STATUS.BUSY set
    after the START write is accepted. The input's ``+1`` is one cycle of block-RAM read latency
    at the end of the phase (the last row read's data); the sub-step's ``+3`` is the depth of the LIF
    update pipeline up to its spikes (the cycle in which the last mask row's add lands, which is
    also the update's stage 0, the registered accumulator row, for row 0 with that add bypassed
    into it; then the registered stages 1 to 3: the last row's spikes are final 3 cycles after its
    stage 0; its stage 4, the rate write, overlaps the next sub-step's first cycle); the output's
    ``+4`` is that stage 4 after the last sub-step, one cycle of read latency and two more for the
    registered stages of its adder tree.
    START itself costs nothing, and a sub-step with no arriving spikes skips the row-read phase
    entirely.

    CONTROL.SAMPLE (core 1.2) fills the masks and v0 from RHO and a key: :meth:`sample_cycles`,
    counted by CYCLES in the same way. The sampler has one Threefry-2x32-20 unit doing
    ``sampler_unroll`` rounds a cycle (``20 // unroll + 1`` cycles a block); each block costs that
    plus one cycle to land, and gives the two entries that share it one cycle each (the unit idles
    meanwhile: it is not prefetched); ``sample_overhead`` is the compare and output registers behind
    the last entry. The count starts after the clear that SAMPLE begins with (``N / lanes`` cycles,
    inside the SAMPLE write's response, as RESET_STATE's).
    """

    spec: Spec
    lanes: int = DEFAULT_LANES
    start_overhead: int = 0
    input_overhead: int = 1
    substep_overhead: int = 3
    output_overhead: int = 4
    sampler_unroll: int = 2
    sample_overhead: int = 2

    def __post_init__(self) -> None:
        n = self.spec.n_neurons
        if self.lanes < 1 or n % self.lanes:
            raise SpecError(f"lanes={self.lanes} must be at least 1 and divide n_neurons={n}")
        if self.sampler_unroll not in (1, 2, 4):  # the Threefry unit's (evoconn.hw.threefry.UNROLLS)
            raise SpecError(f"sampler_unroll={self.sampler_unroll} must be 1, 2 or 4")

    def input_cycles(self) -> int:
        return self.spec.n_inputs + self.spec.n_neurons // self.lanes + self.input_overhead

    def substep_cycles(self, prev_spikes: int) -> int:
        return prev_spikes + self.spec.n_neurons // self.lanes + self.substep_overhead

    def output_cycles(self) -> int:
        return self.spec.act_dim * self.spec.n_neurons // self.lanes + self.output_overhead

    def env_step_cycles(self, prev_spikes: int, spikes_per_substep: Sequence[int]) -> int:
        """Cycles for one env step.

        ``prev_spikes`` is the number of neurons spiking when START arrives (the last sub-step of
        the previous env step, 0 after a reset); ``spikes_per_substep`` the K counts this step.
        """
        k = self.spec.substeps
        if len(spikes_per_substep) != k:
            raise ValueError(f"need {k} spike counts, got {len(spikes_per_substep)}")
        arriving = [prev_spikes, *spikes_per_substep[:-1]]
        return (
            self.start_overhead
            + self.input_cycles()
            + sum(self.substep_cycles(s) for s in arriving)
            + self.output_cycles()
        )

    def sample_blocks(self) -> int:
        """Threefry blocks of one fill: consecutive entries of a stream share a block (mask_h,
        mask_in and v0 in the core's row order); mask_out is read transposed (entry ``c*a + r``),
        so for a > 1 each of its entries needs a block of its own."""
        s = self.spec
        n, a = s.n_neurons, s.act_dim
        out = a * n if a > 1 else (n + 1) // 2
        return (n * n + 1) // 2 + (s.n_inputs * n + 1) // 2 + out + (n + 1) // 2

    def sample_cycles(self) -> int:
        """Cycles of one CONTROL.SAMPLE, from the accepted write to the end of BUSY (the masks, then v0)."""
        s = self.spec
        n = s.n_neurons
        entries = n * n + s.n_inputs * n + s.act_dim * n + n
        block = 20 // self.sampler_unroll + 1 + 1  # the unit's latency, then a cycle to land
        return self.sample_blocks() * block + entries + self.sample_overhead

    def typical_env_step_cycles(self, firing_fraction: float = 0.02) -> float:
        """Cycles for an env step with a steady ``firing_fraction`` of neurons per sub-step."""
        s = firing_fraction * self.spec.n_neurons
        return self.env_step_cycles(round(s), [round(s)] * self.spec.substeps)
