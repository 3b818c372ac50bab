"""Fitness rules, observation normalizer and the integer policy's float boundary."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoconn.artifact import Normalizer
from evoconn.spec import Spec
from evoconn.training.models import int_env_step, prepare_int_masks
from evoconn.training.rollout import (
    Policy,
    int_policy,
    norm_init,
    norm_update,
    normalize,
    quantize_obs_jax,
    rollout,
)


@struct.dataclass
class FakeState:
    obs: jax.Array  # (2,): [member id, steps into the episode]
    reward: jax.Array
    done: jax.Array
    length: jax.Array  # this member's episode length


class FakeEnv:
    """Member i's episode lasts lengths[i] steps, reward 1 + 0.5 * (obs fed back) per step."""

    def __init__(self, lengths):
        self.lengths = jnp.asarray(lengths, jnp.int32)

    def reset(self, key, i):
        return FakeState(obs=jnp.array([i, 0.0]), reward=jnp.float32(0), done=jnp.float32(0),
                         length=self.lengths[i])

    def step(self, s, act):
        t = s.obs[1] + 1
        return FakeState(obs=jnp.array([s.obs[0], t]), reward=1.0 + 0.5 * act[0],
                         done=(t >= s.length).astype(jnp.float32), length=s.length)


def _count_policy():
    """Action = number of env steps this member has taken this generation (carried state)."""
    return Policy("count", lambda p: p, lambda k: jnp.zeros((), jnp.float32),
                  lambda p, c, x: (c + 1, jnp.stack([p * 0.0]), jnp.float32(0)))


def test_rollout_fitness_rules():
    lengths = [3, 5, 2, 10]
    env = FakeEnv(lengths)
    pool = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 4), jnp.arange(4))
    res = rollout(env, _count_policy(), jnp.zeros(4), pool, norm_init(2), jax.random.PRNGKey(1),
                  episode_len=100)
    # runs until the slowest member finished one episode
    assert int(res.steps) == 10
    np.testing.assert_array_equal(np.asarray(res.episodes), [3, 2, 5, 1])  # 10 // L
    np.testing.assert_allclose(np.asarray(res.fitness), lengths)  # mean of completed returns
    # final obs: members restarted from their pool entry (step counter back to 10 mod L)
    np.testing.assert_array_equal(np.asarray(res.final_obs)[:, 1], [1, 0, 0, 0])
    # the cap truncates episodes: cap 4 -> member 3 (length 10) scores a 4-step return
    res = rollout(env, _count_policy(), jnp.zeros(4), pool, norm_init(2), jax.random.PRNGKey(1),
                  episode_len=4)
    assert int(res.steps) == 4
    np.testing.assert_allclose(np.asarray(res.fitness), [3, 4, 2, 4])
    np.testing.assert_array_equal(np.asarray(res.episodes), [1, 1, 2, 1])


def test_network_state_is_carried_across_resets():
    env = FakeEnv([2, 2])
    pool = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2), jnp.arange(2))
    # reward 1 + 0.5 * carry-count: if the carry were reset on done, both episodes would score
    # 1.5 + 2.0; carried, the second episode scores 2.5 + 3.0
    pol = Policy("c", lambda p: p, lambda k: jnp.zeros((), jnp.float32),
                 lambda p, c, x: (c + 1, jnp.stack([c + 1]), jnp.float32(0)))
    res = rollout(FakeEnv([2, 4]), pol, jnp.zeros(2), pool.replace(length=jnp.array([2, 4])),
                  norm_init(2), jax.random.PRNGKey(0), episode_len=100)
    np.testing.assert_allclose(np.asarray(res.fitness), [(3.5 + 5.5) / 2, 4 + 0.5 * 10])


def test_norm_update_matches_artifact_normalizer():
    rng = np.random.default_rng(0)
    ref = Normalizer.identity(5)
    ours = norm_init(5)
    x = rng.normal(size=(7, 5))
    np.testing.assert_allclose(np.asarray(normalize(ours, jnp.asarray(x, jnp.float32))), x, rtol=1e-6)
    for _ in range(4):
        b = rng.normal(3.0, 2.0, size=(33, 5))
        ref = ref.update(b)
        ours = norm_update(ours, jnp.asarray(b, jnp.float32))
        np.testing.assert_allclose(np.asarray(ours.mean), ref.mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(ours.var), ref.var, rtol=1e-5)
        assert float(ours.count) == ref.count
    np.testing.assert_allclose(np.asarray(normalize(ours, jnp.asarray(x, jnp.float32))),
                               ref.normalize(x), rtol=1e-4, atol=1e-5)


def test_quantize_and_action_mirror_the_spec():
    spec = Spec(n_neurons=16, obs_dim=5, act_dim=2, substeps=4)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(200, 5)) * 30).astype(np.float32)
    x[0, 0] = 1e9  # clipped
    np.testing.assert_array_equal(np.asarray(quantize_obs_jax(spec, jnp.asarray(x))),
                                  spec.quantize_obs(x))
    pol = int_policy(spec)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    m = pol.prepare({k: jnp.asarray(v) for k, v in masks.items()})
    st = pol.init_carry(jax.random.PRNGKey(0))
    assert int(st.v.min()) >= 0 and int(st.v.max()) < 1 << spec.state_frac
    st2, act, _ = pol.apply(m, st, jnp.asarray(x[1]))
    ref_st, out, _ = int_env_step(spec, prepare_int_masks(spec, *masks.values()), st,
                                  jnp.asarray(spec.quantize_obs(x[1])))
    np.testing.assert_array_equal(np.asarray(st2.v), np.asarray(ref_st.v))
    np.testing.assert_allclose(np.asarray(act), spec.action_from_output(np.asarray(out)), rtol=2e-7)
