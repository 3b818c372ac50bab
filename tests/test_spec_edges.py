"""Property tests of the hub (numpy only, no JAX: the fast tier and mutation oracle of evoconn.spec)
whose strategies always draw the edge values: ``one_of(sampled_from(edges), <range>)``, so the
threshold, the saturation limits, word boundaries and the smallest and largest sizes are visited on
every run rather than left to chance (issue 18). The JAX model meets the same edges in
tests/test_boundaries.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evoconn import spec as S
from evoconn.spec import CycleModel, Spec, State, numpy_env_step, oracle_env_step


def run_oracle(spec, masks, state, xq):
    """The oracle member by member, shaped like numpy_env_step's result."""
    outs, news, fired = [], [], []
    for b in range(xq.shape[0]):
        st_ = State(*(state[k][b].tolist() for k in ("v", "isyn", "rate", "spike")))
        spikes: list[int] = []
        new, out = oracle_env_step(spec, {k: m[b] for k, m in masks.items()}, st_, xq[b].tolist(), spikes)
        news.append(new.as_arrays())
        outs.append(out)
        fired.append(spikes)
    return {k: np.stack([n[k] for n in news]) for k in news[0]}, np.asarray(outs), np.asarray(fired)


def assert_same(a, b, where=""):
    (sa, oa, fa), (sb, ob, fb) = a, b
    for k in ("v", "isyn", "rate", "spike"):
        np.testing.assert_array_equal(np.asarray(sa[k], np.int64), np.asarray(sb[k], np.int64), err_msg=f"{k} {where}")
    np.testing.assert_array_equal(np.asarray(oa, np.int64), np.asarray(ob, np.int64), err_msg=f"out {where}")
    np.testing.assert_array_equal(np.asarray(fa, np.int64), np.asarray(fb, np.int64), err_msg=f"fired {where}")


def _edges(lo: int, hi: int, *inner: int):
    return st.one_of(st.sampled_from(sorted({lo, hi, *inner})), st.integers(lo, hi))


@settings(max_examples=60, deadline=None)
@given(n=_edges(1, 300, 31, 32, 33, 63, 64, 65, 256),
       rows=_edges(1, 40, 2),
       fill=st.sampled_from(["zeros", "ones", "first", "last", "random"]),
       seed=st.integers(0, 2**32 - 1))
@example(n=4096, rows=1, fill="ones", seed=0)
def test_pack_unpack_round_trip_at_the_edges(n, rows, fill, seed):
    rng = np.random.default_rng(seed)
    bits = {"zeros": np.zeros((rows, n), bool), "ones": np.ones((rows, n), bool),
            "random": rng.random((rows, n)) < 0.5}.get(fill)
    if bits is None:
        bits = np.zeros((rows, n), bool)
        bits[:, 0 if fill == "first" else n - 1] = True
    words = S.pack_rows(bits)
    assert words.shape == (rows, (n + 31) // 32) and words.dtype == np.uint32
    np.testing.assert_array_equal(S.unpack_rows(words, n), bits)
    if fill == "ones":  # padding bits of the last word stay zero
        assert int(words[0, -1]) == (1 << (n - 32 * (words.shape[1] - 1))) - 1


def _state_values(spec: Spec):
    slo, shi = spec.state_limits()
    rlo, rhi = spec.rate_limits()
    th = spec.threshold
    return {
        "v": st.one_of(st.sampled_from([slo, slo + 1, -1, 0, 1, th - 1, th, th + 1, shi - 1, shi]),
                       st.integers(slo, shi)),
        "isyn": _edges(slo, shi, -1, 0, 1),
        "rate": _edges(rlo, rhi, -spec.rate_target, -1, 0, 1, spec.rate_target),
    }


EDGE_SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4, n_exc=8)


def draw_edge_case(spec: Spec, data, density: float, seed: int):
    """(masks, state, xq) for one network: states at the threshold and the saturation limits,
    observations at the clip points and around 0, masks of the given density."""
    n = spec.n_neurons
    vals = _state_values(spec)
    state = {k: np.array([data.draw(vals[k]) for _ in range(n)], np.int64)[None] for k in ("v", "isyn", "rate")}
    state["spike"] = np.array([data.draw(st.sampled_from([0, 1])) for _ in range(n)], np.int8)[None]
    lo, hi = spec.obs_limits()
    xq = np.array([[data.draw(_edges(lo, hi, -1, 0, 1)) for _ in range(spec.obs_dim)]], np.int32)
    rng = np.random.default_rng(seed)
    masks = {k: (rng.random((1, *s)) < density) for k, s in spec.mask_shapes.items()}
    return masks, state, xq


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), density=st.sampled_from([0.0, 1.0, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_numpy_and_oracle_agree_on_edge_states_and_inputs(data, density, seed):
    """Oracle and numpy agree where states sit at the threshold and the saturation limits."""
    spec = EDGE_SPEC
    masks, state, xq = draw_edge_case(spec, data, density, seed)
    ref = numpy_env_step(spec, masks, state, xq)
    assert_same(ref, run_oracle(spec, masks, state, xq), "oracle")


@settings(max_examples=60, deadline=None)
@given(k=_edges(-40000, 40000, -32769, -32768, -32767, -1, 0, 1, 32766, 32767, 32768),
       half=st.sampled_from([-0.5, 0.0, 0.5]))
def test_quantize_obs_at_rounding_and_clipping_edges(k, half):
    """x that lands exactly on k + 1/2 rounds half to even; beyond the limits it clamps."""
    spec = Spec(n_neurons=16, obs_dim=1, act_dim=1)
    scale = np.float64(spec.obs_scale)
    x = np.float32((k + half) / scale)
    got = int(spec.quantize_obs(np.array([x]))[0])
    y = np.float32(x) * spec.obs_scale  # the float32 product the spec rounds
    lo, hi = spec.obs_limits()
    assert got == int(np.clip(np.rint(y), lo, hi))
    assert lo <= got <= hi
    if abs(k) > 33000:
        assert got == (hi if k > 0 else lo)


@settings(max_examples=40, deadline=None)
@given(lanes=st.sampled_from([1, 2, 16, 64]), prev=_edges(0, 64, 1, 63),
       spikes=st.lists(_edges(0, 64, 1, 63), min_size=4, max_size=4))
def test_cycle_model_at_no_and_all_spikes(lanes, prev, spikes):
    spec = Spec(n_neurons=64, obs_dim=3, act_dim=2, substeps=4)
    cm = CycleModel(spec, lanes)
    total = cm.env_step_cycles(prev, spikes)
    per = 64 // lanes
    arriving = [prev, *spikes[:-1]]
    assert total == (cm.start_overhead + (2 * 3 + per + cm.input_overhead)
                     + sum(s + per + cm.substep_overhead for s in arriving)
                     + (2 * per + cm.output_overhead))




def test_numpy_and_oracle_agree_at_the_saturation_corners():
    """All-one masks, inputs at their limits: I_in, I_syn, u, v and the rate reach their limits."""
    reached = []
    for n_exc, k in ((16, 12), (0, 12), (0, 1)):  # all excitatory (saturates high), all inhibitory (low)
        spec = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=k, n_exc=n_exc)
        slo, shi = spec.state_limits()
        _, rhi = spec.rate_limits()
        for x in spec.obs_limits():
            masks = {k: np.ones((1, *s), bool) for k, s in spec.mask_shapes.items()}
            masks["mask_in"][:, spec.obs_dim:, :] = False
            isyn0 = shi if n_exc else slo
            state = {"v": np.full((1, 16), spec.threshold, np.int64), "isyn": np.full((1, 16), isyn0, np.int64),
                     "rate": np.full((1, 16), rhi, np.int64), "spike": np.ones((1, 16), np.int8)}
            xq = np.full((1, spec.obs_dim), x, np.int32)
            ref = numpy_env_step(spec, masks, state, xq)
            assert_same(ref, run_oracle(spec, masks, state, xq), f"n_exc={n_exc} x={x}")
            reached.append((n_exc, x, int(ref[0]["isyn"].max()), int(ref[0]["isyn"].min())))
    # all excitatory and firing: I_syn pinned at the top; all inhibitory and firing at first: it hits the bottom
    assert reached[1][2] == shi  # n_exc = 16, x at its top, after 12 sub-steps
    assert reached[-1][3] == slo and reached[-2][3] == slo  # n_exc = 0, one sub-step
