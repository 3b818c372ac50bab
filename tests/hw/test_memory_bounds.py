"""No memory read addresses beyond the memory's depth, in any cycle.

An out-of-range read is X in a four-state simulator and undefined on a block RAM. The sizes are
chosen so that no depth is a power of two (2d = 6 MASK_IN rows, N = 12 MASK_H rows, a = 3 MASK_OUT
rows, N / lanes = 3 state rows, N² + 2dN + aN = 252 rho words), so no address width hides an
overflow; the bench runs env steps with spikes, a SAMPLE fill (the sampler's rho reads), and sweeps
the bus over the whole decoded space, reads and writes.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from evoconn.hw.core import EvoconnCore
from evoconn.spec import Control, Spec, Status

from .hw_bus import CoreDriver, random_masks

SPEC = Spec(n_neurons=12, obs_dim=3, act_dim=3, substeps=6)
LANES = 4


def test_no_read_beyond_a_memory_depth():
    dut = EvoconnCore(SPEC, LANES)
    rmap = dut.regmap
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    ports = dut.read_ports
    assert {name for name, _, _ in ports} == {"mask_in", "mask_h", "mask_out", "state_v", "state_isyn",
                                              "state_rate", "state_iin", "rho"}
    assert sorted(depth for _, _, depth in ports if depth & (depth - 1)) == [3, 3, 3, 3, 3, 6, 12, 252]
    bad: list[str] = []
    checked = [0]

    async def monitor(ctx):
        while True:
            await ctx.tick()
            checked[0] += 1
            for name, rp, depth in ports:
                addr = ctx.get(rp.addr)
                if addr >= depth and len(bad) < 10:
                    bad.append(f"{name}: address {addr} >= depth {depth} at cycle {checked[0]}")

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        rng = np.random.default_rng(3)
        await drv.write("CONTROL", Control.RESET_STATE)
        await drv.load_masks(random_masks(SPEC, rng, 0.6))
        for xq in ([9000, -4000, 7000], [20000, 20000, -3000], [-1, 0, 30000]):
            await drv.step(xq)
        assert (await drv.state())["spike"].any() or await drv.read("SPIKES"), "no spikes: a weak test"
        for j in range(rmap["RHO"].depth):
            await drv.write("RHO", int(rng.integers(1, 4096)), j)
        await drv.write("CONTROL", Control.SAMPLE)
        while await drv.read("STATUS") & Status.BUSY:
            pass
        for addr in range(0, rmap.size, 4):
            await drv.bus.read(addr)
        for w in rmap.windows.values():  # writes just past each window's last word
            end = w.offset + w.size
            if end < w.offset + w.span:
                await drv.bus.write(end, 0)
                await drv.bus.read(end)

    sim.add_testbench(monitor, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert checked[0] > 1000
    assert not bad, "\n".join(bad)
