"""The core's units on their own (the core-level tests cover them in place)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from evoconn.hw.spikes import SpikeSearch, group_width


@pytest.mark.parametrize("n", [1, 3, 8, 24, 64])
def test_spike_search_is_the_lowest_set_bit(n):
    """``pre`` is the index of the lowest set bit (0 for none), ``rest`` the vector without it:
    the values of ``v & -v`` and ``v & (v - 1)``, on edge and random vectors. (N = 256, where
    Amaranth's simulator takes minutes to compile the unit alone, is covered by the hopper-size core
    tests.)"""
    rng = np.random.default_rng(n)
    vectors = [0, (1 << n) - 1, 1, 1 << (n - 1)] + [1 << int(b) for b in rng.integers(0, n, 8)]
    for p in (0.02, 0.1, 0.5):
        vectors += [sum(1 << j for j in range(n) if rng.random() < p) for _ in range(12)]
    dut = SpikeSearch(n)
    got = []

    async def bench(ctx):
        for v in vectors:
            ctx.set(dut.vector, v)
            await ctx.delay(1e-9)
            got.append((ctx.get(dut.pre), ctx.get(dut.rest)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for v, (pre, rest) in zip(vectors, got, strict=True):
        want_pre = ((v & -v).bit_length() - 1) if v else 0
        assert (pre, rest) == (want_pre, v & (v - 1)), f"n={n} vector {v:#x}"
    assert group_width(n) ** 2 >= n and (group_width(n) // 2) ** 2 < max(n, 2)
