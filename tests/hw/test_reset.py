"""The synchronous reset asserted in the middle of an env step and in the middle of an AXI write.

Documented reset state (hw/core.py): the registers and STATUS return to their reset values (not
BUSY, not DONE, not LOADED, no error), the memories keep their contents; the host reloads the masks
and issues RESET_STATE, and the next episode is exact.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal

from evoconn.hw.core import EvoconnCore
from evoconn.spec import Control, Spec, Status

from .hw_bus import CoreDriver, random_masks, simulate, zero_state
from .test_core_oracle import _check_step

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=3, substeps=6)
LANES = 4


class _WithReset(Elaboratable):
    """The core in a sync domain whose reset the testbench drives (``rst``); the core's ports and
    attributes are the wrapper's, so the bus driver sees the core."""

    def __init__(self, core: EvoconnCore):
        self.core = core
        self.rst = Signal()

    def __getattr__(self, name):
        return getattr(self.core, name)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.d.comb += cd.rst.eq(self.rst)
        m.submodules.core = self.core
        return m


async def _pulse_reset(ctx, dut, cycles: int = 2) -> None:
    ctx.set(dut.rst, 1)
    for _ in range(cycles):
        await ctx.tick()
    ctx.set(dut.rst, 0)


async def _episode_after_reset(drv, masks, rng, steps=3):
    status = await drv.read("STATUS")
    assert status == 0, f"STATUS after reset: {status:#x}"  # not BUSY, DONE, LOADED; no error
    assert await drv.read("CYCLES") == 0 and await drv.read("SPIKES") == 0
    await drv.load_masks(masks)
    await drv.write("CONTROL", Control.RESET_STATE)
    state = zero_state(SPEC)
    for _ in range(steps):
        xq = rng.integers(-4 * SPEC.threshold, 4 * SPEC.threshold, SPEC.obs_dim)
        state = await _check_step(drv, SPEC, LANES, masks, state, xq)
    return state


def test_reset_in_the_middle_of_an_env_step():
    dut = _WithReset(EvoconnCore(SPEC, LANES))
    rng = np.random.default_rng(21)
    masks = random_masks(SPEC, rng, 0.4)
    fired = []

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        await drv.write("CONTROL", Control.RESET_STATE)
        state = zero_state(SPEC)
        for at in (5, 60):  # in the input phase; in a sub-step
            state = await _check_step(drv, SPEC, LANES, masks, state, [9000, -3000, 7000])
            for i, x in enumerate([20000, 15000, -2000]):
                await drv.write("OBS", x & 0xFFFFFFFF, i)
            await drv.write("CONTROL", Control.START)
            for _ in range(at):
                await ctx.tick()
            assert await drv.read("STATUS") & Status.BUSY, "the reset must come in the middle of a step"
            await _pulse_reset(ctx, dut)
            state = await _episode_after_reset(drv, masks, rng)
            fired.append(int(state["spike"].sum()) + int(np.abs(state["rate"]).sum()))

    simulate(dut, bench)
    assert sum(fired) > 0, "no activity after the resets: a weak test"


def test_reset_in_the_middle_of_an_axi_write():
    dut = _WithReset(EvoconnCore(SPEC, LANES))
    rng = np.random.default_rng(22)
    masks = random_masks(SPEC, rng, 0.4)

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        # AW accepted, W not yet sent: the write is half-held in the target when rst comes
        ctx.set(dut.s_axil_awaddr, drv.addr("CONTROL"))
        ctx.set(dut.s_axil_awvalid, 1)
        while not ctx.get(dut.s_axil_awready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(dut.s_axil_awvalid, 0)
        assert not ctx.get(dut.s_axil_awready), "AW should be held"
        await _pulse_reset(ctx, dut)
        assert ctx.get(dut.s_axil_awready) and ctx.get(dut.s_axil_wready) and not ctx.get(dut.s_axil_bvalid)
        # the lone W that follows is now the first half of a new write, to the address given with it
        await drv.write("OBS", 1234, 0)
        assert await drv.read("OBS", 0) == 1234
        await _episode_after_reset(drv, masks, rng)
        # and a reset while a read response waits (RVALID high, RREADY low)
        ctx.set(dut.s_axil_araddr, drv.addr("STATUS"))
        ctx.set(dut.s_axil_arvalid, 1)
        while not ctx.get(dut.s_axil_rvalid):
            await ctx.tick()
        ctx.set(dut.s_axil_arvalid, 0)
        await _pulse_reset(ctx, dut)
        assert not ctx.get(dut.s_axil_rvalid) and ctx.get(dut.s_axil_arready)
        await _episode_after_reset(drv, masks, rng, steps=2)

    simulate(dut, bench)
