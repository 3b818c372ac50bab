"""The register map in the elaborated core equals the spec's table; refused accesses, busy and
not-loaded (the board-safe responses: OKAY always, errors in STATUS and ERR_ADDR)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evoconn.hw.core import EvoconnCore
from evoconn.spec import (
    CORE_ID,
    CORE_VERSION,
    STATE_FIELDS,
    Access,
    Control,
    Spec,
    Status,
    numpy_env_step,
    pack_rows,
)

from .hw_bus import OKAY, CoreDriver, random_masks, simulate, to_signed, zero_state

SPEC = Spec(n_neurons=8, obs_dim=3, act_dim=3, substeps=3)
LANES = 2


def test_every_address_decodes_as_the_spec_says():
    """Each aligned address in the decoded space (and beyond) answers OKAY; a mapped one reads the
    spec's reset value within its width; an unmapped read answers 0 and an unmapped or read-only
    write is dropped, each setting ERROR | ERR_READ or ERR_WRITE with the address in ERR_ADDR."""
    dut = EvoconnCore(SPEC, LANES)
    rmap = dut.regmap
    consts = rmap.constants()

    async def refused(drv, addr: int, bit: Status) -> None:
        assert await drv.read("STATUS") == Status.ERROR | bit, f"0x{addr:x}: STATUS"
        assert await drv.read("ERR_ADDR") == addr, f"0x{addr:x}: ERR_ADDR"
        await drv.write("CONTROL", Control.CLEAR_ERROR)
        assert await drv.read("STATUS") == 0 and await drv.read("ERR_ADDR") == 0

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        bus = drv.bus
        for addr in range(0, rmap.size + 64, 4):
            hit = rmap.decode(addr) if addr < rmap.size else None
            data, resp = await bus.read(addr % (1 << rmap.addr_width))
            if addr >= rmap.size:  # the bus only sees addr_width bits: it wraps
                assert rmap.addr_width == (rmap.size - 1).bit_length()
                await drv.write("CONTROL", Control.CLEAR_ERROR)  # if it wrapped onto an unmapped one
                continue
            if hit is None:
                assert (data, resp) == (0, OKAY), f"read 0x{addr:x}: unmapped, answered {resp:#04b}"
                await refused(drv, addr, Status.ERR_READ)
                assert await bus.write(addr, 0xFFFFFFFF) == OKAY, f"write 0x{addr:x}"
                await refused(drv, addr, Status.ERR_WRITE)
                continue
            assert resp == OKAY, f"read 0x{addr:x} ({hit[0].name}) answered {resp:#04b}"
            reg, _ = hit
            assert data < (1 << reg.width) or getattr(reg, "signed", False), reg.name
            if reg.name in consts:
                assert data == consts[reg.name] == reg.reset, reg.name
            if reg.access is Access.RO:
                assert await bus.write(addr, 0x5A5A5A5A) == OKAY, f"write to read-only {reg.name}"
                if reg.name not in ("STATUS", "ERR_ADDR"):  # these two are the report itself
                    data2, _ = await bus.read(addr)
                    assert data2 == data, f"{reg.name} changed by a refused write"
                await refused(drv, addr, Status.ERR_WRITE)
        # unaligned addresses are never mapped
        for addr in (1, 2, 3, rmap["MASK_IN"].offset + 1, rmap["STATE"].offset + 2):
            assert await bus.read(addr) == (0, OKAY)
            await refused(drv, addr, Status.ERR_READ)
            assert await bus.write(addr, 0) == OKAY
            await refused(drv, addr, Status.ERR_WRITE)
        assert consts["ID"] == CORE_ID and consts["VERSION"] == CORE_VERSION
        assert await drv.read("SPEC_HASH") == SPEC.hash32
        assert await drv.read("LANES") == LANES
        assert await drv.read("CONTROL") == 0

    simulate(dut, bench)


def test_window_widths_and_access():
    """RW windows read back what was written, at the table's width and signedness; in the STATE
    window only v is written, writes to the other fields answer OKAY and change nothing."""
    dut = EvoconnCore(SPEC, LANES)
    rmap = dut.regmap
    sw = SPEC.state_width

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        bus = drv.bus
        rng = np.random.default_rng(1)
        for name in ("MASK_IN", "MASK_H", "MASK_OUT"):
            w = rmap[name]
            assert (w.width, w.access, w.signed) == (32, Access.RW, False)
            for idx in (0, w.depth - 1, int(rng.integers(w.depth))):
                word = int(rng.integers(1 << 32))
                await drv.write(name, word, idx)
                assert await drv.read(name, idx) == word
        obs = rmap["OBS"]
        assert obs.signed and obs.access is Access.RW
        for i in range(obs.depth):
            raw = (0x5A5A << obs.width) | (1 << (obs.width - 1)) | i  # bits beyond the width dropped
            await drv.write("OBS", raw, i)
            assert to_signed(await drv.read("OBS", i)) == -(1 << (obs.width - 1)) + i
        st = rmap["STATE"]
        assert st.access is Access.RW and st.signed and st.width == max(sw, SPEC.rate_width)
        # a step leaves non-zero isyn, rate and i_in to overwrite (the values are the oracle's)
        await drv.write("CONTROL", Control.RESET_STATE)
        masks = {k: np.ones(s, bool) for k, s in SPEC.mask_shapes.items()}
        masks["mask_in"][SPEC.obs_dim:] = False
        masks["mask_h"][SPEC.n_exc:] = False  # excitatory synapses only: I_syn > 0
        await drv.load_masks(masks)
        await drv.step([9000] * SPEC.obs_dim)
        before = await drv.state()
        assert all(before[f].any() for f in ("isyn", "rate", "i_in")), "a weak test: zero fields"
        for j in range(SPEC.n_neurons):
            raw = (0x3 << sw) | (1 << (sw - 1)) | j
            await drv.write("STATE", raw, st.stride * j)
            assert to_signed(await drv.read("STATE", st.stride * j)) == -(1 << (sw - 1)) + j
            for f in range(1, st.stride):  # accepted and ignored, v untouched
                assert await bus.write(rmap["STATE"].offset + 4 * (st.stride * j + f), 0x5A5A5 + f) == OKAY
            got = [to_signed(await drv.read("STATE", st.stride * j + f)) for f in range(st.stride)]
            assert got == [-(1 << (sw - 1)) + j] + [int(before[f][j]) for f in STATE_FIELDS[1:]], j
        for name in ("OUT", "SPIKE"):
            assert rmap[name].access is Access.RO
            assert await bus.write(rmap[name].offset, 1) == OKAY  # dropped, reported
            assert await drv.read("STATUS") & (Status.ERROR | Status.ERR_WRITE) == Status.ERROR | Status.ERR_WRITE
            assert await drv.read("ERR_ADDR") == rmap[name].offset
            await drv.write("CONTROL", Control.CLEAR_ERROR)
        # partial writes: the byte strobes of a mask word are honoured
        await drv.write("MASK_H", 0x11223344, 1)
        assert await bus.write(rmap["MASK_H"].offset + 4, 0xAABBCCDD, strb=0b0101) == OKAY
        assert await drv.read("MASK_H", 1) == 0x11BB33DD

    simulate(dut, bench)


def test_not_loaded_busy_done_and_clear_error():
    spec = Spec(n_neurons=8, obs_dim=3, act_dim=3, substeps=40)
    dut = EvoconnCore(spec, 1)
    rmap = dut.regmap
    rng = np.random.default_rng(2)
    masks = random_masks(spec, rng, 0.5)

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        # START before any mask word: nothing runs, ERROR | ERR_NOT_LOADED
        assert await drv.read("STATUS") == 0
        await drv.write("CONTROL", Control.START)
        for _ in range(5):
            await ctx.tick()
        status = await drv.read("STATUS")
        assert status == Status.ERROR | Status.ERR_NOT_LOADED, hex(status)
        assert await drv.read("CYCLES") == 0
        await drv.write("CONTROL", Control.CLEAR_ERROR)
        assert await drv.read("STATUS") == 0

        await drv.load_masks(masks)
        assert await drv.read("STATUS") == Status.LOADED
        xq = [3000, -2000, 5000]
        for i, x in enumerate(xq):
            await drv.write("OBS", x & 0xFFFFFFFF, i)
        await drv.write("CONTROL", Control.START)
        status = await drv.read("STATUS")
        assert status & Status.BUSY and not status & (Status.DONE | Status.ERROR)
        # while busy: a write to a STATE word other than v is flagged like any window write
        assert await drv.bus.write(rmap["STATE"].offset + 4, 7) == OKAY
        status = await drv.read("STATUS")
        assert status == Status.BUSY | Status.LOADED | Status.ERROR | Status.ERR_BUSY, hex(status)
        await drv.write("CONTROL", Control.CLEAR_ERROR)
        # while busy: a mask write, an OBS write, a STATE write and a START are dropped and flagged
        word = int(pack_rows(masks["mask_h"])[0, 0])
        assert await drv.bus.write(rmap["MASK_H"].offset, word ^ 0xFF) == OKAY
        assert await drv.bus.write(rmap["OBS"].offset, 7) == OKAY
        assert await drv.bus.write(rmap["STATE"].offset, 7) == OKAY
        assert await drv.bus.write(rmap["CONTROL"].offset, Control.START) == OKAY
        assert await drv.bus.write(rmap["CONTROL"].offset, Control.RESET_STATE) == OKAY
        status = await drv.read("STATUS")
        assert status & Status.BUSY
        assert status & (Status.ERROR | Status.ERR_BUSY) == Status.ERROR | Status.ERR_BUSY
        # a window read while busy answers 0 at once (OKAY), flagged as ERR_BUSY; the first error's
        # address (the STATE write above was cleared) is the MASK_H write's
        assert await drv.read("ERR_ADDR") == rmap["MASK_H"].offset
        assert await drv.read("OUT", 0) == 0
        assert await drv.read("STATUS") & Status.BUSY, "the step ended before the window read"
        status = await drv.wait_done()
        assert status & Status.ERR_BUSY and not status & Status.ERR_NOT_LOADED
        assert await drv.read("MASK_H", 0) == word
        assert to_signed(await drv.read("OBS", 0)) == xq[0]
        # the step itself was not disturbed
        new, out, _ = numpy_env_step(spec, {k: v[None] for k, v in masks.items()},
                                     {k: v[None] for k, v in zero_state(spec).items()},
                                     np.asarray(xq)[None])
        assert_array_equal(await drv.outputs(), out[0])
        assert_array_equal((await drv.state())["v"], new["v"][0])
        # CLEAR_ERROR clears ERROR and its causes, keeps DONE and LOADED
        await drv.write("CONTROL", Control.CLEAR_ERROR)
        assert await drv.read("STATUS") == Status.DONE | Status.LOADED
        # START clears DONE
        await drv.write("CONTROL", Control.START)
        assert not await drv.read("STATUS") & Status.DONE
        await drv.wait_done()
        # RESET_STATE together with START: zero state first, then the step
        await drv.write("CONTROL", Control.RESET_STATE | Control.START)
        await drv.wait_done()
        assert_array_equal(await drv.outputs(), out[0])
        assert_array_equal((await drv.state())["v"], new["v"][0])

    simulate(dut, bench)


@pytest.mark.parametrize("seed", [0, 1])
def test_backpressure_and_channel_order(seed):
    """AW before W, W before AW, slow B and R ready: every write lands, every read answers."""
    dut = EvoconnCore(SPEC, LANES)
    rmap = dut.regmap
    rng = np.random.default_rng(seed)
    window = rmap["MASK_H"]

    async def bench(ctx):
        drv = CoreDriver(ctx, dut)
        bus = drv.bus
        expect = {}
        for _ in range(40):
            idx = int(rng.integers(window.depth))
            word = int(rng.integers(1 << 32))
            d = rng.integers(0, 4, 3)
            assert await bus.write(window.offset + 4 * idx, word, aw_delay=int(d[0]),
                                   w_delay=int(d[1]), b_delay=int(d[2])) == OKAY
            expect[idx] = word
            if rng.random() < 0.5:
                got, resp = await bus.read(window.offset + 4 * idx, r_delay=int(rng.integers(0, 4)))
                assert (got, resp) == (word, OKAY)
        for idx, word in expect.items():
            assert await drv.read("MASK_H", idx) == word
        # an unmapped write with W first and late AW still answers (OKAY, reported), no hang
        addr = rmap.size - 4 if rmap.decode(rmap.size - 4) is None else 0x3C
        assert await bus.write(addr, 1, aw_delay=3) == OKAY
        assert await drv.read("STATUS") & Status.ERR_WRITE and await drv.read("ERR_ADDR") == addr

    simulate(dut, bench)


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"lanes=3 must divide n_neurons=8; choose one of \[1, 2, 4, 8\]"):
        EvoconnCore(SPEC, 3)
    with pytest.raises(ValueError, match="lanes=16 must divide"):
        EvoconnCore(SPEC, 16)
    with pytest.raises(TypeError, match="lanes must be an int"):
        EvoconnCore(SPEC, 2.0)
    with pytest.raises(TypeError, match="spec must be an evoconn.spec.Spec"):
        EvoconnCore({"n_neurons": 8}, 2)
    with pytest.raises(ValueError, match="fault must be one of"):
        EvoconnCore(SPEC, 2, fault="nope")
