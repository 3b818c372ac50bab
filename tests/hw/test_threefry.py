"""The Threefry-2x32 unit equals evoconn.spec.prng.threefry2x32 bit for bit, in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator
from numpy.testing import assert_array_equal

from evoconn.hw.threefry import UNROLLS, Threefry2x32, latency
from evoconn.spec.prng import threefry2x32

EDGE = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 0x1BD11BDA, 0xE42EE425]


def _inputs(seed: int, n_random: int) -> np.ndarray:
    """(k0, k1, x0, x1) rows: the two Random123 known-answer inputs, edge words, random words."""
    rng = np.random.default_rng(seed)
    rows = [(0, 0, 0, 0), (0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)]
    rows += [tuple(int(v) for v in rng.choice(EDGE, 4)) for _ in range(8)]
    rows += [(e, e, e, e) for e in EDGE]
    rows += [tuple(int(v) for v in r) for r in rng.integers(0, 1 << 32, (n_random, 4), dtype=np.uint64)]
    return np.array(rows, dtype=np.uint32)


def _run(unit: Threefry2x32, inputs: np.ndarray, gap: int = 0) -> tuple[np.ndarray, list[int]]:
    """Feed the blocks back to back (``gap`` idle cycles between); returns the outputs and the
    cycles from each accepted start to its ``done``."""
    out, lat = [], []

    async def bench(ctx):
        for k0, k1, x0, x1 in inputs:
            ctx.set(unit.k0, int(k0))
            ctx.set(unit.k1, int(k1))
            ctx.set(unit.x0, int(x0))
            ctx.set(unit.x1, int(x1))
            ctx.set(unit.start, 1)
            assert ctx.get(unit.ready)
            await ctx.tick()
            ctx.set(unit.start, 0)
            # garbage on the inputs while busy must not matter
            ctx.set(unit.k0, 0xDEADBEEF)
            ctx.set(unit.x1, 0x12345678)
            n = 1
            while not ctx.get(unit.done):
                assert not ctx.get(unit.ready)
                await ctx.tick()
                n += 1
            lat.append(n)
            out.append((ctx.get(unit.y0), ctx.get(unit.y1)))
            for _ in range(gap):
                await ctx.tick()
                assert not ctx.get(unit.done)
                assert (ctx.get(unit.y0), ctx.get(unit.y1)) == out[-1]  # held until the next start

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.uint32), lat


@pytest.mark.parametrize("unroll", UNROLLS)
def test_threefry_bit_exact(unroll):
    inputs = _inputs(unroll, 40)
    unit = Threefry2x32(unroll)
    got, lat = _run(unit, inputs, gap=1 if unroll == 2 else 0)
    y0, y1 = threefry2x32(inputs[:, 0], inputs[:, 1], inputs[:, 2], inputs[:, 3])
    assert_array_equal(got, np.stack([y0, y1], axis=-1))
    assert lat == [unit.latency] * len(inputs)
    assert unit.latency == 20 // unroll + 1


def test_known_answers():
    """Random123's known answers, independent of the numpy reference."""
    got, _ = _run(Threefry2x32(4), np.array([(0, 0, 0, 0), (0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)],
                                            dtype=np.uint32))
    assert got.tolist() == [[0x6B200159, 0x99BA4EFE], [0xC4923A9C, 0x483DF7A0]]


def test_bad_unroll():
    """The unit's constructor checks ``unroll`` through :func:`latency`."""
    for bad in (0, 3, 5, 20):
        with pytest.raises(ValueError, match="unroll"):
            latency(bad)
