"""The on-chip mask sampler: one member's masks (and v0) from its key and the rho memory.

Given a member key ``(k0, k1)`` (``key = Cat(k0, k1)``), :class:`MaskSampler` produces exactly
``mask_rows(spec, sample_masks(rho, key))`` of :mod:`evoconn.spec.packing` / :mod:`evoconn.spec.prng`,
as the 32-bit words the core's mask memories hold, and then ``initial_membrane(key, N, F)``:

- **Order.** The masks in stream order (:func:`evoconn.spec.prng.mask_streams`: mask_h = 0, mask_in = 1,
  mask_out = 2), then v0 (stream ``STREAM_V0``). Within a mask, the core's rows in order, each row
  from bit 0 to bit N - 1. Every core row has N bits: MASK_H row r = presynaptic neuron r; MASK_IN
  row i = input row i of ``[x, -x]``; MASK_OUT row k = output k (the transposed ``mask_out``).
- **Index.** The entry at core row r, bit c has the PRNG index ``j = r*N + c`` for mask_h and
  mask_in (the paper's orientation is the core's), and ``j = c*a + r`` for mask_out (paper entry
  ``(neuron c, output r)``). Its word is word ``j & 1`` of the block at counter ``(j >> 1, stream)``;
  the last block is kept, so consecutive entries of mask_h/mask_in share a block (one block per
  two bits) while mask_out (a > 1) needs a block per bit.
- **rho memory.** One b-bit ``rho_q`` per connection (b = ``RHO_BITS``), the three masks in stream
  order in the paper's orientation, row-major: ``rho_addr = base[mask] + j`` with the bases of
  :func:`rho_layout`. ``rho_q = 2**b`` (rho = 1.0) does not fit in b bits; EC clips rho to
  [1e-3, 1 - 1e-3] (rho_q in [4, 4092]) and deterministic masks are written by the host directly.
  The port is a synchronous read (data one cycle after the address), like a block RAM read port.
- **Bit.** ``(word >> (32 - b)) < rho_q``.
- **Outputs.** ``m_valid`` for one cycle per mask word, with ``m_mem`` (the index of the memory in
  :data:`MASKS`), ``m_row``, ``m_word`` (word of the row) and ``m_data`` (bit c of the row is bit
  ``c % 32`` of word ``c // 32``; unused high bits of the last word are 0, as in
  :func:`~evoconn.spec.packing.pack_rows`); ``v_valid`` per neuron with ``v_index``, ``v_data``
  (``word >> (32 - F)``). There is no back-pressure: a block RAM write port takes a word a cycle.
- **Control.** ``start`` (when ``busy`` is low) latches the key; ``busy`` is high from the next
  cycle until the last output; ``done`` pulses with the last output (``v_valid`` of neuron N - 1),
  when ``busy`` is low again and a new ``start`` may be given.

Timing: one Threefry unit (:class:`~evoconn.hw.threefry.Threefry2x32`, ``unroll`` rounds a
cycle); a block costs its latency plus one cycle to land in the cache, then its two entries take
a cycle each (the block is not prefetched: the unit idles while its words are consumed). The
exact count for a spec is :func:`fill_cycles`, which the tests check against the simulation.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec import CycleModel, Spec
from evoconn.spec.prng import RHO_BITS, STREAM_V0, mask_streams, rho_layout

from .threefry import Threefry2x32

__all__ = ["MASKS", "MaskSampler", "fill_cycles", "rho_layout"]

#: The masks in stream order; ``m_mem`` is an index into this tuple.
_STREAMS = mask_streams(Spec(n_neurons=8, obs_dim=1, act_dim=1).mask_shapes)
MASKS = tuple(sorted(_STREAMS, key=_STREAMS.__getitem__))


def _core_rows(spec: Spec) -> dict[str, int]:
    """Core rows of each mask memory (every row has N bits)."""
    return {"mask_h": spec.n_neurons, "mask_in": spec.n_inputs, "mask_out": spec.act_dim}


def fill_cycles(spec: Spec, unroll: int = 4) -> int:
    """Clock edges from the cycle that accepts ``start`` to the cycle of ``done``: the spec's
    :meth:`evoconn.spec.CycleModel.sample_cycles` for this ``unroll`` (the core's CYCLES counts
    exactly these edges; the lanes do not enter)."""
    return CycleModel(spec, lanes=1, sampler_unroll=unroll).sample_cycles()


class MaskSampler(wiring.Component):
    """Ports: ``k0``, ``k1``, ``start`` in; ``busy``, ``done`` out; the rho read port ``rho_addr``
    out, ``rho_data`` (b bits) in; the mask word stream ``m_valid``, ``m_mem``, ``m_row``,
    ``m_word``, ``m_data`` out; the v0 stream ``v_valid``, ``v_index``, ``v_data`` out."""

    def __init__(self, spec: Spec, unroll: int = 4, bits: int = RHO_BITS):
        self.spec, self.unroll, self.bits = spec, unroll, bits
        self.layout = rho_layout(spec)
        n = spec.n_neurons
        super().__init__({
            "k0": In(32), "k1": In(32), "start": In(1), "busy": Out(1), "done": Out(1),
            "rho_addr": Out(range(max(2, self.layout["depth"]))), "rho_data": In(bits),
            "m_valid": Out(1), "m_mem": Out(range(len(MASKS))),
            "m_row": Out(range(max(2, max(_core_rows(spec).values())))),
            "m_word": Out(range(max(2, spec.row_words))), "m_data": Out(32),
            "v_valid": Out(1), "v_index": Out(range(n)), "v_data": Out(spec.state_frac),
        })

    def elaborate(self, platform):
        m = Module()
        spec, b = self.spec, self.bits
        n, a, frac = spec.n_neurons, spec.act_dim, spec.state_frac
        rows = _core_rows(spec)
        streams = mask_streams(MASKS)
        n_phases = len(MASKS) + 1  # the masks, then v0
        stream_of = [streams[k] for k in MASKS] + [STREAM_V0]
        rows_of = [rows[k] for k in MASKS] + [1]
        base_of = [self.layout[k] for k in MASKS] + [0]
        last_w = n - 32 * (spec.row_words - 1)  # bits in a row's last word
        jmax = max(s[0] * s[1] for s in spec.mask_shapes.values())

        m.submodules.tf = tf = Threefry2x32(self.unroll)

        k0, k1 = Signal(32), Signal(32)
        busy = Signal()
        # --- stage A: the entry that wants its word -----------------------------------------
        a_act = Signal()
        phase = Signal(range(n_phases))
        r = Signal(range(max(2, max(rows_of))))
        c = Signal(range(n))
        j = Signal(range(jmax + 1))
        # the block cache (the last block the unit returned) and the outstanding request
        c_valid, c_ctr = Signal(), Signal(range(jmax + 1))
        c_y0, c_y1 = Signal(32), Signal(32)
        pending = Signal()
        # --- stage B: the word and its entry, rho_data arriving for it ------------------------
        b_valid, b_phase = Signal(), Signal(range(n_phases))
        b_r, b_c, b_word = Signal.like(r), Signal.like(c), Signal(32)
        b_last = Signal()  # the last entry overall
        acc = Signal(32)  # bits of the current output word, the newest at the top

        def sel(values, width=None):
            out = Const(values[-1], width) if width else values[-1]
            for p in range(len(values) - 2, -1, -1):
                out = Mux(phase == p, values[p], out)
            return out

        stream = Signal(32)
        rows_now = Signal.like(r)
        base = Signal.like(self.rho_addr)
        m.d.comb += [stream.eq(sel(stream_of, 32)), rows_now.eq(sel([x - 1 for x in rows_of], len(r))),
                     base.eq(sel(base_of, len(self.rho_addr)))]

        hit = c_valid & (c_ctr == j[1:])
        m.d.comb += [
            self.busy.eq(busy),
            tf.k0.eq(k0), tf.k1.eq(k1), tf.x0.eq(j[1:]), tf.x1.eq(stream),
            tf.start.eq(a_act & ~hit & ~pending),
            self.rho_addr.eq(base + j),
        ]
        m.d.sync += [b_valid.eq(0), self.m_valid.eq(0), self.v_valid.eq(0), self.done.eq(0)]

        with m.If(self.start & ~busy):
            m.d.sync += [k0.eq(self.k0), k1.eq(self.k1), busy.eq(1), a_act.eq(1), phase.eq(0), r.eq(0),
                         c.eq(0), j.eq(0), c_valid.eq(0), pending.eq(0), acc.eq(0)]

        with m.If(tf.start):
            m.d.sync += pending.eq(1)
        with m.If(pending & tf.done):
            m.d.sync += [pending.eq(0), c_valid.eq(1), c_ctr.eq(j[1:]), c_y0.eq(tf.y0), c_y1.eq(tf.y1)]

        with m.If(a_act & hit):
            last_c, last_r = c == n - 1, r == rows_now
            m.d.sync += [b_valid.eq(1), b_phase.eq(phase), b_r.eq(r), b_c.eq(c),
                         b_word.eq(Mux(j[0], c_y1, c_y0)),
                         b_last.eq(last_c & last_r & (phase == n_phases - 1))]
            is_out = phase == MASKS.index("mask_out")
            with m.If(~last_c):
                m.d.sync += [c.eq(c + 1), j.eq(Mux(is_out, j + a, j + 1))]
            with m.Elif(~last_r):
                m.d.sync += [c.eq(0), r.eq(r + 1), j.eq(Mux(is_out, r + 1, j + 1))]
            with m.Else():  # the next mask (a new stream: the cache is stale)
                m.d.sync += [c.eq(0), r.eq(0), j.eq(0), c_valid.eq(0)]
                with m.If(phase == n_phases - 1):
                    m.d.sync += a_act.eq(0)
                with m.Else():
                    m.d.sync += phase.eq(phase + 1)

        # --- stage B: compare, pack, emit ---------------------------------------------------
        bit = b_word[32 - b:] < self.rho_data
        acc_next = Signal(32)
        m.d.comb += acc_next.eq((acc >> 1) | (bit << 31))
        with m.If(b_valid):
            with m.If(b_phase == n_phases - 1):
                m.d.sync += [self.v_valid.eq(1), self.v_index.eq(b_c), self.v_data.eq(b_word[32 - frac:])]
            with m.Else():
                row_end = b_c == n - 1
                word_end = row_end | (b_c[:5] == 31)
                m.d.sync += acc.eq(Mux(word_end, 0, acc_next))
                with m.If(word_end):
                    m.d.sync += [self.m_valid.eq(1), self.m_mem.eq(b_phase), self.m_row.eq(b_r),
                                 self.m_word.eq(b_c >> 5),
                                 self.m_data.eq(Mux(row_end, acc_next >> (32 - last_w), acc_next))]
            with m.If(b_last):
                m.d.sync += [self.done.eq(1), busy.eq(0)]
        return m
