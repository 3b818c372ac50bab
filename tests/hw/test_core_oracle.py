"""The core, driven through its AXI4-Lite port, equals the spec's oracle bit for bit.

Every env step: OUT, CYCLES, SPIKES and the whole neuron state (STATE and SPIKE windows) are
compared with :func:`evoconn.spec.numpy_env_step`; one episode is also checked against the scalar
:func:`evoconn.spec.oracle_env_step`.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evoconn.hw.core import EvoconnCore
from evoconn.spec import (
    Control,
    CycleModel,
    Spec,
    Status,
    gain,
    numpy_env_step,
    oracle_env_step,
    oracle_init_state,
)

from .hw_bus import CoreDriver, random_masks, simulate, zero_state


def _batch(d):
    return {k: np.asarray(v)[None] for k, v in d.items()}


def _unbatch(d):
    return {k: np.asarray(v)[0] for k, v in d.items()}


async def _check_step(drv, spec, lanes, masks, state, xq):
    """One env step on the core and on numpy_env_step; returns the new model state."""
    new, out, fired = numpy_env_step(spec, _batch(masks), _batch(state), np.asarray(xq)[None])
    new, out, fired = _unbatch(new), out[0], fired[0]
    prev = int(np.sum(state["spike"]))
    await drv.step(xq)
    assert_array_equal(await drv.outputs(), out)
    got = await drv.state()
    for f in ("v", "isyn", "rate", "spike"):
        assert_array_equal(got[f], new[f], err_msg=f"state field {f}")
    i_in = np.clip(
        np.asarray(xq, np.int64) @ (masks["mask_in"][: spec.obs_dim].astype(np.int64)
                                    - masks["mask_in"][spec.obs_dim:].astype(np.int64)),
        *spec.state_limits())
    assert_array_equal(got["i_in"], i_in, err_msg="i_in")
    assert await drv.read("CYCLES") == CycleModel(spec, lanes).env_step_cycles(prev, list(fired))
    assert await drv.read("SPIKES") == int(np.sum(fired))
    return new


def _episode(spec, lanes, seed, steps, p_mask=0.3, obs_scale=1.0, reset_at=None):
    rng = np.random.default_rng(seed)
    dut = EvoconnCore(spec, lanes)
    masks = random_masks(spec, rng, p_mask)
    lo, hi = spec.obs_limits()

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        state = zero_state(spec)
        fired = 0
        for t in range(steps):
            if t == reset_at:
                await drv.write("CONTROL", Control.RESET_STATE)
                state = zero_state(spec)
                got = await drv.state()
                for f in ("v", "isyn", "rate", "spike"):
                    assert_array_equal(got[f], state[f], err_msg=f"after RESET_STATE: {f}")
                assert_array_equal(got["i_in"], np.zeros(spec.n_neurons), err_msg="after RESET_STATE: i_in")
            xq = np.clip(np.round(rng.normal(0, obs_scale * spec.threshold, spec.obs_dim)), lo, hi)
            state = await _check_step(drv, spec, lanes, masks, state, xq.astype(np.int64))
            fired += await drv.read("SPIKES")
        assert fired > steps, "the episode hardly spiked: a weak test"

    simulate(dut, bench)


@pytest.mark.parametrize(
    ("n", "d", "a", "k", "lanes", "steps"),
    [
        (8, 3, 1, 6, 1, 5),
        (8, 5, 3, 5, 8, 4),
        (16, 3, 3, 5, 4, 5),
        (16, 1, 5, 4, 2, 4),
        (64, 3, 3, 4, 8, 3),
        (64, 5, 3, 3, 16, 4),
    ],
)
def test_random_episode(n, d, a, k, lanes, steps):
    spec = Spec(n_neurons=n, obs_dim=d, act_dim=a, substeps=k)
    _episode(spec, lanes, seed=n * 100 + lanes, steps=steps, p_mask=0.35, obs_scale=8.0,
             reset_at=steps - 1)


def test_odd_n_exc_and_non_power_of_two_lanes():
    """n_exc not a multiple of lanes, lanes not a power of two, N not a multiple of 32."""
    spec = Spec(n_neurons=24, obs_dim=3, act_dim=3, n_exc=7, substeps=4)
    _episode(spec, lanes=3, seed=7, steps=3, p_mask=0.4, obs_scale=8.0)


def test_saturation_corners():
    """All-one masks, extreme observations, membranes started at the limits (through STATE)."""
    spec = Spec(n_neurons=16, obs_dim=5, act_dim=3, n_exc=14, substeps=6, rec_weight_log2=3)
    lanes = 4
    dut = EvoconnCore(spec, lanes)
    n, d = spec.n_neurons, spec.obs_dim
    seen = {"i_in": set(), "isyn": set()}
    ones = {name: np.ones(shape, bool) for name, shape in spec.mask_shapes.items()}
    half = dict(ones)
    half["mask_in"] = np.zeros((2 * d, n), bool)
    half["mask_in"][:d] = True  # only the +x rows: I_in saturates
    lo, hi = spec.obs_limits()
    slo, shi = spec.state_limits()

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        for masks in (half, ones):
            await drv.load_masks(masks)
            await drv.write("CONTROL", Control.RESET_STATE)
            v0 = np.where(np.arange(n) % 2 == 0, shi, slo).astype(np.int64)
            for j, v in enumerate(v0):
                await drv.write("STATE", int(v) & 0xFFFFFFFF, 4 * j)
            state = zero_state(spec)
            state["v"] = v0
            for xq in ([hi] * d, [lo] * d, [hi, lo, hi, lo, hi], [lo] * d, [hi] * d):
                state = await _check_step(drv, spec, lanes, masks, state, np.asarray(xq, np.int64))
                got = await drv.state()
                for f in seen:
                    seen[f] |= set(got[f].tolist())

    simulate(dut, bench)
    # the corners were reached: I_in saturated both ways, I_syn at its top
    assert {slo, shi} <= seen["i_in"]
    assert shi in seen["isyn"]


def test_state_carries_and_matches_scalar_oracle():
    """The scalar oracle (plain ints) agrees too, with the state carried across steps."""
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=3, substeps=6)
    lanes = 8
    dut = EvoconnCore(spec, lanes)
    rng = np.random.default_rng(3)
    masks = random_masks(spec, rng, 0.4)

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        st = oracle_init_state(spec)
        for _ in range(4):
            xq = [int(x) for x in rng.integers(-4 * spec.threshold, 4 * spec.threshold, spec.obs_dim)]
            fired: list[int] = []
            st, out = oracle_env_step(spec, masks, st, xq, fired)
            await drv.step(xq)
            assert_array_equal(await drv.outputs(), np.asarray(out, np.int64))
            got = await drv.state()
            for f in ("v", "isyn", "rate", "spike"):
                assert_array_equal(got[f], np.asarray(getattr(st, f), np.int64), err_msg=f)
        assert sum(st.spike) + sum(abs(r) for r in st.rate) > 0

    simulate(dut, bench)


def test_default_substeps_one_step():
    """The default K=33 (the paper's) at a small N: one step, exact."""
    spec = Spec(n_neurons=8, obs_dim=3, act_dim=3)
    assert spec.substeps == 33
    _episode(spec, lanes=2, seed=11, steps=2, p_mask=0.5, obs_scale=2.0)


@pytest.mark.parametrize("fault", ["leak_shift", "dale"])
def test_faulty_core_is_caught(fault):
    """The deliberately broken cores disagree with the oracle (the checks above can fail)."""
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=3, substeps=6)
    lanes = 4
    dut = EvoconnCore(spec, lanes, fault=fault)
    rng = np.random.default_rng(5)
    masks = random_masks(spec, rng, 0.4)
    caught = []

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.load_masks(masks)
        state = zero_state(spec)
        for _ in range(4):
            xq = rng.integers(-3 * spec.threshold, 3 * spec.threshold, spec.obs_dim)
            try:
                state = await _check_step(drv, spec, lanes, masks, state, xq)
            except AssertionError as e:
                caught.append(e)
                return

    simulate(dut, bench)
    assert caught, f"fault {fault!r} went unnoticed"


def test_threshold_fault_caught():
    """A membrane placed exactly on the threshold: the correct core does not fire, the faulty one does."""
    spec = Spec(n_neurons=8, obs_dim=1, act_dim=1, substeps=1)
    n = spec.n_neurons
    masks = {name: np.zeros(shape, bool) for name, shape in spec.mask_shapes.items()}
    masks["mask_out"][:] = True
    results = {}
    for fault in (None, "threshold"):
        dut = EvoconnCore(spec, 2, fault=fault)

        async def bench(ctx, dut=dut, fault=fault):
            drv = CoreDriver(ctx, dut)
            await drv.load_masks(masks)
            # u = 0, so v' = v + gain(-v); find v that lands exactly on 2**F
            v = next(x for x in range(spec.threshold, 2 * spec.threshold)
                     if x + gain(-x, spec.mem_leak) == spec.threshold)
            for j in range(n):
                await drv.write("STATE", v, 4 * j)
            await drv.step([0])
            results[fault] = (await drv.state())["spike"]
            status = await drv.read("STATUS")
            assert status & Status.DONE

        simulate(dut, bench)
    assert_array_equal(results[None], np.zeros(n, np.int64))
    assert results["threshold"].sum() == n


@pytest.mark.parametrize("fault", [None, "threshold"])
def test_membrane_held_on_threshold(fault):
    """The rtl tier's ``threshold`` case (evoconn.sim.cases): v0 = 2**F through STATE, I_in = 2**F
    from one MASK_IN bit, no recurrence, so v + gain(u - v) = v stays on 2**F every sub-step. The
    correct core equals the oracle and never fires; the ``threshold`` fault (v >= 2**F) is caught."""
    from evoconn.sim.cases import KINDS, make_case

    spec, lanes = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=6), 4
    case = make_case(spec, 0, KINDS.index("threshold"), 3)
    assert case.kind == "threshold"
    masks = {"mask_in": case.mask_in, "mask_h": case.mask_h, "mask_out": case.mask_out}
    dut = EvoconnCore(spec, lanes, fault=fault)
    caught = []

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        await drv.write("CONTROL", Control.RESET_STATE)
        await drv.load_masks(masks)
        for j, v in enumerate(case.v0):
            await drv.write("STATE", int(v), 4 * j)
        state = zero_state(spec) | {"v": case.v0.astype(np.int64)}
        for xq in case.xq:
            try:
                state = await _check_step(drv, spec, lanes, masks, state, xq)
            except AssertionError as e:
                caught.append(e)
                return
            assert_array_equal(state["v"], np.full(spec.n_neurons, spec.threshold))
            assert not state["spike"].any()

    simulate(dut, bench)
    if fault is None:
        assert not caught, caught
    else:
        assert caught, "the threshold fault went unnoticed"


def test_hopper_size_default_spec():
    """The design point: N=256, d=11, a=3, K=33 (all defaults), lanes=16, two env steps."""
    spec = Spec()
    assert (spec.n_neurons, spec.obs_dim, spec.act_dim, spec.substeps) == (256, 11, 3, 33)
    _episode(spec, lanes=16, seed=256, steps=2, p_mask=0.05, obs_scale=2.0)
