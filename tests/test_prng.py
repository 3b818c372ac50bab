"""The PRNG and the sampling rule (evoconn.spec.prng) and the numpy EC, without JAX (runs on the board).

``Independent`` below is a second implementation in plain Python integers, written from the text
of docs/spec.md ("Random numbers and mask sampling") without using evoconn.spec.prng.
"""

from __future__ import annotations

import numpy as np
import pytest

from evoconn import ec_numpy as ecn
from evoconn.spec import Spec, prng

M32 = 0xFFFFFFFF


class Independent:
    """docs/spec.md's rules, scalar by scalar."""

    @staticmethod
    def block(k0: int, k1: int, x0: int, x1: int) -> tuple[int, int]:
        ks = [k0, k1, k0 ^ k1 ^ 0x1BD11BDA]
        x0 = (x0 + ks[0]) & M32
        x1 = (x1 + ks[1]) & M32
        for g in range(5):
            for r in ((13, 15, 26, 6) if g % 2 == 0 else (17, 29, 16, 24)):
                x0 = (x0 + x1) & M32
                x1 = ((x1 << r) | (x1 >> (32 - r))) & M32
                x1 ^= x0
            x0 = (x0 + ks[(g + 1) % 3]) & M32
            x1 = (x1 + ks[(g + 2) % 3] + g + 1) & M32
        return x0, x1

    @classmethod
    def member_key(cls, key: tuple[int, int], i: int) -> tuple[int, int]:
        return cls.block(key[0], key[1], i, 0x200)

    @classmethod
    def word(cls, key: tuple[int, int], stream: int, j: int) -> int:
        return cls.block(key[0], key[1], j >> 1, stream)[j & 1]

    @classmethod
    def bit(cls, key, stream: int, j: int, rho: float, b: int) -> bool:
        rq = int(np.rint(np.float32(rho) * np.float32(2 ** b)))
        return (cls.word(key, stream, j) >> (32 - b)) < rq

    @classmethod
    def v0(cls, key, n: int, f: int) -> int:
        return cls.word(key, 0x100, n) >> (32 - f)


def test_threefry_known_answers():
    for key, ctr, want in [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
                           ((M32, M32), (M32, M32), (0x1CB996FC, 0xBB002BE7)),
                           ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]:
        y = prng.threefry2x32(*key, *ctr)
        assert (int(y[0]), int(y[1])) == want
        assert Independent.block(*key, *ctr) == want


def test_threefry_vectorized_equals_the_independent_scalar_code():
    rng = np.random.default_rng(0)
    w = rng.integers(0, 2 ** 32, (200, 4), dtype=np.uint64).astype(np.uint32)
    y0, y1 = prng.threefry2x32(w[:, 0], w[:, 1], w[:, 2], w[:, 3])
    for i in range(len(w)):
        assert Independent.block(*(int(v) for v in w[i])) == (int(y0[i]), int(y1[i]))


def test_seed_key_and_member_keys():
    assert prng.seed_key(5).tolist() == [0, 5]
    assert prng.seed_key((7 << 32) | 9).tolist() == [7, 9]
    with pytest.raises(ValueError):
        prng.seed_key(-1)
    key = (0x12345678, 0x9ABCDEF0)
    mk = prng.member_keys(np.array(key, np.uint32), 40)
    assert mk.shape == (40, 2) and mk.dtype == np.uint32
    for i in range(40):
        assert tuple(int(v) for v in mk[i]) == Independent.member_key(key, i)
    assert len({tuple(r) for r in mk.tolist()}) == 40
    assert prng.fold_in(np.array(key, np.uint32), 3).tolist() == list(Independent.block(*key, 0, 3))


@pytest.mark.parametrize("n", [8, 16, 64, 256])
def test_masks_and_v0_equal_the_independent_code_at_every_size(n):
    spec = Spec(n_neurons=n, obs_dim=5, act_dim=3)
    rng = np.random.default_rng(n)
    keys = prng.member_keys(prng.seed_key(n), 3)
    b = prng.RHO_BITS
    lo, hi = np.float32(1e-3), np.float32(1 - 1e-3)
    rho = {}
    for k, shape in spec.mask_shapes.items():
        r = rng.random(shape).astype(np.float32)
        flat = r.reshape(-1)
        flat[:4] = [lo, hi, 0.5, 0.0]  # the clip limits, 1/2 and 0
        flat[4:8] = np.float32(rng.integers(0, 2 ** b, 4) / 2 ** b)  # exactly on a quantization step
        flat[8:10] = np.float32((rng.integers(0, 2 ** b, 2) + 0.5) / 2 ** b)  # exactly half-way
        rho[k] = r
    masks = prng.sample_masks(rho, keys)
    streams = prng.mask_streams(rho)
    assert streams == {"mask_h": 0, "mask_in": 1, "mask_out": 2}
    for k, r in rho.items():
        assert masks[k].shape == (3, *r.shape) and masks[k].dtype == bool
        cols = r.shape[1]
        idx = np.arange(r.size) if r.size <= 600 else np.r_[np.arange(12), rng.choice(r.size, 400, replace=False)]
        for m in range(3):
            key = tuple(int(v) for v in keys[m])
            for j in idx:
                want = Independent.bit(key, streams[k], int(j), float(r.reshape(-1)[j]), b)
                assert masks[k][m, j // cols, j % cols] == want, (k, m, j)
    v0 = prng.initial_membrane(keys, n, spec.state_frac)
    assert v0.shape == (3, n) and v0.min() >= 0 and v0.max() < spec.threshold
    for m in range(3):
        key = tuple(int(v) for v in keys[m])
        assert v0[m].tolist() == [Independent.v0(key, i, spec.state_frac) for i in range(n)]


def test_sampling_rule_at_the_quantization_boundaries():
    b = 10
    keys = prng.member_keys(prng.seed_key(1), 64)
    words = prng.mask_words(keys, 0, (1024,))
    top = words >> np.uint32(32 - b)
    for k in (0, 1, 2, 511, 512, 1023, 1024):
        on = prng.sample_mask(np.full(1024, k / 2 ** b, np.float32), keys, 0, b)
        np.testing.assert_array_equal(on, top < k)
    # half-way rounds to even: 2.5 -> 2, 3.5 -> 4
    np.testing.assert_array_equal(prng.quantize_rho(np.float32([2.5, 3.5]) / 2 ** b, b), [2, 4])
    assert not prng.sample_mask(np.zeros(1024, np.float32), keys, 0, b).any()
    assert prng.sample_mask(np.ones(1024, np.float32), keys, 0, b).all()
    # the clip limits are strictly random for every b >= 10
    for bb in (10, 12, 16):
        q = prng.quantize_rho(np.float32([1e-3, 1 - 1e-3]), bb)
        assert q[0] >= 1 and q[1] <= 2 ** bb - 1
    with pytest.raises(ValueError):
        prng.quantize_rho(np.float32([1.5]))


def test_sampling_frequency_is_rho_q():
    keys = prng.member_keys(prng.seed_key(2), 4000)
    rho = np.float32([0.001, 0.2, 0.5, 0.999])
    on = prng.sample_mask(rho, keys, 1).mean(axis=0)
    p = prng.quantize_rho(rho) / 2 ** prng.RHO_BITS
    assert np.all(np.abs(on - p) < 4 * np.sqrt(p * (1 - p) / 4000) + 1e-9)


def test_numpy_ec_tell_from_keys_equals_tell_from_masks_and_learns():
    rng = np.random.default_rng(0)
    target = {"a": rng.random((6, 10)) < 0.5, "b": rng.random((7,)) < 0.5}
    p = ecn.ECParams()
    s1 = s2 = ecn.init(p, {k: v.shape for k, v in target.items()})
    for g in range(60):
        key = prng.fold_in(prng.seed_key(1), g)
        th = ecn.ask(s1, key, 64)
        fit = sum(np.sum(th[k] == target[k], axis=tuple(range(1, th[k].ndim))) for k in th)
        fit = fit + rng.random(64) * 1e-3
        s1, _ = ecn.tell(p, s1, prng.member_keys(key, 64), fit)
        s2, _ = ecn.tell(p, s2, th, fit)
        for k in target:
            np.testing.assert_array_equal(s1.rho[k], s2.rho[k])
            np.testing.assert_array_equal(s1.mu[k], s2.mu[k])
    for k in target:
        np.testing.assert_array_equal(ecn.eval_masks(s1, 1)[k][0], target[k])


def test_numpy_ec_clips_and_keeps_float32():
    p = ecn.ECParams(lr=10.0)
    s = ecn.init(p, {"a": (8, 5)})
    theta = {"a": np.zeros((4, 8, 5), bool)}
    theta["a"][3] = True
    s, m = ecn.tell(p, s, theta, np.arange(4.0))
    assert np.all(s.rho["a"] == np.float32(1 - 1e-3)) and s.rho["a"].dtype == np.float32
    assert s.generation == 1 and 0 < m["entropy"] < 1
    theta = {"a": ~theta["a"]}
    for _ in range(3):
        s, _ = ecn.tell(p, s, theta, np.arange(4.0))
    assert np.all(s.rho["a"] == np.float32(1e-3))
    with pytest.raises(ValueError):
        ecn.tell(p, s, theta, np.arange(1.0))
    with pytest.raises(ValueError):
        ecn.ECParams(rho_bits=0)
