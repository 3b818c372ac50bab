"""CONTROL.SAMPLE in the core (Amaranth's simulator, through the AXI4-Lite port only).

The host writes rho_q once to the RHO window and one key per member to SEED0/SEED1; SAMPLE clears
the state, then the mask sampler fills the three mask memories and v from them. What the windows
read back afterwards must equal :func:`evoconn.spec.prng.masks_from_rho_words` and
:func:`~evoconn.spec.prng.initial_membrane` bit for bit, CYCLES must equal
:meth:`evoconn.spec.CycleModel.sample_cycles`, and the env step that follows must be the spec's.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evoconn.hw.core import EvoconnCore
from evoconn.spec import Control, CycleModel, Spec, Status, mask_rows, numpy_env_step, pack_rows
from evoconn.spec.prng import RHO_BITS, initial_membrane, masks_from_rho_words, rho_depth

from .hw_bus import CoreDriver, simulate, to_signed


def _rho_q(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """Random rho_q words with the clip limits (rho = 1e-3 and 1 - 1e-3: 4 and 4092) and the
    extremes of b bits (0: never, 4095: all but one in 4096) among them."""
    q = rng.integers(0, 1 << RHO_BITS, rho_depth(spec)).astype(np.uint32)
    q[:8] = [0, 1, 4, 4092, 4095, 2048, 4, 4092]
    return q


async def _read_masks(drv: CoreDriver) -> dict[str, np.ndarray]:
    s = drv.spec
    out = {}
    for win, rows in (("MASK_IN", s.n_inputs), ("MASK_H", s.n_neurons), ("MASK_OUT", s.act_dim)):
        out[win] = np.array([await drv.read(win, w) for w in range(rows * s.row_words)], np.uint32)
    return out


def _expected_words(spec: Spec, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rows = mask_rows(spec, masks)
    return {"MASK_IN": pack_rows(rows["mask_in"]).ravel(), "MASK_H": pack_rows(rows["mask_h"]).ravel(),
            "MASK_OUT": pack_rows(rows["mask_out"]).ravel()}


async def _fill(drv: CoreDriver, key) -> tuple[int, list[int]]:
    """SEED0, SEED1, SAMPLE, then poll STATUS until idle: (CYCLES, every STATUS read)."""
    await drv.write("SEED0", int(key[0]))
    await drv.write("SEED1", int(key[1]))
    await drv.write("CONTROL", Control.SAMPLE)
    seen = []
    for _ in range(100_000):
        st = await drv.read("STATUS")
        seen.append(st)
        if not st & Status.BUSY:
            return await drv.read("CYCLES"), seen
    raise AssertionError("the fill never finished")


@pytest.mark.parametrize("sizes,lanes", [
    (dict(n_neurons=16, obs_dim=3, act_dim=1, substeps=4), 4),  # a = 1: mask_out's entries share blocks
    (dict(n_neurons=12, obs_dim=2, act_dim=2, substeps=3), 3),  # a > 1, lanes not a power of two
    (dict(n_neurons=40, obs_dim=1, act_dim=3, substeps=2), 8),  # rows of two words, the last one partial
])
def test_fill_equals_spec(sizes, lanes):
    spec = Spec(**sizes)
    dut = EvoconnCore(spec, lanes)
    rng = np.random.default_rng(sum(sizes.values()))
    q = _rho_q(spec, rng)
    keys = [np.array([0x12345678, 0x9ABCDEF0], np.uint32), np.array([0, 7], np.uint32)]
    xq = rng.integers(-3000, 3000, spec.obs_dim)
    got = {}

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        for j, w in enumerate(q):
            await drv.write("RHO", int(w), j)
        for j in (0, 5, len(q) - 1):
            assert await drv.read("RHO", j) == q[j]
        # a dirty state before the first fill: a step on masks written by hand
        await drv.write("MASK_H", 0xFFFF, 0)
        await drv.write("CONTROL", Control.RESET_STATE)
        await drv.step(xq)
        for i, key in enumerate(keys):
            cycles, seen = await _fill(drv, key)
            assert any(s & Status.SAMPLING and s & Status.BUSY for s in seen), [hex(s) for s in seen]
            assert not seen[-1] & (Status.SAMPLING | Status.ERROR), hex(seen[-1])
            assert seen[-1] & Status.LOADED
            got[i] = dict(cycles=cycles, masks=await _read_masks(drv), state=await drv.state(),
                          seed=(await drv.read("SEED0"), await drv.read("SEED1")))
            await drv.step(xq)
            got[i]["out"] = await drv.outputs()
            got[i]["after"] = await drv.state()

    simulate(dut, bench)
    cm = CycleModel(spec, lanes)
    for i, key in enumerate(keys):
        g = got[i]
        masks = masks_from_rho_words(spec, q, key)
        want = _expected_words(spec, masks)
        for win in want:
            assert_array_equal(g["masks"][win], want[win], err_msg=win)
        v0 = initial_membrane(key, spec.n_neurons, spec.state_frac)
        assert_array_equal(g["state"]["v"], v0)
        for f in ("isyn", "rate", "i_in", "spike"):
            assert_array_equal(g["state"][f], 0, err_msg=f)
        assert g["cycles"] == cm.sample_cycles()
        assert g["seed"] == (int(key[0]), int(key[1]))
        state = {"v": v0[None], "isyn": np.zeros((1, spec.n_neurons), np.int64),
                 "rate": np.zeros((1, spec.n_neurons), np.int64), "spike": np.zeros((1, spec.n_neurons), np.int64)}
        new, out, _ = numpy_env_step(spec, {k: v[None] for k, v in masks.items()}, state, xq[None])
        assert_array_equal(g["out"], out[0])
        assert_array_equal(g["after"]["v"], new["v"][0])


def test_fill_busy_rules_and_abort():
    """While the fill runs: a window read answers 0 (ERR_BUSY), START and a mask write are dropped
    (ERR_BUSY), the seeds stay writable; ABORT stops it (ABORTED, state zeroed), and the next fill is
    exact. SAMPLE with START in one write fills and refuses the START."""
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)
    dut = EvoconnCore(spec, 4)
    q = _rho_q(spec, np.random.default_rng(3))
    key = np.array([11, 22], np.uint32)
    res = {}

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        for j, w in enumerate(q):
            await drv.write("RHO", int(w), j)
        await drv.write("SEED0", 1)
        await drv.write("SEED1", 2)
        await drv.write("CONTROL", Control.SAMPLE)
        st = await drv.read("STATUS")
        assert st & Status.BUSY and st & Status.SAMPLING, hex(st)
        res["read"] = await drv.read("MASK_H", 0)
        await drv.write("MASK_H", 0x1234, 1)
        await drv.write("CONTROL", Control.START)
        await drv.write("SEED0", int(key[0]))  # the fill already latched its key
        res["status_busy"] = await drv.read("STATUS")
        res["err_addr"] = await drv.read("ERR_ADDR")
        await drv.write("CONTROL", Control.CLEAR_ERROR)
        await drv.write("CONTROL", Control.ABORT)
        res["status_abort"] = await drv.read("STATUS")
        res["v_after_abort"] = [to_signed(await drv.read("STATE", 4 * j)) for j in range(spec.n_neurons)]
        await drv.write("SEED1", int(key[1]))
        await drv.write("CONTROL", Control.SAMPLE | Control.START)
        while (await drv.read("STATUS")) & Status.BUSY:
            pass
        res["status_combo"] = await drv.read("STATUS")
        res["masks"] = await _read_masks(drv)
        res["v"] = [to_signed(await drv.read("STATE", 4 * j)) for j in range(spec.n_neurons)]

    simulate(dut, bench)
    assert res["read"] == 0
    assert res["status_busy"] & Status.ERR_BUSY and res["status_busy"] & Status.SAMPLING
    assert res["err_addr"] == dut.regmap["MASK_H"].offset  # the first refused access
    sa = res["status_abort"]
    assert sa & Status.ABORTED and not sa & (Status.BUSY | Status.SAMPLING | Status.DONE), hex(sa)
    assert res["v_after_abort"] == [0] * spec.n_neurons
    sc = res["status_combo"]
    assert sc & Status.ERR_BUSY and not sc & Status.BUSY, hex(sc)
    want = _expected_words(spec, masks_from_rho_words(spec, q, key))
    for win in want:
        assert_array_equal(res["masks"][win], want[win], err_msg=win)
    assert_array_equal(res["v"], initial_membrane(key, spec.n_neurons, spec.state_frac))
