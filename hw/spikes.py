"""The spike search: the lowest set bit of the spike vector, the next presynaptic row to read.

Combinational, in two levels so that its depth grows with log N, not N: the vector is cut into
groups of ``G`` bits (``G`` the power of two nearest ``sqrt(N)``, 16 at N = 256); the lowest group
with a set bit is found over the groups' OR-reductions, its bits are selected (an AND-OR over the
one-hot group), and the lowest set bit is found within them. ``pre`` is the index of the lowest set
bit of ``vector`` (0 when none is set) and ``rest`` the vector with that bit cleared (only the
selected group changes), so the controller consumes the vector one spike a cycle. The values are
those of ``spike & -spike`` and ``spike & (spike - 1)``; only the circuit differs (no N-bit carry
chain: v1 of the core had one, 22.1 ns at N = 256).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import named

__all__ = ["SpikeSearch", "group_width"]


def group_width(n: int) -> int:
    """The group width ``G``: a power of two near ``sqrt(n)``, at least 1."""
    g = 1
    while g * g < n:
        g *= 2
    return g


def _lowest(m, w):
    """One-hot of the lowest set bit of ``w`` (0 when none)."""
    return (w & (~w + 1))[:len(w)]


def _encode(onehot, width: int):
    """The index of the set bit of a one-hot value (0 when none): OR trees, no carry chain."""
    bits = []
    for b in range(width):
        sel = [onehot[j] for j in range(len(onehot)) if (j >> b) & 1]
        bits.append(Cat(*sel).any() if sel else Const(0, 1))
    return Cat(*bits)


class SpikeSearch(wiring.Component):
    """Ports: ``vector`` (N bits) in; ``pre`` (index), ``rest`` (N bits) out."""

    def __init__(self, n: int):
        self.n = n
        self.group = group_width(n)
        super().__init__({
            "vector": In(n),
            "pre": Out(max(1, (n - 1).bit_length())),
            "rest": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n, g = self.n, self.group
        n_groups = -(-n // g)
        padded = Cat(self.vector, Const(0, n_groups * g - n))
        words = [padded[k * g:(k + 1) * g] for k in range(n_groups)]
        # every intermediate is a signal of its own: each is used many times, and an expression
        # would be copied into every use (the simulator's compiled code grows with the copies)
        any_g = named(m, Cat(*(w.any() for w in words)), "any_group")
        first_g = named(m, _lowest(m, any_g), "first_group") if n_groups > 1 else Const(1, 1)
        sel = words[0] if n_groups == 1 else named(m, Cat(*(
            Cat(*((words[k][b] & first_g[k]) for k in range(n_groups))).any() for b in range(g))), "group_bits")
        low = named(m, _lowest(m, sel), "lowest_in_group")
        g_bits = (g - 1).bit_length()
        index = Cat(_encode(low, g_bits), _encode(first_g, (n_groups - 1).bit_length())) if n_groups > 1 \
            else _encode(low, g_bits)
        rest = Cat(*((w & ~low) if n_groups == 1 else (w & ~(low & first_g[k].replicate(g)))
                     for k, w in enumerate(words)))
        m.d.comb += [self.pre.eq(index), self.rest.eq(rest[:n])]
        return m
