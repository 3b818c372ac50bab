"""docs/spec.md states every number an independent model needs, and each one is the code's (issue 16).

Each expected string is built from the code, so a change of a constant fails here until the
document says the new value; the behaviours the document states (NaN refused by the host and
zeroed by the trainer, v0 per member, the normalizer's first batch, the action scale) are run, not
only read; the eval masks at rho = 0.5 are run in tests/test_boundaries.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evoconn.artifact import Normalizer
from evoconn.spec import Spec, oracle_env_step, oracle_init_state

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "spec.md").read_text()
SECTION = DOC[DOC.index("## Everything an independent model needs"):DOC.index("## Widths")]


def m(x) -> str:
    """A number as the document writes it (Unicode minus)."""
    return str(x).replace("-", "\u2212")


def row(name: str) -> list[str]:
    line = next(line for line in SECTION.splitlines() if line.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_constants_table():
    s, s64 = Spec(), Spec(n_neurons=64)
    assert row("K, sub-steps per env step")[1] == str(s.substeps)
    assert row("F, state fractional bits")[1] == str(s.state_frac)
    assert f"2^{s.state_frac} = {s.threshold}" in row("F, state fractional bits")[2]
    assert row("F_R, rate fractional bits")[1] == str(s.rate_frac)
    assert f"2^{s.rate_frac + 1} = {s.rate_target}" in row("F_R, rate fractional bits")[2]
    lo, hi = s.state_limits()
    assert row("W, state width")[1] == str(s.state_width) and f"[{m(lo)}, {hi}]" in row("W, state width")[2]
    lo, hi = s.rate_limits()
    assert row("rate width")[1] == str(s.rate_width) and f"[{m(lo)}, {hi}]" in row("rate width")[2]
    assert row("leaks (a, b)")[1] == f"syn {s.syn_leak}, mem {s.mem_leak}, out {s.out_leak}"
    r = row("rec_weight_log2")
    assert r[1] == f"{m(s.rec_weight_log2)} at N = 256, {m(s64.rec_weight_log2)} at N = 64"
    assert f"R = {2.0 ** s.rec_weight_log2}, {2.0 ** s64.rec_weight_log2}" in r[2]
    assert row("rec_shift")[1] == f"{s.rec_shift} at N = 256, {s64.rec_shift} at N = 64"
    h, w = Spec(obs_dim=11), Spec(obs_dim=17, act_dim=6)
    assert math.isclose(h.r_in, 2 / math.sqrt(11)) and math.isclose(s.r_out, 5 / math.sqrt(128))
    assert row("R_in")[1] == f"2/√d: {h.r_in:.7f} at d = 11 (hopper), {w.r_in:.7f} at d = 17 (walker2d)"
    assert row("obs scale")[1] == (f"float32(R_in · 2^F): {float(h.obs_scale):.5f} at d = 11, "
                                   f"{float(w.obs_scale):.5f} at d = 17")
    assert row("R_out")[1] == f"5/√(N/2): {s.r_out:.7f} at N = 256, {s64.r_out:.7f} at N = 64"


def test_excitatory_neurons_and_n_exc():
    s, s64 = Spec(), Spec(n_neurons=64)
    assert f"`n_exc = N // 2` by default ({s.n_exc} at N = 256, {s64.n_exc} at N = 64)" in SECTION
    assert s.n_exc == s.n_neurons // 2
    sgn = s.sign()
    assert (sgn[: s.n_exc] == 1).all() and (sgn[s.n_exc:] == -1).all()


def test_observation_limits():
    h, w = Spec(obs_dim=11), Spec(obs_dim=17, act_dim=6)
    lo, hi = h.obs_limits()
    assert f"clip(rint(float32(x) · obs_scale), {m(lo)}, {hi})" in SECTION
    for spec, text in ((h, "±{:.2f} (hopper, d = 11"), (w, "±{:.2f} at d = 17")):
        limit = spec.obs_limits()[1] / float(spec.obs_scale)
        assert text.format(limit) in SECTION
        # a normalized value just beyond the stated limit is clamped, one just inside is not
        assert spec.quantize_obs(np.full(spec.obs_dim, limit + 0.01))[0] == hi
        assert spec.quantize_obs(np.full(spec.obs_dim, limit - 0.01))[0] < hi
    with pytest.raises(ValueError):
        oracle_env_step(h, {k: np.zeros(sh, bool) for k, sh in h.mask_shapes.items()},
                        oracle_init_state(h), [hi + 1] + [0] * (h.obs_dim - 1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observations_refused_by_the_host_and_zeroed_by_the_trainer(bad):
    assert "**NaN and infinity are refused, not clipped.**" in SECTION
    s = Spec(n_neurons=16, obs_dim=3, act_dim=2)
    x = np.array([0.5, bad, -0.25])
    with pytest.raises(ValueError, match=r"not finite at index \(1,\)"):
        s.quantize_obs(x)
    from evoconn.training.rollout import quantize_obs_jax

    got = np.asarray(quantize_obs_jax(s, np.asarray(x, np.float32)))
    want = s.quantize_obs(np.where(np.isfinite(x), x, 0.0))
    np.testing.assert_array_equal(got, want)
    assert got[1] == 0


def test_initial_membrane_is_per_member_in_the_stated_range():
    s = Spec(n_neurons=64, obs_dim=3, act_dim=2)
    assert f"integers uniform in `[0, 2^F)` = `[0, {s.threshold})`" in SECTION
    import jax

    from evoconn.host.rollout import initial_membrane
    from evoconn.training.rollout import int_policy

    carry = jax.vmap(int_policy(s).init_carry)(jax.random.split(jax.random.PRNGKey(0), 8))
    v = np.asarray(carry.v)
    assert v.shape == (8, s.n_neurons) and v.min() >= 0 and v.max() < s.threshold
    assert len({tuple(r) for r in v}) == 8  # one v0 per member
    for name in ("isyn", "rate", "spike"):
        assert not np.asarray(getattr(carry, name)).any(), name
    rng = np.random.default_rng(0)
    a, b = initial_membrane(s, rng), initial_membrane(s, rng)
    assert a.min() >= 0 and max(a.max(), b.max()) < s.threshold and (a != b).any()


def test_normalizer_as_stated():
    from evoconn.training.rollout import NORM_EPS, norm_init, norm_update, normalize

    assert NORM_EPS == Normalizer.identity(2).eps == 1e-8
    assert "`x = (obs − mean) / sqrt(var + 1e-8)`" in SECTION
    rng = np.random.default_rng(1)
    a, b = rng.normal(3.0, 2.0, (50, 2)), rng.normal(-1.0, 0.5, (30, 2))
    fresh = Normalizer.identity(2)
    np.testing.assert_array_equal(fresh.normalize(a), a / np.sqrt(1 + 1e-8))
    one = fresh.update(a)  # the first batch replaces the statistics
    np.testing.assert_array_equal(one.mean, a.mean(0))
    np.testing.assert_array_equal(one.var, a.var(0))
    two = one.update(b)
    both = np.concatenate([a, b])
    np.testing.assert_allclose(two.mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(two.var, both.var(0), rtol=1e-12)  # population variance, ddof 0
    assert two.count == 80
    # the trainer's float32 mirror follows the same formula
    n32 = norm_update(norm_update(norm_init(2), a.astype(np.float32)), b.astype(np.float32))
    np.testing.assert_allclose(np.asarray(n32.mean), both.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(n32.var), both.var(0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(normalize(n32, both[:3].astype(np.float32))),
                               two.normalize(both[:3]), rtol=1e-4, atol=1e-5)


def test_action_scaling_as_stated():
    s = Spec()
    assert "`action[k] = clip(out[k] · R_out / 2^F_R, −1, 1)`" in SECTION
    out = np.array([0, 1 << s.rate_frac, -(3 << s.rate_frac)])
    np.testing.assert_array_equal(s.action_from_output(out), np.float32([0.0, s.r_out, -1.0]))
