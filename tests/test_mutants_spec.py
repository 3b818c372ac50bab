"""Tests of the spec package written against the mutants that survived the fast tiers (issue 18).

Each checks behaviour against an independent computation or the value the spec's documentation
states (bench/results/mutation.md lists the mutant each one kills). numpy only, no JAX.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evoconn.spec import Spec, SpecError, State
from evoconn.spec.sizes import _clog2

# Built inside each test (a spec that cannot be built fails that test, not the module's collection):
# the default, a small one, and the smallest widths the validator allows.
SIZES = {"n256": {}, "n16": dict(n_neurons=16, obs_dim=3, act_dim=1, substeps=4),
         "n8_narrowest": dict(n_neurons=8, obs_dim=1, act_dim=1, state_width=4, state_frac=2, rate_width=4,
                              rate_frac=1, rec_weight_log2=-1, out_width=9, obs_width=2)}


def test_clog2_is_the_smallest_k_with_two_to_k_at_least_n():
    for n in range(1, 5000):
        k = next(k for k in range(64) if (1 << k) >= n)
        assert _clog2(n) == k, n


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_limits_are_the_signed_ranges_of_their_widths(sizes):
    spec = Spec(**sizes)
    for width, limits in ((spec.state_width, spec.state_limits()), (spec.rate_width, spec.rate_limits()),
                          (spec.obs_width, spec.obs_limits())):
        assert limits == (-(2 ** (width - 1)), 2 ** (width - 1) - 1)


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_sign_is_int8_plus_one_on_excitatory_minus_one_on_inhibitory(sizes):
    spec = Spec(**sizes)
    s = spec.sign()
    assert s.dtype == np.int8  # the documented type (the RTL and the models take it as a signed byte)
    np.testing.assert_array_equal(s, np.where(np.arange(spec.n_neurons) < spec.n_exc, 1, -1))


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_dequantize_obs_is_the_inverse_scaling(sizes):
    spec = Spec(**sizes)
    lo, hi = spec.obs_limits()
    xq = np.array([lo, -1, 0, 1, hi], dtype=np.int32)
    x = spec.dequantize_obs(xq)
    assert x.dtype == np.float64
    expect = np.array([v / (2.0 / math.sqrt(spec.obs_dim) * 2**spec.state_frac) for v in xq.tolist()])
    np.testing.assert_array_equal(x, expect)
    # and it round-trips through the quantization for in-range values
    inner = xq[1:-1]
    np.testing.assert_array_equal(spec.quantize_obs(np.broadcast_to(spec.dequantize_obs(inner)[:, None],
                                                                   (3, spec.obs_dim)))[:, 0], inner)


def test_from_dict_refuses_unknown_fields_by_name():
    d = Spec().to_dict() | {"bogus_field": 1}
    with pytest.raises(SpecError, match="unknown spec fields: \\['bogus_field'\\]"):
        Spec.from_dict(d)


def test_size_errors_name_the_field_at_fault():
    with pytest.raises(SpecError):  # not a math domain error from the default R
        Spec(n_neurons=0)
    with pytest.raises(SpecError, match="n_neurons must be at least 8"):
        Spec(n_neurons=1)
    with pytest.raises(SpecError, match="n_neurons must be at least 8"):
        Spec(n_neurons=7)


# Each field's range as the validator states it (Spec's docstring and messages): the last value in
# on each side is accepted, the first value out is refused, with a message naming the field.
RANGES = [
    # (field, accepted, refused, other fields that keep the rest valid)
    ("n_neurons", [8, 4096], [7, 4097], {}),
    ("obs_dim", [1], [0], {}),
    ("act_dim", [1], [0], {}),
    ("substeps", [1, 1024], [0, 1025], {}),
    ("state_width", [4, 32], [3, 33], {"state_frac": 2, "rec_weight_log2": 0}),
    ("state_frac", [1, 16], [0, 17], {"rec_weight_log2": 0}),
    ("obs_width", [2, 32], [1, 33], {}),
    ("syn_leak", [(1, 2), (15, 16)], [(0, 1), (2, 2), (3, 2), (15, 17)], {}),
    ("mem_leak", [(1, 2), (15, 16)], [(0, 1), (2, 2), (3, 2), (15, 17)], {}),
    ("out_leak", [(1, 2), (15, 16)], [(0, 1), (2, 2), (3, 2), (15, 17)], {}),
    # rec_shift = state_frac + rec_weight_log2 must lie in [0, state_width) = [0, 18)
    ("rec_weight_log2", [-10, 7], [-11, 8], {}),
    ("out_width", [32], [33], {}),
]


@pytest.mark.parametrize("field,ok,bad,rest", RANGES, ids=[r[0] for r in RANGES])
def test_each_size_is_accepted_up_to_its_limits_and_refused_past_them(field, ok, bad, rest):
    for v in ok:
        spec = Spec(**rest, **{field: v})
        assert getattr(spec, field) == v
    for v in bad:
        with pytest.raises(SpecError, match=f"^{field}[ =]"):
            Spec(**rest, **{field: v})


@pytest.mark.parametrize("n,min_width", [(255, 27), (256, 28), (8, 18 + 4 + 1), (4096, 32)])
def test_out_width_must_hold_the_exact_output_sum(n, min_width):
    # the rule: rate_width + clog2(N + 1) + 1 bits; at rate_width 18: N=255 -> 27, N=256 -> 28
    assert Spec(n_neurons=n, out_width=min_width).out_width == min_width
    with pytest.raises(SpecError, match="^out_width"):
        Spec(n_neurons=n, out_width=min_width - 1)


def test_state_frac_error_states_the_bound_it_was_checked_against():
    with pytest.raises(SpecError, match=r"state_frac must lie in \[1, state_width-2=16\]"):
        Spec(state_frac=17)


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_oracle_init_state_is_zero_everywhere_but_the_given_membrane(sizes):
    spec = Spec(**sizes)
    from evoconn.spec import oracle_init_state

    n = spec.n_neurons
    zero = oracle_init_state(spec)
    assert (zero.v, zero.isyn, zero.rate, zero.spike) == ([0] * n, [0] * n, [0] * n, [0] * n)
    v0 = list(range(3, 3 + n))
    given = oracle_init_state(spec, np.asarray(v0))
    assert (given.v, given.isyn, given.rate, given.spike) == (v0, [0] * n, [0] * n, [0] * n)
    assert all(type(x) is int for x in given.v)
    with pytest.raises(ValueError, match=f"v0 must have {n} entries, got {n - 1}"):
        oracle_init_state(spec, v0[:-1])


# --- prng: the documented ranges, dtypes and batch shapes --------------------------------------


def test_threefry_words_must_be_unsigned_32_bit_integers():
    from evoconn.spec import prng

    ok = prng.threefry2x32(0, 0xFFFFFFFF, np.array([0, 0xFFFFFFFF]), 0)
    assert [w.dtype for w in ok] == [np.uint32, np.uint32]
    for bad in (-1, 1 << 32, np.array([5, -1]), np.array([0, 1 << 32])):
        with pytest.raises(ValueError, match=r"^threefry words must lie in \[0, 2\*\*32\)$"):
            prng.threefry2x32(0, 0, bad, 0)
    with pytest.raises(TypeError, match="threefry words must be integers, got float64"):
        prng.threefry2x32(0, 0, np.array([1.0]), 0)


def test_threefry_on_scalars_warns_of_no_overflow():
    # uint32 arithmetic wraps by design; numpy warns on scalar overflow unless told not to, and a
    # warning on every draw would be noise on the board's console
    import warnings

    from evoconn.spec import prng

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y0, y1 = prng.threefry2x32(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    # Random123's known answer for this key and counter (kat_vectors, threefry2x32_20)
    assert (int(y0), int(y1)) == (0x1CB996FC, 0xBB002BE7)


def test_seed_key_takes_every_64_bit_seed_as_two_uint32_words():
    from evoconn.spec import prng

    for seed, words in ((0, [0, 0]), (1, [0, 1]), ((1 << 64) - 1, [0xFFFFFFFF, 0xFFFFFFFF]),
                        (0x0123456789ABCDEF, [0x01234567, 0x89ABCDEF])):
        key = prng.seed_key(seed)
        assert key.dtype == np.uint32
        assert key.tolist() == words
    for seed in (-1, 1 << 64):
        with pytest.raises(ValueError, match=rf"seed must lie in \[0, 2\*\*64\), got {seed}"):
            prng.seed_key(seed)


def test_fold_in_gives_a_uint32_key_of_the_block_at_counter_zero_data():
    from evoconn.spec import prng

    key = prng.seed_key(7)
    got = prng.fold_in(key, 5)
    assert got.dtype == np.uint32
    y0, y1 = prng.threefry2x32(key[0], key[1], 0, 5)
    assert got.tolist() == [int(y0), int(y1)]


def test_mask_words_and_membrane_of_a_batch_of_keys_are_those_of_each_key():
    from evoconn.spec import prng

    keys = prng.member_keys(prng.seed_key(3), 6).reshape(2, 3, 2)  # a (2, 3) batch of keys
    words = prng.mask_words(keys, 1, (4, 5))
    v0 = prng.initial_membrane(keys, 7, 10)
    assert words.shape == (2, 3, 4, 5) and v0.shape == (2, 3, 7)
    assert v0.dtype == np.int64  # documented: (..., n) int64
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(words[i, j], prng.mask_words(keys[i, j], 1, (4, 5)))
            np.testing.assert_array_equal(v0[i, j], prng.initial_membrane(keys[i, j], 7, 10))


def test_mask_streams_hold_up_to_256_masks_below_the_membrane_stream():
    from evoconn.spec import prng

    names = [f"m{i:03d}" for i in range(prng.STREAM_V0 + 1)]
    most = prng.mask_streams(names[:-1])  # 256 masks: streams 0 .. 255, all below STREAM_V0
    assert most == {n: i for i, n in enumerate(names[:-1])}
    assert max(most.values()) < prng.STREAM_V0
    with pytest.raises(ValueError, match=f"at most {prng.STREAM_V0} masks, got {prng.STREAM_V0 + 1}"):
        prng.mask_streams(names)


def test_quantize_rho_is_float32_rint_as_uint32_for_bits_1_to_31():
    from evoconn.spec import prng

    for bits in (1, 12, 31):
        got = prng.quantize_rho(np.array([0.0, 0.5, 1.0]), bits)
        assert got.dtype == np.uint32
        assert got.tolist() == [0, 1 << (bits - 1), 1 << bits]
    for bits in (0, 32):
        with pytest.raises(ValueError, match=rf"bits must lie in \[1, 31\], got {bits}"):
            prng.quantize_rho(0.5, bits)
    # a float64 rho just below a half step: float32 rounds it onto the tie, which rounds to even
    rho = 1.5 / 4096 - 1e-12
    assert np.float32(rho) * np.float32(4096) == np.float32(1.5)
    assert int(prng.quantize_rho(rho, 12)) == 2
    for bad in (-0.001, 1.001):
        with pytest.raises(ValueError, match=r"^rho must lie in \[0, 1\]$"):
            prng.quantize_rho(np.array([0.5, bad]))


def test_sample_masks_passes_its_bits_on():
    from evoconn.spec import prng

    keys = prng.member_keys(prng.seed_key(11), 4)
    rho = {"a": np.full((8, 8), 0.3), "b": np.full((3, 8), 0.7)}
    streams = prng.mask_streams(rho)
    for bits in (3, 12):
        got = prng.sample_masks(rho, keys, bits)
        for k in rho:
            np.testing.assert_array_equal(got[k], prng.sample_mask(rho[k], keys, streams[k], bits))
    # with 3 bits rho = 0.3 is 2/8; with 12 bits 1229/4096: the masks must differ somewhere
    assert not np.array_equal(prng.sample_masks(rho, keys, 3)["a"], prng.sample_masks(rho, keys, 12)["a"])


def test_initial_membrane_takes_state_frac_1_to_31():
    from evoconn.spec import prng

    keys = prng.member_keys(prng.seed_key(1), 2)
    for f in (1, 31):
        v0 = prng.initial_membrane(keys, 64, f)
        assert v0.min() >= 0 and v0.max() < (1 << f)
    for f in (0, 32):
        with pytest.raises(ValueError, match=rf"state_frac must lie in \[1, 31\], got {f}"):
            prng.initial_membrane(keys, 8, f)


# --- protocol: the response bound and the identity check's messages ----------------------------


def test_response_bound_is_an_integer_count_of_clock_edges():
    from evoconn.spec import READ_LATENCY, WRITE_LATENCY, response_bound

    for sizes, lanes, edges in ((dict(n_neurons=4096), 1, 4096 + WRITE_LATENCY + 1),
                                ({}, 16, 256 // 16 + WRITE_LATENCY + 1),
                                (dict(n_neurons=8), 8, max(READ_LATENCY, 1 + WRITE_LATENCY + 1))):
        got = response_bound(Spec(**sizes), lanes)
        assert type(got) is int and got == edges


def _registers(spec, lanes=16, **override):
    """A read function over the register values a core of ``spec`` holds (with overrides)."""
    rmap = spec.register_map(lanes)
    values = {r.offset: r.reset for r in rmap.registers.values()}
    for name, v in override.items():
        values[rmap.registers[name].offset] = v
    return values.__getitem__


def test_identity_mismatch_messages_say_what_was_read_and_what_to_do():
    from evoconn.spec import CORE_VERSION, IdentityMismatch, identify

    spec = Spec(n_neurons=16, obs_dim=3, act_dim=1)
    with pytest.raises(IdentityMismatch, match=r"ID reads 0xdeadbeef, expected 0x45564f43 \('EVOC'\); "
                                                r"is the overlay loaded and the base address right\?"):
        identify(_registers(spec, ID=0xDEADBEEF), spec)
    other = (((CORE_VERSION >> 16) + 1) << 16) | 0xFFFF
    want = f"{CORE_VERSION >> 16}.{CORE_VERSION & 0xFFFF}"
    with pytest.raises(IdentityMismatch, match=rf"core VERSION {(CORE_VERSION >> 16) + 1}\.65535 has another "
                                                rf"register map than this host \({want}\); rebuild the "
                                                r"bitstream or update evoconn$"):
        identify(_registers(spec, VERSION=other), spec)
    wider = Spec(n_neurons=16, obs_dim=3, act_dim=1, state_width=20)
    with pytest.raises(IdentityMismatch) as e:
        identify(_registers(wider), spec)
    msg = str(e.value)
    assert f"the expected spec's is 0x{spec.hash32:08x} ({spec.hash[:16]}); " in msg
    assert msg.endswith("the sizes agree, so the arithmetic differs (widths, leaks, shifts or arithmetic version)")


def test_identify_async_checks_against_the_expected_spec():
    import asyncio

    from evoconn.spec import IdentityMismatch, identify_async

    wider = Spec(n_neurons=16, obs_dim=3, act_dim=1, state_width=20)  # not the default arithmetic
    read = _registers(wider, lanes=4)

    async def aread(addr):
        return read(addr)

    got = asyncio.run(identify_async(aread, wider))
    assert got.spec == wider and got.lanes == 4
    with pytest.raises(IdentityMismatch, match="not the default arithmetic"):
        asyncio.run(identify_async(aread, None))


# --- regmap: the window layout rule, for sizes beyond the pinned reference ones -----------------


def _pow2_at_least(x):
    p = 1
    while p < x:
        p *= 2
    return p


@pytest.mark.parametrize("n,d,a", [(8, 1, 1), (16, 1, 1), (16, 3, 1), (32, 2, 2), (40, 5, 3), (64, 11, 3),
                                   (256, 11, 3), (256, 17, 6), (1024, 1, 1), (4096, 2, 1)])
def test_windows_are_aligned_to_their_span_in_order_after_the_registers(n, d, a):
    """RegisterMap's rule: each window is aligned to a power of two at least its size (and at least
    one word), in the order listed, after 0x100; the core decodes the smallest power of two that
    holds them all."""
    spec = Spec(n_neurons=n, obs_dim=d, act_dim=a)
    rmap = spec.register_map(8 if n % 16 else 16)
    rw = -(-n // 32)
    depths = {"MASK_IN": 2 * d * rw, "MASK_H": n * rw, "MASK_OUT": a * rw, "OBS": d, "OUT": a,
              "STATE": 4 * n, "SPIKE": rw, "RHO": n * n + 2 * d * n + a * n}
    assert list(rmap.windows) == list(depths)
    addr = 0x100
    for name, depth in depths.items():
        span = _pow2_at_least(max(4, 4 * depth))
        while addr % span:
            addr += 4
        w = rmap.windows[name]
        assert (w.offset, w.depth, w.size, w.span) == (addr, depth, 4 * depth, span), name
        addr += span
    assert rmap.size == _pow2_at_least(addr)
    assert rmap.addr_width == rmap.size.bit_length() - 1


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_from_dict_takes_the_json_form_and_partial_dicts(sizes):
    spec = Spec(**sizes)
    assert Spec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # leaks as JSON lists
    assert Spec.from_dict(dict(sizes)) == spec  # the fields left out take their defaults
    assert Spec.from_dict({}) == Spec()
    assert Spec.from_dict({"syn_leak": [3, 7]}) == Spec(syn_leak=(3, 7))


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_state_as_arrays_holds_the_state_in_its_word_types(sizes):
    """`State.as_arrays`: v, isyn, rate as int32 (state_width and rate_width are at most 32 bits),
    spike as int8 (as numpy_env_step's spike), the values the lists hold, extremes included."""
    spec = Spec(**sizes)
    n = spec.n_neurons
    (slo, shi), (rlo, rhi) = spec.state_limits(), spec.rate_limits()
    st = State(v=[slo, shi] + [0] * (n - 2), isyn=[shi, -1] + [slo] * (n - 2),
               rate=[rlo, rhi] + [1] * (n - 2), spike=[1, 0] * (n // 2))
    got = st.as_arrays()
    assert list(got) == ["v", "isyn", "rate", "spike"]
    for k, dtype in (("v", np.int32), ("isyn", np.int32), ("rate", np.int32), ("spike", np.int8)):
        assert got[k].dtype == dtype, k
        assert got[k].tolist() == getattr(st, k), k


@pytest.mark.parametrize("width,leak", [(32, (1, 16)), (18, (1, 16)), (32, (4, 5))])
def test_numpy_env_step_takes_state_of_any_integer_type_without_overflow(width, leak):
    """numpy_env_step computes in int64 whatever integer type the state arrives in (int32, as
    `State.as_arrays` gives it, included): the leak's shift `x << (b - a)` of a full-width
    I_syn does not fit 32 bits."""
    from evoconn.spec import numpy_env_step

    spec = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4, state_width=width, syn_leak=leak)
    rng = np.random.default_rng(width + leak[0])
    b, n = 3, spec.n_neurons
    masks = {"mask_in": rng.random((b, 2 * spec.obs_dim, n)) < 0.5, "mask_h": rng.random((b, n, n)) < 0.3,
             "mask_out": rng.random((b, n, spec.act_dim)) < 0.5}
    lo, hi = spec.state_limits()
    rlo, rhi = spec.rate_limits()
    state = {"v": rng.integers(lo, spec.threshold, (b, n)), "isyn": rng.choice([lo, hi, hi - 1, 0], (b, n)),
             "rate": rng.integers(rlo, rhi + 1, (b, n)), "spike": rng.integers(0, 2, (b, n))}
    olo, ohi = spec.obs_limits()
    xq = rng.integers(olo, ohi + 1, (b, spec.obs_dim))
    want = numpy_env_step(spec, masks, {k: a.astype(np.int64) for k, a in state.items()}, xq.astype(np.int64))
    narrow = {"v": np.int32, "isyn": np.int32, "rate": np.int32, "spike": np.int8}
    got = numpy_env_step(spec, masks, {k: a.astype(narrow[k]) for k, a in state.items()}, xq.astype(np.int32))
    for k in ("v", "isyn", "rate", "spike"):
        np.testing.assert_array_equal(got[0][k], want[0][k], err_msg=k)
        assert got[0][k].dtype == want[0][k].dtype, k
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])


def test_numpy_env_step_takes_nonnegative_state_and_inputs_as_uint64():
    """Unsigned arrays are integer arrays too: a state and an observation with no negative entry,
    given as uint64, step exactly as their int64 copies (numpy would mix uint64 with int64 into
    float64; the model's int64 casts keep every value an exact integer)."""
    from evoconn.spec import numpy_env_step

    spec = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4)
    rng = np.random.default_rng(7)
    b, n = 3, spec.n_neurons
    masks = {"mask_in": rng.random((b, 2 * spec.obs_dim, n)) < 0.5, "mask_h": rng.random((b, n, n)) < 0.3,
             "mask_out": rng.random((b, n, spec.act_dim)) < 0.5}
    state = {"v": rng.integers(0, spec.threshold, (b, n)), "isyn": rng.integers(0, spec.state_limits()[1], (b, n)),
             "rate": rng.integers(0, spec.rate_limits()[1], (b, n)), "spike": rng.integers(0, 2, (b, n))}
    xq = rng.integers(0, spec.obs_limits()[1], (b, spec.obs_dim))
    want = numpy_env_step(spec, masks, state, xq)
    for k in state:  # each input alone as uint64, the rest int64
        got = numpy_env_step(spec, masks, state | {k: state[k].astype(np.uint64)}, xq)
        for f in ("v", "isyn", "rate", "spike"):
            np.testing.assert_array_equal(got[0][f], want[0][f], err_msg=f"{k}: {f}")
            assert got[0][f].dtype == want[0][f].dtype, (k, f)
        np.testing.assert_array_equal(got[1], want[1], err_msg=k)
    got = numpy_env_step(spec, masks, state, xq.astype(np.uint64))
    np.testing.assert_array_equal(got[1], want[1])
    assert got[1].dtype == want[1].dtype == np.int64
    for f in ("v", "isyn", "rate", "spike"):
        np.testing.assert_array_equal(got[0][f], want[0][f], err_msg=f"xq: {f}")


# jax.random.split's keys (JAX 0.10.2, jax_threefry_partitionable, its default), as raw uint32 words
SPLIT_KEYS = [
    ([0, 0], 2, [[1797259609, 2579123966], [928981903, 3453687069]]),
    ([0, 42], 3, [[1832780943, 270669613], [64467757, 2916123636], [2465931498, 255383827]]),
    ([0xDEADBEEF, 0x12345678], 5, [[3900269855, 3314918129], [1325154248, 2230975748], [1861767586, 394638339],
                                   [3559227592, 2913848818], [1963549165, 3543199380]]),
]


@pytest.mark.parametrize("key,num,expect", SPLIT_KEYS)
def test_split_gives_the_keys_of_jax_random_split(key, num, expect):
    from evoconn.spec import prng

    got = prng.split(np.array(key, np.uint32), num)
    assert got.dtype == np.uint32 and got.shape == (num, 2)
    assert got.tolist() == expect
    assert prng.split(key, num).tolist() == expect  # a list of ints is a key too
    assert prng.split(np.array(key, np.uint32)).tolist() == expect[:2]  # num defaults to 2


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_regions_are_the_registers_as_one_word_then_the_windows_in_their_spans(sizes):
    """`protocol.regions`, the list the RTL's decoder builds its comparators from: every register
    one word in a span of 4 bytes, then every window, its depth in words inside its span."""
    from evoconn.spec.protocol import Region, regions

    rmap = Spec(**sizes).register_map(8)
    expect = tuple([Region(r, r.offset, 1, 4) for r in rmap.registers.values()]
                   + [Region(w, w.offset, w.depth, w.span) for w in rmap.windows.values()])
    assert regions(rmap) == expect
    assert [r.name for r in regions(rmap)] == [*rmap.registers, *rmap.windows]


@pytest.mark.parametrize("sizes", SIZES.values(), ids=SIZES.keys())
def test_mask_rows_are_bool_rows_whatever_the_masks_type(sizes):
    """`mask_rows` on 0/1 integer masks (or any nonzero for a set bit) gives the bool rows, mask_out
    transposed, as it does on bool masks."""
    from evoconn.spec.packing import mask_rows

    spec = Spec(**sizes)
    rng = np.random.default_rng(3)
    n, d2, a = spec.n_neurons, 2 * spec.obs_dim, spec.act_dim
    bools = {"mask_in": rng.random((d2, n)) < 0.5, "mask_h": rng.random((n, n)) < 0.5,
             "mask_out": rng.random((n, a)) < 0.5}
    for masks in (bools, {k: m.astype(np.int64) * 3 for k, m in bools.items()},
                  {k: m.astype(np.uint8) for k, m in bools.items()}):
        got = mask_rows(spec, masks)
        assert list(got) == ["mask_in", "mask_h", "mask_out"]
        for k, want in (("mask_in", bools["mask_in"]), ("mask_h", bools["mask_h"]),
                        ("mask_out", bools["mask_out"].T)):
            assert got[k].dtype == np.bool_, k
            np.testing.assert_array_equal(got[k], want, err_msg=k)
