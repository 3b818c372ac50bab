"""The mask sampler's words equal mask_rows(spec, sample_masks(rho, key)) packed, bit for bit.

The sampler runs in Amaranth's simulator against a real Amaranth block-RAM model (``Memory``)
holding rho_q in the layout of :func:`evoconn.hw.sampler.rho_layout`; every mask word it writes
and every v0 it emits is compared with the numpy sampler of :mod:`evoconn.spec.prng`.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator
from numpy.testing import assert_array_equal

from evoconn.hw.sampler import MASKS, MaskSampler, fill_cycles, rho_layout
from evoconn.spec import Spec
from evoconn.spec.packing import mask_rows, pack_rows
from evoconn.spec.prng import RHO_BITS, initial_membrane, mask_streams, mask_words, quantize_rho, sample_masks


class _Bench(Elaboratable):
    def __init__(self, sampler: MaskSampler, rho_q: np.ndarray):
        self.sampler, self.rho_q = sampler, rho_q

    def elaborate(self, platform):
        m = Module()
        m.submodules.sampler = s = self.sampler
        m.submodules.rho = mem = Memory(shape=s.bits, depth=len(self.rho_q), init=[int(v) for v in self.rho_q])
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(s.rho_addr), s.rho_data.eq(rp.data)]
        return m


def _rho_memory(spec: Spec, rho: dict[str, np.ndarray]) -> np.ndarray:
    lay = rho_layout(spec)
    out = np.zeros(lay["depth"], np.uint32)
    for name in MASKS:
        q = quantize_rho(rho[name]).ravel()
        out[lay[name]:lay[name] + q.size] = q
    return out


def _simulate(spec: Spec, rho: dict[str, np.ndarray], key: np.ndarray, unroll: int = 4):
    """Run one fill; returns the mask memories (name -> (rows, row_words) uint32), v0 and the
    clock edges from start to done."""
    s = MaskSampler(spec, unroll)
    mems = {k: np.full((r, spec.row_words), 0xA5A5A5A5, np.uint64) for k, r in
            (("mask_h", spec.n_neurons), ("mask_in", spec.n_inputs), ("mask_out", spec.act_dim))}
    v0 = np.full(spec.n_neurons, -1, np.int64)
    res = {}

    async def bench(ctx):
        ctx.set(s.k0, int(key[0]))
        ctx.set(s.k1, int(key[1]))
        ctx.set(s.start, 1)
        await ctx.tick()
        ctx.set(s.start, 0)
        ctx.set(s.k0, 0)  # the key is latched
        edges = 0
        async for _, _, mv, mm, mr, mw, md, vv, vi, vd, done, busy in ctx.tick().sample(
                s.m_valid, s.m_mem, s.m_row, s.m_word, s.m_data, s.v_valid, s.v_index, s.v_data, s.done,
                s.busy):
            edges += 1
            if mv:
                mems[MASKS[mm]][mr, mw] = md
            if vv:
                v0[vi] = vd
            if done:
                assert not busy
                break
            assert busy
        res["edges"] = edges

    sim = Simulator(_Bench(s, _rho_memory(spec, rho)))
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return {k: v.astype(np.uint32) for k, v in mems.items()}, v0, res["edges"]


def _check(spec: Spec, rho: dict[str, np.ndarray], key) -> int:
    key = np.asarray(key, np.uint32)
    mems, v0, edges = _simulate(spec, rho, key)
    want = mask_rows(spec, sample_masks(rho, key))
    for name in MASKS:
        assert_array_equal(mems[name], pack_rows(want[name]), err_msg=name)
    assert_array_equal(v0, initial_membrane(key, spec.n_neurons, spec.state_frac))
    assert edges == fill_cycles(spec)
    return edges


def _rho(spec: Spec, rng: np.random.Generator, kind: str, key) -> dict[str, np.ndarray]:
    """rho per mask: uniform in the clip range, the clip limits, or exact quantization steps at the
    compare's edge: rho_q = (word >> (32 - b)) + {-1, 0, 1} for the entry's own word under ``key``
    (clipped to [4, 4092]), so that every entry sits on one side of an equality."""
    b = RHO_BITS
    out = {}
    for name, shape in spec.mask_shapes.items():
        if kind == "uniform":
            r = rng.uniform(1e-3, 1 - 1e-3, shape)
        elif kind == "clip":
            r = rng.choice([1e-3, 1 - 1e-3], shape)
        else:
            top = mask_words(np.asarray(key, np.uint32), mask_streams(spec.mask_shapes)[name], shape) >> (32 - b)
            q = np.clip(top.astype(np.int64) + rng.integers(-1, 2, shape), 4, (1 << b) - 4)
            r = q / (1 << b)
        out[name] = np.asarray(r, np.float32)
    return out


@pytest.mark.parametrize("n,obs,act,kind", [
    (8, 3, 2, "uniform"), (8, 2, 1, "clip"), (16, 3, 2, "steps"), (16, 5, 4, "clip"),
    (40, 2, 3, "uniform"),  # N not a multiple of 32: a partial last word
])
def test_sampler_small(n, obs, act, kind):
    spec = Spec(n_neurons=n, obs_dim=obs, act_dim=act)
    rng = np.random.default_rng(n * 100 + obs)
    key = rng.integers(0, 1 << 32, 2, dtype=np.uint64)
    rho = _rho(spec, rng, kind, key)
    if kind == "clip":
        assert set(np.unique(quantize_rho(rho["mask_h"])).tolist()) == {4, 4092}
    _check(spec, rho, key)


def test_sampler_edge_keys():
    spec = Spec(n_neurons=8, obs_dim=1, act_dim=3)
    rng = np.random.default_rng(3)
    for key in [(0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (0x12345678, 0)]:
        _check(spec, _rho(spec, rng, "steps", key), key)


def test_sampler_hopper_n64():
    """Hopper's shapes (d = 11, a = 3) at N = 64, rho uniform with the clip limits mixed in."""
    spec = Spec(n_neurons=64)
    rng = np.random.default_rng(64)
    key = (0x9E3779B9, 0x7F4A7C15)
    rho = _rho(spec, rng, "uniform", key)
    rho["mask_h"][:2] = np.float32(1e-3)
    rho["mask_h"][-2:] = np.float32(1 - 1e-3)
    _check(spec, rho, key)


@pytest.mark.slow
def test_sampler_hopper_n256():
    """Hopper at N = 256, the size of the board (about 330,000 cycles: minutes in the simulator)."""
    spec = Spec(n_neurons=256)
    rng = np.random.default_rng(256)
    key = rng.integers(0, 1 << 32, 2, dtype=np.uint64)
    rho = _rho(spec, rng, "steps", key)
    rho["mask_in"][0] = np.float32(1e-3)
    rho["mask_in"][1] = np.float32(1 - 1e-3)
    _check(spec, rho, key)


def test_fill_cycles_hopper():
    """The count for N = 256 follows from the block structure (2 entries a block in mask_h and
    mask_in, 1 in mask_out) and the unit's latency: blocks * (latency + 1) + entries + 2."""
    spec = Spec(n_neurons=256)
    blocks = 256 * 256 // 2 + 22 * 256 // 2 + 256 * 3 + 256 // 2
    entries = 256 * 256 + 22 * 256 + 256 * 3 + 256
    assert fill_cycles(spec, 4) == blocks * 7 + entries + 2
