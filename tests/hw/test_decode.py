"""The RTL address decoder agrees with the register protocol (:func:`evoconn.spec.protocol.access`)
on every word address of a small spec's address space, and on unaligned addresses around every
region's edges: the same region, the same word index, the same refusals for a read and a write."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from evoconn.hw.decode import AddressDecoder
from evoconn.spec import AccessError, RegisterMap, Spec, access
from evoconn.spec.protocol import region_at, regions

# no window depth a power of two (2d = 6 MASK_IN rows of 1 word, a = 3 OUT words, 48 STATE words),
# so every window has unmapped words inside its span
SPEC = Spec(n_neurons=12, obs_dim=3, act_dim=3, substeps=4)


def _protocol(rmap, addr):
    """(region name or None, word index, read refused, write refused) as the protocol says."""
    got = {}
    for op in ("read", "write"):
        try:
            target, idx = access(rmap, addr, op)
            got[op] = (target.name, idx, False)
        except AccessError:
            hit = region_at(rmap, addr)
            got[op] = (hit[0].name, hit[1], True) if hit else (None, None, True)
    (rname, ridx, rref), (wname, widx, wref) = got["read"], got["write"]
    assert (rname, ridx) == (wname, widx)
    return rname, ridx, rref, wref


def _disagreements(rmap, fault=None):
    """``(address, RTL decode, protocol decode)`` wherever the two differ, and the protocol's kinds."""
    regs = regions(rmap)
    addrs = list(range(0, rmap.size, 4))
    for r in regs:  # unaligned addresses at and around every region's first and last word
        for base in (r.offset, r.offset + 4 * (r.words - 1)):
            addrs += [base + 1, base + 2, base + 3, max(base - 1, 0)]
    addrs = sorted({a for a in addrs if a < rmap.size})
    assert rmap.size // 4 <= len(addrs)
    dut = AddressDecoder(rmap, fault=fault)
    rtl = []

    async def bench(ctx):
        for addr in addrs:
            ctx.set(dut.addr, addr)
            await ctx.delay(1e-9)
            hits = [r for r in regs if ctx.get(dut.hit(r.name))]
            assert len(hits) <= 1, f"0x{addr:x} hits {[r.name for r in hits]}"
            name = hits[0].name if hits else None
            idx = (ctx.get(dut.idx(name)) if hits[0].is_window else 0) if hits else None
            rtl.append((name, idx, bool(ctx.get(dut.refused_read)), bool(ctx.get(dut.refused_write))))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    kinds, bad = set(), []
    for addr, got in zip(addrs, rtl, strict=True):
        want = _protocol(rmap, addr)
        if got != want:
            bad.append((addr, got, want))
        kinds.add((want[0] is None, want[2], want[3]))
    return bad, kinds


@pytest.mark.parametrize("lanes", [1, 4])
def test_rtl_decode_equals_protocol_access(lanes):
    bad, kinds = _disagreements(RegisterMap(SPEC, lanes))
    assert not bad, "\n".join(f"0x{a:x}: RTL decodes {g}, the protocol {w}" for a, g, w in bad[:10])
    # the sweep met every kind: unmapped, mapped and writable, mapped and read-only
    assert kinds == {(True, True, True), (False, False, False), (False, False, True)}


@pytest.mark.parametrize(("fault", "where"), [("decode_alias", 0x40), ("decode_ro_writable", 0x2C)])
def test_a_broken_decoder_disagrees(fault, where):
    """The comparison can fail: each decoder fault shows up, first at the address it breaks."""
    bad, _ = _disagreements(RegisterMap(SPEC, 4), fault)
    assert bad and bad[0][0] == where, bad[:3]


def _decode_by_table(rmap, addr):
    """An independent decode, from the map's register and window tables alone."""
    if addr % 4:
        return None
    for r in rmap.registers.values():
        if r.offset == addr:
            return r, 0
    for w in rmap.windows.values():
        if w.offset <= addr < w.offset + 4 * w.depth:
            return w, (addr - w.offset) // 4
    return None


def test_regions_decode_as_the_register_map():
    """The protocol's regions (and :meth:`RegisterMap.decode`, which is built on them) decode every
    address as the map's register and window tables say."""
    rmap = RegisterMap(SPEC, 4)
    for addr in range(rmap.size + 8):
        hit = region_at(rmap, addr)
        old = _decode_by_table(rmap, addr)
        assert ((hit[0].target, hit[1]) if hit else None) == old, f"0x{addr:x}"
        assert rmap.decode(addr) == old, f"0x{addr:x}"
