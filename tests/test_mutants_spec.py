"""Tests of the spec package written against the mutants that survived the fast tiers (issue 18).

Each checks behaviour against an independent computation or the value the spec's documentation
states (bench/results/mutation.md lists the mutant each one kills). numpy only, no JAX.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evoconn.spec import Spec, SpecError
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
