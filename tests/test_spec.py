"""The integer spec: validation, hashing, fixed-point primitives, the float boundary, packing."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evoconn import spec as S
from evoconn.spec import CycleModel, Spec, SpecError


def test_defaults_match_the_paper():
    s = Spec()
    assert (s.n_neurons, s.n_exc, s.obs_dim, s.act_dim, s.substeps) == (256, 128, 11, 3, 33)
    assert s.mask_bits == 71_936  # ec-method.md section 5, hopper
    assert Spec(obs_dim=17, act_dim=6).mask_bits == 75_776  # walker2d
    assert s.rec_weight_log2 == -2  # R = 0.25
    assert s.r_out == pytest.approx(0.4419, abs=1e-4)
    assert s.r_in == pytest.approx(2 / np.sqrt(11))


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"n_neurons": 4}, "n_neurons must be at least 8"),
        ({"obs_dim": 0}, "obs_dim must be at least 1"),
        ({"n_exc": 300}, "n_exc must lie in"),
        ({"state_frac": 17}, "state_frac must lie in"),
        ({"mem_leak": (6, 5)}, "mem_leak must be"),
        ({"rate_width": 16}, "rate_width=16 must hold"),
        ({"n_neurons": 4096, "out_width": 30}, "out_width=30 cannot hold"),
        ({"n_neurons": 8.0}, "n_neurons must be an int"),
    ],
)
def test_bad_specs_are_refused_with_a_precise_message(kw, msg):
    with pytest.raises(SpecError, match=msg.replace("(", r"\(")):
        Spec(**kw)


def test_hash_is_stable_and_sensitive():
    a, b = Spec(), Spec()
    assert a.hash == b.hash and len(a.hash) == 64
    assert a.hash32 == int(a.hash[:8], 16)
    # Every field changes the hash.
    for f in dataclasses.fields(Spec):
        v = getattr(a, f.name)
        if isinstance(v, tuple):
            new = (v[0], v[1] + 1)
        elif f.name == "n_neurons":
            new = 128
        else:
            new = v + 1
        try:
            c = dataclasses.replace(a, **{f.name: new})
        except SpecError:
            continue
        assert c.hash != a.hash, f.name
    # The hash is over a canonical serialization: a round trip through a dict keeps it.
    assert Spec.from_dict(a.to_dict()).hash == a.hash
    assert a.diff(Spec(n_neurons=128)) == {"n_neurons": (256, 128), "n_exc": (128, 64), "rec_weight_log2": (-2, -1)}


def test_hash_is_pinned():
    """The default spec's hash is part of every bitstream and checkpoint: changing it is a
    deliberate act (bump ARITHMETIC_VERSION or CORE_VERSION and update this value)."""
    assert Spec().canonical_json().startswith('{"arithmetic":"evoconn-int-1"')
    assert Spec().hash == PINNED_DEFAULT_HASH


# 1.1 (the board-safe bus) and 1.2 (on-chip sampling) changed CORE_VERSION, which the hash covers
PINNED_DEFAULT_HASH = "fd393256f6023d5a6653f8df8f2a4c04d3ce42f6003a16efb8809c9caf1a767a"


@pytest.mark.parametrize("leak", [(4, 5), (5, 6), (1, 2), (3, 7)])
def test_decay_and_gain_are_exact_floors_over_the_whole_state_range(leak):
    """Exhaustive over every 18-bit signed value: decay(x) = floor(alpha x), gain = floor((1-alpha) x)."""
    a, b = leak
    alpha = Fraction(1) - Fraction(1, 2**a) - Fraction(1, 2**b)
    x = np.arange(-(1 << 17), 1 << 17, dtype=np.int64)
    num, den = alpha.numerator, alpha.denominator
    np.testing.assert_array_equal(S._np_decay(x, leak), (x * num) // den)
    one_minus = 1 - alpha
    np.testing.assert_array_equal(S._np_gain(x, leak), (x * one_minus.numerator) // one_minus.denominator)
    # The scalar versions agree on a sample (they are the oracle's).
    for xi in (-(1 << 17), -1000, -1, 0, 1, 7, 1000, (1 << 17) - 1):
        assert S.decay(xi, leak) == (xi * num) // den
        assert S.gain(xi, leak) == (xi * one_minus.numerator) // one_minus.denominator


def test_saturation_edges():
    assert S.sat(131071, 18) == 131071
    assert S.sat(131072, 18) == 131071
    assert S.sat(-131072, 18) == -131072
    assert S.sat(-131073, 18) == -131072
    assert S.sat(10**12, 18) == 131071


def test_quantize_obs_rounds_half_even_clips_and_refuses_nonfinite():
    s = Spec(obs_dim=2)
    scale = float(s.obs_scale)
    x = np.array([[0.5 / scale, 1.5 / scale], [1e9, -1e9]], np.float32)
    q = s.quantize_obs(x)
    assert q.dtype == np.int32
    lo, hi = s.obs_limits()
    assert q[1].tolist() == [hi, lo]
    assert abs(int(q[0, 0])) <= 1 and abs(int(q[0, 1])) <= 2
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=r"not finite at index \(1, 0\)"):
            s.quantize_obs(np.array([[0.0, 0.0], [bad, 0.0]]))
    with pytest.raises(ValueError, match="last dimension 2"):
        s.quantize_obs(np.zeros(3))


def test_action_from_output_scales_and_clips():
    s = Spec()
    one = (1 << s.rate_frac) / s.r_out
    a = s.action_from_output(np.array([0, one / 2, 10 * one, -10 * one]))
    np.testing.assert_allclose(a, [0, 0.5, 1, -1], rtol=1e-6)


@given(st.integers(1, 300), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trip(n, rows, seed):
    rng = np.random.default_rng(seed)
    bits = rng.random((rows, n)) < 0.5
    words = S.pack_rows(bits)
    assert words.shape == (rows, (n + 31) // 32) and words.dtype == np.uint32
    np.testing.assert_array_equal(S.unpack_rows(words, n), bits)
    # Bit j of a row is bit j % 32 of word j // 32; padding bits are zero.
    j = int(rng.integers(n))
    row = np.zeros((1, n), bool)
    row[0, j] = True
    w = S.pack_rows(row)[0]
    assert w[j // 32] == 1 << (j % 32) and w.sum() == w[j // 32]


def test_register_map_is_consistent():
    for spec in (Spec(), Spec(n_neurons=8, obs_dim=3, act_dim=1), Spec(n_neurons=1000, obs_dim=244, act_dim=17)):
        m = spec.register_map(lanes=8)
        spans = []
        for r in m.registers.values():
            assert r.offset % 4 == 0 and r.offset < 0x100 and 1 <= r.width <= 32
            spans.append((r.offset, r.offset + 4))
            assert m.decode(r.offset) == (r, 0)
        for w in m.windows.values():
            assert w.offset % w.span == 0 and w.size <= w.span
            spans.append((w.offset, w.offset + w.size))
            assert m.decode(w.offset + 4 * (w.depth - 1)) == (w, w.depth - 1)
            assert m.decode(w.offset + w.size) is None or m.decode(w.offset + w.size)[0] is not w
        spans.sort()
        for (_, a1), (b0, _) in zip(spans, spans[1:], strict=False):
            assert a1 <= b0, "overlapping registers or windows"
        assert spans[-1][1] <= m.size and m.size & (m.size - 1) == 0
        assert m.decode(0x3) is None and m.decode(0xFC) is None
        assert m["MASK_H"].depth == spec.n_neurons * spec.row_words
        assert m["SPEC_HASH"].reset == spec.hash32
        assert m["LANES"].reset == 8


def test_cycle_model():
    cm = CycleModel(Spec(), lanes=16)
    k = 33
    base = cm.env_step_cycles(0, [0] * k)
    # One more spike arriving in a sub-step costs exactly one recurrent row read.
    assert cm.env_step_cycles(0, [0] * (k - 2) + [5, 0]) == base + 5
    # Spikes of the last sub-step arrive in the next env step, not this one.
    assert cm.env_step_cycles(0, [0] * (k - 1) + [9]) == base
    assert cm.env_step_cycles(4, [0] * k) == base + 4
    with pytest.raises(ValueError, match="need 33 spike counts"):
        cm.env_step_cycles(0, [0])
    with pytest.raises(SpecError, match="lanes=3"):
        CycleModel(Spec(), lanes=3)


SPECS = (Spec(), Spec(n_neurons=8, obs_dim=1, act_dim=1), Spec(n_neurons=1000, obs_dim=244, act_dim=17))


def test_fixed_registers_need_no_spec():
    """The register layout is the same for every spec; only the reset values come from it."""
    assert S.REGISTER_OFFSETS["ID"] == 0x00 and S.REGISTER_OFFSETS["SPEC_HASH"] == 0x08
    for spec in SPECS:
        for lanes in (1, 8):
            regs = spec.register_map(lanes).registers
            assert list(regs) == [name for name, *_ in S.REGISTER_LAYOUT]
            for name, offset, width, acc, doc in S.REGISTER_LAYOUT:
                r = regs[name]
                assert (r.offset, r.width, r.access, r.doc) == (offset, width, acc, doc), name
                assert S.REGISTER_OFFSETS[name] == offset


def _access_by_hand(m, addr, op, n):
    """The access rules, restated from the map's tables alone (no decode)."""
    def one(a):
        if a % 4:
            return None
        for r in m.registers.values():
            if r.offset == a:
                return r, 0
        for w in m.windows.values():
            if w.offset <= a < w.offset + w.size:
                return w, (a - w.offset) // 4
        return None

    hit = one(addr)
    if hit is None:
        return f"SLVERR: {op} at unmapped address 0x{addr:x}", addr
    target, idx = hit
    if n > 1 and not (isinstance(target, S.Window) and idx + n <= target.depth):
        end = addr + 4 * (n - 1)
        if one(end) is None:
            return f"SLVERR: {op} at unmapped address 0x{end:x}", end
        return f"SLVERR: block {op} of {n} words at 0x{addr:x} crosses the end of {target.name}", addr
    if op == "write" and target.access == S.Access.RO:
        return f"SLVERR: write to read-only {target.name} at 0x{addr:x}", addr
    return target, idx


@pytest.mark.parametrize("spec", SPECS[:2], ids=["default", "tiny"])
def test_access_follows_the_rules_at_every_address(spec):
    m = spec.register_map(lanes=8)
    checked = {"ok": 0, "slverr": 0}
    for addr in range(m.size + 8):
        for op in ("read", "write"):
            for n in (1, 2, 3):
                want = _access_by_hand(m, addr, op, n)
                if isinstance(want[0], str):
                    with pytest.raises(S.AccessError) as e:
                        S.access(m, addr, op, n)
                    assert (str(e.value), e.value.addr, e.value.op) == (want[0], want[1], op)
                    checked["slverr"] += 1
                else:
                    assert S.access(m, addr, op, n) == want
                    checked["ok"] += 1
    assert checked["ok"] > 0 and checked["slverr"] > 0
    # the cases that matter by name
    out = m["OUT"]
    assert S.access(m, out.offset, "read", spec.act_dim) == (out, 0)
    with pytest.raises(S.AccessError, match="read-only OUT"):
        S.access(m, out.offset, "write")
    with pytest.raises(S.AccessError, match="read-only ID"):
        S.access(m, 0, "write")
    assert S.access(m, m["CONTROL"].offset, "write") == (m["CONTROL"], 0)
    past = m["OBS"].offset + 4 * spec.obs_dim
    with pytest.raises(S.AccessError, match=f"crosses the end of OBS|unmapped address 0x{past:x}"):
        S.access(m, m["OBS"].offset, "write", spec.obs_dim + 1)


class _Regs:
    """A register file that answers the identity reads and logs them."""

    def __init__(self, spec, lanes=16, **override):
        self.values = spec.register_map(lanes).constants() | override
        self.log = []

    def read(self, addr):
        name = next(n for n, off in S.REGISTER_OFFSETS.items() if off == addr)
        self.log.append(name)
        return self.values[name]


IDENTITY_READS = ["ID", "VERSION", "SPEC_HASH", "N_NEURONS", "N_EXC", "OBS_DIM", "ACT_DIM", "SUBSTEPS", "LANES"]


def test_identity_check_reads_in_order_and_stops_at_the_first_bad_value():
    spec = Spec(n_neurons=64)
    regs = _Regs(spec, lanes=8)
    found = S.identify(regs.read, spec)
    assert regs.log == IDENTITY_READS
    assert found == S.Identity(spec=spec, lanes=8, core_id=S.CORE_ID, version=S.CORE_VERSION,
                               spec_hash=spec.hash32)
    # without an expected spec: the core's sizes with the default arithmetic
    assert S.identify(_Regs(spec, lanes=8).read, None).spec == spec
    # a minor VERSION bump is the same register map
    assert S.identify(_Regs(spec, VERSION=S.CORE_VERSION | 7).read, spec).version == S.CORE_VERSION | 7

    regs = _Regs(spec, ID=0xDEADBEEF)
    with pytest.raises(S.IdentityMismatch, match="no evoconn core here: ID reads 0xdeadbeef"):
        S.identify(regs.read, spec)
    assert regs.log == ["ID"]
    regs = _Regs(spec, VERSION=2 << 16)
    with pytest.raises(S.IdentityMismatch, match=r"core VERSION 2\.0 has another register map than this host \(1\.2\)"):
        S.identify(regs.read, spec)
    assert regs.log == ["ID", "VERSION"]


def test_identity_check_names_what_differs():
    spec = Spec(n_neurons=64)
    with pytest.raises(S.IdentityMismatch, match="sizes differ: n_neurons: core 64 vs expected 256, n_exc: core 32"):
        S.identify(_Regs(spec).read, Spec())
    wider = dataclasses.replace(spec, state_width=20)
    with pytest.raises(S.IdentityMismatch, match="the sizes agree, so the arithmetic differs"):
        S.identify(_Regs(spec).read, wider)
    with pytest.raises(S.IdentityMismatch, match="not the default arithmetic for its sizes"):
        S.identify(_Regs(wider).read, None)
    with pytest.raises(S.IdentityMismatch, match="that make no valid spec: n_neurons must be at least 8"):
        S.identify(_Regs(spec, N_NEURONS=4).read, None)


def test_identity_check_drives_the_same_over_an_awaitable_bus():
    import asyncio

    spec = Spec(n_neurons=64)
    regs = _Regs(spec, lanes=4)

    async def read(addr):
        await asyncio.sleep(0)
        return regs.read(addr)

    found = asyncio.run(S.identify_async(read, spec))
    assert found == S.identify(_Regs(spec, lanes=4).read, spec)
    assert regs.log == IDENTITY_READS


def test_board_safe_protocol_registers_and_bound():
    """Core 1.1: ERR_ADDR after the 1.0 registers (whose offsets are unchanged), STATUS and CONTROL
    wide enough for every bit, the error causes, and the response bound's terms. Core 1.2: SEED0,
    SEED1 and RHO_BITS after ERR_ADDR, CONTROL.SAMPLE and STATUS.SAMPLING, RHO the last window."""
    assert S.CORE_VERSION == (1 << 16) | 2
    assert S.REGISTER_OFFSETS["ERR_ADDR"] == 0x38 and S.REGISTER_OFFSETS["ROW_WORDS"] == 0x34
    assert [S.REGISTER_OFFSETS[k] for k in ("SEED0", "SEED1", "RHO_BITS")] == [0x3C, 0x40, 0x44]
    assert (S.Control.SAMPLE, S.Status.SAMPLING) == (1 << 4, 1 << 5)
    rmap = Spec(n_neurons=64).register_map(4)
    assert max(f.value for f in S.Status).bit_length() == rmap.registers["STATUS"].width == 12
    assert max(f.value for f in S.Control).bit_length() == rmap.registers["CONTROL"].width == 5
    assert list(rmap.windows)[-1] == "RHO" and rmap.windows["RHO"].width == S.RHO_BITS
    assert [rmap.registers[k].access for k in ("SEED0", "SEED1", "RHO_BITS")] == [S.Access.RW, S.Access.RW,
                                                                                  S.Access.RO]
    assert rmap.registers["RHO_BITS"].reset == S.RHO_BITS
    assert rmap.registers["ERR_ADDR"].access is S.Access.RO and rmap.registers["ERR_ADDR"].reset == 0
    assert S.ERROR_CAUSES == (S.Status.ERR_BUSY | S.Status.ERR_NOT_LOADED | S.Status.ERR_READ
                              | S.Status.ERR_WRITE)
    assert not S.ERROR_CAUSES & (S.Status.BUSY | S.Status.DONE | S.Status.ERROR | S.Status.LOADED
                                 | S.Status.ABORTED | S.Status.SAMPLING)
    # the clear: N / lanes cycles, plus the write's latency and one cycle to leave the state
    assert S.response_bound(Spec(n_neurons=64), 4) == 16 + S.WRITE_LATENCY + 1
    assert S.response_bound(Spec(n_neurons=8), 8) == max(S.READ_LATENCY, 1 + S.WRITE_LATENCY + 1)
    assert S.response_bound(Spec(n_neurons=4096, obs_dim=8, act_dim=2), 1) == 4098


def test_sample_cycles_closed_form_and_unroll_refused():
    """CycleModel.sample_cycles, by hand for hopper at N = 256 (the sampler's own count,
    hw.sampler.fill_cycles, is checked against the simulation in tests/hw), and a bad unroll refused."""
    cm = S.CycleModel(Spec(), 16)
    blocks = 256 * 256 // 2 + 22 * 256 // 2 + 3 * 256 + 256 // 2  # mask_out (a = 3): a block per entry
    entries = 256 * 256 + 22 * 256 + 3 * 256 + 256
    assert cm.sample_blocks() == blocks == 36_480
    assert cm.sample_cycles() == blocks * 12 + entries + 2 == 509_954
    assert S.CycleModel(Spec(n_neurons=16, obs_dim=3, act_dim=1), 4).sample_blocks() == 128 + 48 + 8 + 8
    with pytest.raises(S.SpecError, match="sampler_unroll"):
        S.CycleModel(Spec(), 16, sampler_unroll=3)

