"""Episodes and population scoring on any Core: the paper's fitness rules, the float boundary."""

from __future__ import annotations

import numpy as np
import pytest

from evoconn.artifact import Normalizer
from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.host.rollout import (
    ObservationError,
    deterministic_masks,
    make_env,
    run_episodes,
    sample_masks,
    score_population,
)
from evoconn.spec import Spec

from ..conftest import random_masks

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=8)


class ToyEnv:
    """Episode length set by the reset seed (2..8 steps); reward is the action, so fitness depends
    on the network; observations drift with the actions; optional NaN at a given step."""

    name = "toy"
    obs_dim = 3
    act_dim = 1

    def __init__(self, nan_at: int | None = None):
        self.nan_at = nan_at
        self.resets: list[int] = []

    def accepts(self, a):
        return a == 1

    def reset(self, seed):
        self.resets.append(int(seed))
        self.len = 2 + int(seed) % 7
        self.t = 0
        self.obs = np.array([1.0, -0.5, float(seed % 5)])
        return self.obs.copy()

    def step(self, action):
        self.t += 1
        self.obs = self.obs * 0.9 + np.array([action[0], 0.3, -action[0]])
        if self.nan_at is not None and self.t == self.nan_at:
            self.obs[1] = np.nan
        return self.obs.copy(), float(action[0]) + 1.0, self.t >= self.len, False


def fake_core(spec=SPEC):
    return RegisterCore(FakeBus(spec), spec)


def members(n, seed=0, spec=SPEC):
    rng = np.random.default_rng(seed)
    return [random_masks(spec, rng, 0.5) for _ in range(n)]


def test_fitness_rules_match_a_direct_evaluation():
    ms = members(6)
    env = ToyEnv()
    res = score_population(fake_core(), env, ms, seed=5)
    # recompute the rules directly: reset seeds and membranes drawn in the same order
    rng = np.random.default_rng(5)
    seeds = rng.integers(0, 2**31 - 1, 6)
    lengths = 2 + seeds % 7
    assert res.horizon == lengths.max()
    np.testing.assert_array_equal(res.episodes, res.horizon // lengths)
    assert (res.episodes >= 1).all()
    # each member restarted only from its own pool entry
    assert set(env.resets) == set(int(s) for s in seeds)
    # the fitness of member i: run it alone for exactly the horizon, state carried over restarts
    v0s = [rng.integers(0, SPEC.threshold, SPEC.n_neurons, dtype=np.int64) for _ in range(6)]
    for i in range(6):
        core = fake_core()
        core.load_masks(ms[i])
        core.reset_state(v0s[i])
        e = ToyEnv()
        obs = e.reset(seeds[i])
        rets, ret = [], 0.0
        for _ in range(res.horizon):
            out = core.step(SPEC.quantize_obs(obs))
            obs, r, term, _ = e.step(SPEC.action_from_output(out))
            ret += r
            if term:
                rets.append(ret)
                ret = 0.0
                obs = e.reset(seeds[i])
        assert res.fitness[i] == pytest.approx(np.mean(rets), abs=0)
    assert len(set(res.fitness.round(6))) > 1, "members should differ"


def test_same_fitness_on_jax_and_fake_bus():
    pytest.importorskip("jax")
    from evoconn.host.jax_core import JaxCore

    probs = {k: np.full(s, 0.5) for k, s in SPEC.mask_shapes.items()}
    norm = Normalizer(mean=np.array([0.5, 0.0, 1.0]), var=np.array([2.0, 1.0, 4.0]), count=10.0)
    a = score_population(fake_core(), ToyEnv(), probs, norm, seed=3, n=5)
    b = score_population(JaxCore(SPEC), ToyEnv(), probs, norm, seed=3, n=5)
    np.testing.assert_array_equal(a.fitness, b.fitness)
    np.testing.assert_array_equal(a.episodes, b.episodes)
    np.testing.assert_array_equal(a.final_obs, b.final_obs)


def test_sampling_and_deterministic_masks():
    probs = {k: np.where(np.arange(np.prod(s)).reshape(s) % 2, 0.999, 0.001)
             for k, s in SPEC.mask_shapes.items()}
    ms = sample_masks(probs, 50, np.random.default_rng(0))
    det = deterministic_masks(probs)
    for k in probs:
        agree = np.mean([np.mean(m[k] == det[k]) for m in ms])
        assert agree > 0.99
        assert det[k].dtype == bool


def test_nan_observation_names_the_step():
    ms = members(2)
    with pytest.raises(ObservationError, match=r"member 0, episode 0, step 3: .*not finite at index \(1,\)"):
        score_population(fake_core(), ToyEnv(nan_at=3), ms, seed=0)


def test_cartpole_episodes_on_the_fake_bus():
    pytest.importorskip("gymnasium")
    spec = Spec(n_neurons=32, obs_dim=4, act_dim=2, substeps=8)
    env = make_env("CartPole-v1", spec)
    res = run_episodes(fake_core(spec), env, random_masks(spec, np.random.default_rng(0)), None,
                       episodes=3, seed=1)
    assert len(res.returns) == 3 and all(r == n for r, n in zip(res.returns, res.lengths, strict=True))
    with pytest.raises(ValueError, match=r"observation size 4 .* the network has d=3"):
        make_env("CartPole-v1", SPEC)


def test_pendulum_actions_are_scaled_to_the_bounds():
    pytest.importorskip("gymnasium")
    env = make_env("Pendulum-v1")
    np.testing.assert_allclose(env._action(np.array([1.0])), [2.0])
    np.testing.assert_allclose(env._action(np.array([-0.5])), [-1.0])
