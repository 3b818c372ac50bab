"""Threefry-2x32 with 20 rounds (the block function of :mod:`evoconn.spec.prng`) as an iterative unit.

One block ``(y0, y1) = threefry2x32(k0, k1, x0, x1)`` takes ``20 / unroll + 1`` cycles: the cycle
that accepts ``start`` adds the first key words (``x0 + k0``, ``x1 + k1``) into the state
registers, then each of ``20 / unroll`` cycles applies ``unroll`` rounds (and, after every fourth
round, the key injection), and the cycle after the last round holds ``done`` high with the result
on ``y0``/``y1``. ``ready`` is high from that cycle on, so a new ``start`` may be given in the
``done`` cycle: back to back, the unit gives 2 words every ``20 / unroll + 1`` cycles (2/21,
2/11 or 2/6 words per cycle for ``unroll`` = 1, 2, 4). The result stays on ``y0``/``y1`` until the
next ``start`` is accepted.

The key schedule needs no multiplexer: three registers hold the key words in the order they are
injected and rotate by one word at each injection (the ``ks[(g + 1) % 3]``, ``ks[(g + 2) % 3]`` of
the spec), and a 3-bit register counts the injections (the ``+ (g + 1)`` term). Rotation amounts
are constants, selected by the step counter when ``unroll`` < 8 needs more than one set.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from evoconn.spec.prng import KEY_PARITY, ROTATIONS

__all__ = ["ROUNDS", "UNROLLS", "Threefry2x32", "latency"]

#: Rounds of Threefry-2x32-20.
ROUNDS = 20
#: Rounds per cycle this unit supports (each divides the 4 rounds between key injections).
UNROLLS = (1, 2, 4)


def latency(unroll: int) -> int:
    """Cycles from an accepted ``start`` to ``done`` (also the block period back to back)."""
    if unroll not in UNROLLS:
        raise ValueError(f"unroll must be one of {UNROLLS}, got {unroll!r}")
    return ROUNDS // unroll + 1


def _rotl(x, r: int):
    return Cat(x[32 - r:], x[:32 - r])


class Threefry2x32(wiring.Component):
    """Ports: ``k0``, ``k1``, ``x0``, ``x1`` (32 bits each) and ``start`` in; ``ready``, ``done``,
    ``y0``, ``y1`` out. Inputs are sampled in the cycle where ``start & ready``."""

    def __init__(self, unroll: int = 4):
        #: Cycles from an accepted ``start`` to ``done`` (and the block period back to back).
        self.latency = latency(unroll)
        self.unroll = unroll
        super().__init__({
            "k0": In(32), "k1": In(32), "x0": In(32), "x1": In(32), "start": In(1),
            "ready": Out(1), "done": Out(1), "y0": Out(32), "y1": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        u = self.unroll
        steps = ROUNDS // u
        x0, x1 = Signal(32), Signal(32)
        ka, kb, kc = Signal(32), Signal(32), Signal(32)  # the next two injected words, then the third
        ninj = Signal(3)  # key injections done so far (g)
        step = Signal(range(steps))
        busy = Signal()
        done = Signal()
        m.d.comb += [self.ready.eq(~busy), self.done.eq(done), self.y0.eq(x0), self.y1.eq(x1)]
        m.d.sync += done.eq(0)

        with m.If(self.start & ~busy):
            k2 = self.k0 ^ self.k1 ^ Const(KEY_PARITY, 32)
            m.d.sync += [x0.eq(self.x0 + self.k0), x1.eq(self.x1 + self.k1),
                         ka.eq(self.k1), kb.eq(k2), kc.eq(self.k0), ninj.eq(0), step.eq(0), busy.eq(1)]
        with m.Elif(busy):
            # the rotation set of this step: rounds step*u .. step*u + u - 1 use ROTATIONS[i % 8]
            sets = 8 // u
            phase = step[:sets.bit_length() - 1] if sets > 1 else Const(0, 1)
            y0, y1 = [], []
            for p in range(sets):
                a, b = x0, x1
                for t in range(u):
                    r = ROTATIONS[(p * u + t) % 8]
                    a = (a + b)[:32]
                    b = _rotl(b, r) ^ a
                y0.append(a)
                y1.append(b)
            n0, n1 = y0[-1], y1[-1]
            for p in range(sets - 2, -1, -1):
                n0, n1 = Mux(phase == p, y0[p], n0), Mux(phase == p, y1[p], n1)
            per_group = 4 // u
            inject = (step[:per_group.bit_length() - 1] == per_group - 1) if per_group > 1 else Const(1, 1)
            with m.If(inject):
                m.d.sync += [x0.eq(n0 + ka), x1.eq(n1 + kb + ninj + 1),
                             ka.eq(kb), kb.eq(kc), kc.eq(ka), ninj.eq(ninj + 1)]
            with m.Else():
                m.d.sync += [x0.eq(n0), x1.eq(n1)]
            with m.If(step == steps - 1):
                m.d.sync += [busy.eq(0), done.eq(1)]
            with m.Else():
                m.d.sync += step.eq(step + 1)
        return m
