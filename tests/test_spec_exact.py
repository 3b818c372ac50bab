"""Exact points of the spec that a nearby wrong implementation would pass elsewhere (numpy only).

Each test here was written against a mutant that the hub's fast tier let through (see
bench/results/mutation.md): the strict threshold at v exactly 2**F, the float32 path of the
quantization, the action's dtype, the oracle's input checks, the integer word index of a decoded
address and the typical cycle count.
"""

from __future__ import annotations

import numpy as np
import pytest

from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.spec import CycleModel, Spec, numpy_env_step, oracle_env_step, oracle_init_state

ONE = Spec(n_neurons=8, obs_dim=1, act_dim=1, substeps=1, n_exc=8)


def _masks(spec: Spec) -> dict[str, np.ndarray]:
    m = {k: np.zeros(s, bool) for k, s in spec.mask_shapes.items()}
    m["mask_in"][0, :] = True  # +x feeds every neuron
    m["mask_out"][:, 0] = True
    return m


@pytest.mark.parametrize("offset,fires", [(-1, 0), (0, 0), (1, 1)])
def test_threshold_is_strict_at_exactly_two_to_the_f(offset, fires):
    """v = 2**F + offset after the update: only strictly above the threshold fires."""
    spec = ONE
    th = spec.threshold
    # u = I_in = th + offset and v0 = th + offset: gain(u - v) = 0, so v stays exactly th + offset
    v0 = [th + offset] * spec.n_neurons
    xq = [th + offset]
    masks = _masks(spec)
    state, _ = oracle_env_step(spec, masks, oracle_init_state(spec, v0), xq)
    assert state.spike == [fires] * spec.n_neurons
    assert state.v == [0 if fires else th + offset] * spec.n_neurons
    np_state = {"v": np.array([v0]), "isyn": np.zeros((1, 8), np.int64), "rate": np.zeros((1, 8), np.int64),
                "spike": np.zeros((1, 8), np.int8)}
    new, _, fired = numpy_env_step(spec, {k: v[None] for k, v in masks.items()}, np_state, np.array([xq]))
    assert new["spike"].tolist() == [[fires] * 8] and fired.tolist() == [[fires * 8]]
    core = RegisterCore(FakeBus(spec, 8), spec)
    core.load_masks(masks)
    core.reset_state(np.array(v0))
    core.step(np.array(xq))
    assert core.read_state()["spike"].tolist() == [bool(fires)] * 8


def test_quantize_obs_rounds_in_float32_not_float64():
    """The spec's product is float32(x) * float32(scale): a float64 product differs at some inputs."""
    spec = Spec()
    x = np.random.default_rng(0).normal(size=(50_000, spec.obs_dim)) * 3.0
    got = spec.quantize_obs(x)
    lo, hi = spec.obs_limits()
    f32 = np.clip(np.rint(x.astype(np.float32) * spec.obs_scale), lo, hi).astype(np.int32)
    f64 = np.clip(np.rint(x * np.float64(spec.obs_scale)), lo, hi).astype(np.int32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, f32)
    assert (f32 != f64).sum() > 0  # so the check above can tell the two apart
    np.testing.assert_array_equal(spec.quantize_obs(np.array([1.0] * spec.obs_dim)),
                                  [int(np.rint(spec.obs_scale))] * spec.obs_dim)


def test_action_is_float32():
    spec = Spec()
    a = spec.action_from_output(np.array([1 << spec.rate_frac, 0, -1]))
    assert a.dtype == np.float32
    assert a[0] == np.float32(spec.r_out)


def test_oracle_refuses_inputs_outside_the_obs_limits_and_the_wrong_length():
    spec = Spec(n_neurons=8, obs_dim=2, act_dim=1, substeps=1)
    masks = {k: np.zeros(s, bool) for k, s in spec.mask_shapes.items()}
    lo, hi = spec.obs_limits()
    for xq in ([hi + 1, 0], [0, lo - 1]):
        with pytest.raises(ValueError, match=rf"xq must be 2 ints in \[{lo}, {hi}\]"):
            oracle_env_step(spec, masks, oracle_init_state(spec), xq)
    with pytest.raises(ValueError, match="xq must be 2 ints"):
        oracle_env_step(spec, masks, oracle_init_state(spec), [0])
    oracle_env_step(spec, masks, oracle_init_state(spec), [lo, hi])  # the limits themselves are fine


def test_decode_gives_integer_word_indices():
    rmap = Spec().register_map()
    for w in rmap.windows.values():
        for word in (0, 1, w.depth - 1):
            target, idx = rmap.decode(w.offset + 4 * word)
            assert target is w and type(idx) is int and idx == word
    assert rmap.decode(rmap.windows["OBS"].offset + 2) is None  # not word aligned


@pytest.mark.parametrize("frac", [0.0, 0.02, 0.5, 1.0])
def test_typical_env_step_cycles_is_a_steady_firing_env_step(frac):
    spec = Spec(n_neurons=64, obs_dim=3, act_dim=2, substeps=5)
    cm = CycleModel(spec, 16)
    s = round(frac * 64)
    assert cm.typical_env_step_cycles(frac) == cm.env_step_cycles(s, [s] * 5)
    assert cm.typical_env_step_cycles() == cm.env_step_cycles(1, [1] * 5)  # default 2 % of 64 neurons


# --- the artifact's normalizer and the host's argument checks -------------------------------------


def test_normalizer_update_is_float64_keeps_eps_and_counts_single_rows():
    from evoconn.artifact import Normalizer

    rng = np.random.default_rng(2)
    batch = rng.normal(size=(5, 3)).astype(np.float32)
    fresh = Normalizer.identity(3)
    fresh.eps = 1e-3
    first = fresh.update(batch)  # the fresh branch
    assert first.mean.dtype == np.float64 and first.var.dtype == np.float64 and first.eps == 1e-3
    np.testing.assert_array_equal(first.mean, batch.astype(np.float64).mean(0))
    np.testing.assert_array_equal(first.var, batch.astype(np.float64).var(0))
    one = first.update(batch[:1])  # a single row is merged, not ignored
    assert one.count == 6 and one.eps == 1e-3 and one.mean.dtype == np.float64
    np.testing.assert_allclose(one.mean, np.concatenate([batch, batch[:1]]).astype(np.float64).mean(0), rtol=1e-12)
    # a normalizer that has seen exactly one row merges the next batch (it is not fresh)
    single = fresh.update(batch[:1])
    assert single.count == 1
    both = single.update(batch[1:])
    assert both.count == 5
    np.testing.assert_allclose(both.mean, batch.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(both.var, batch.astype(np.float64).var(0), rtol=1e-9)
    assert fresh.update(np.zeros((0, 3))) is fresh  # an empty batch changes nothing


def test_check_xq_returns_int64_and_names_the_rule():
    from evoconn.host.core import check_xq

    spec = Spec(n_neurons=8, obs_dim=2, act_dim=1)
    got = check_xq(spec, np.array([1, -2], np.int32))
    assert got.dtype == np.int64 and got.tolist() == [1, -2]
    with pytest.raises(ValueError, match=r"xq must lie in \[-32768, 32767\] \(obs_width=16\)"):
        check_xq(spec, np.array([40000, 0]))
    with pytest.raises(TypeError, match=r"xq must be integers \(use spec.quantize_obs\)"):
        check_xq(spec, np.array([0.5, 0.0]))


def test_pack_rows_on_a_batch_of_row_blocks_and_the_step_dtypes():
    """pack_rows takes (..., R, N): a batch of members' masks packs like each member alone."""
    from evoconn.spec import pack_rows, unpack_rows

    rng = np.random.default_rng(4)
    bits = rng.random((3, 5, 40)) < 0.5
    words = pack_rows(bits)
    assert words.shape == (3, 5, 2) and words.dtype == np.uint32
    for b in range(3):
        np.testing.assert_array_equal(words[b], pack_rows(bits[b]))
    np.testing.assert_array_equal(unpack_rows(words, 40), bits)
    assert unpack_rows(words, 40).dtype == np.bool_
    np.testing.assert_array_equal(unpack_rows(words.astype(np.int64), 40), bits)
    spec = Spec(n_neurons=8, obs_dim=2, act_dim=1, substeps=2)
    masks = {k: rng.random((1, *s)) < 0.5 for k, s in spec.mask_shapes.items()}
    state = {k: np.zeros((1, 8), np.int32) for k in ("v", "isyn", "rate")} | {"spike": np.ones((1, 8), np.int8)}
    new, out, fired = numpy_env_step(spec, masks, state, np.array([[300, -7]], np.int16))
    assert new["spike"].dtype == np.int8 and out.dtype == np.int64
    assert all(new[k].dtype == np.int64 for k in ("v", "isyn", "rate"))
    wide = {k: v.astype(np.int64) for k, v in state.items()}
    new64, out64, fired64 = numpy_env_step(spec, masks, wide, np.array([[300, -7]], np.int64))
    for k in new:  # narrower integer inputs give the same step
        np.testing.assert_array_equal(new[k], new64[k])
    np.testing.assert_array_equal(out, out64)
    np.testing.assert_array_equal(fired, fired64)
