"""The host's own code on the RTL: one episode, a population and a training run through
``RegisterCore`` on the exported Verilog under cocotb equal the JAX reference exactly.

Each test has its own lanes, so its own build folder (parallel workers never share one). Small K
(``Spec(substeps=...)``) keeps the simulation short; the arithmetic is the same at any K.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from evoconn.cli import main
from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.host.rollout import make_env, score_population
from evoconn.spec import Spec

from ..conftest import ICARUS_RTL
from .test_cli import make_artifact
from .test_equivalence import episode, play

pytest.importorskip("jax")
pytest.importorskip("cocotb")
pytest.importorskip("gymnasium")
from evoconn.host.jax_core import JaxCore
from evoconn.host.rtl import RtlSession, rtl_sample_trace, rtl_trace
from evoconn.host.train_core import LocalRunner, train_core

pytestmark = ICARUS_RTL

PENDULUM = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)


def test_one_episode_identical_on_jax_fake_and_rtl(tmp_path):
    """N = 16, d = 5, a = 3 (odd), observations at the clipping limits, a reset in the middle, bus
    backpressure on every AXI channel: identical outputs at every step and identical final state."""
    spec = Spec(n_neurons=16, obs_dim=5, act_dim=3, n_exc=11, substeps=6)
    masks, xs, v0 = episode(spec, seed=5, steps=24)
    lo, hi = spec.obs_limits()
    assert (xs == lo).any() and (xs == hi).any(), "the episode must reach both clipping limits"
    want, st_jax = play(JaxCore(spec), masks, xs, v0)
    fake, st_fake = play(RegisterCore(FakeBus(spec, lanes=2), spec), masks, xs, v0)
    with RtlSession(spec, lanes=2, pauses=0.3, seed=7) as sim:
        got = sim.call(rtl_trace, masks, xs, v0, {len(xs) // 2: 1})
        assert sim.info["sim_cycles"] > 0 and sim.info["bus_writes"] > 0
    assert np.abs(want).max() > 0 and len(np.unique(want)) > 4, "a silent network proves nothing"
    np.testing.assert_array_equal(fake, want)
    np.testing.assert_array_equal(got["out"], want)
    for k in ("v", "isyn", "rate", "i_in", "spike"):
        np.testing.assert_array_equal(got["state"][k], st_jax[k], err_msg=k)
        np.testing.assert_array_equal(st_fake[k], st_jax[k], err_msg=k)
    assert got["state"]["spikes"] == st_jax["spikes"]
    assert got["stats"]["steps"] == len(xs) and got["stats"]["mask_loads"] == 1


@pytest.mark.parametrize("gate", [None, pytest.param("ecp5", marks=pytest.mark.slow)])
def test_on_chip_sampling_equals_host_regeneration(gate):
    """CONTROL.SAMPLE on the RTL (rho once, then only a key per member on the bus): the masks read
    back through the mask windows equal the host's regeneration from the same rho and key, v equals
    initial_membrane, CYCLES the cycle model's fill, and the episode that follows equals JaxCore's
    on the host-sampled member; the core model (FakeBus) agrees too. a = 2 (mask_out's transposed
    order) and rho at both clip limits. ``gate='ecp5'``: the same on the ECP5 netlist at gate level
    (the rho memory in a DP16KD's x18 mode, our model of it)."""
    from evoconn.spec import CycleModel
    from evoconn.spec.prng import initial_membrane, masks_from_rho_words, member_keys, rho_words, seed_key

    RHO_CLIP = (1e-3, 1 - 1e-3)  # EC's clip limits (ECConfig.clip_eps)
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4)
    rng = np.random.default_rng(11)
    rho = {k: rng.uniform(*RHO_CLIP, sh) for k, sh in spec.mask_shapes.items()}
    rho["mask_h"][0, :4] = [RHO_CLIP[0], RHO_CLIP[1], RHO_CLIP[0], RHO_CLIP[1]]
    keys = member_keys(seed_key(3), 2)
    xs = rng.integers(-30000, 30000, (10, spec.obs_dim))
    fake = rtl_sample_trace(RegisterCore(FakeBus(spec, lanes=4), spec), rho, keys, xs)
    if gate:
        from evoconn.hw import toolchain

        try:
            toolchain.find_tool("yosys")
        except toolchain.ToolError as e:
            pytest.skip(str(e))
    with RtlSession(spec, lanes=4, gate=gate) as sim:
        got = sim.call(rtl_sample_trace, rho, keys, xs)
    words = rho_words(spec, rho)
    jax_core = JaxCore(spec)
    jax_core.load_rho(rho)
    for i, key in enumerate(keys):
        masks = masks_from_rho_words(spec, words, key)
        assert 0 < masks["mask_h"].sum() < masks["mask_h"].size
        jax_core.sample(key)
        want = np.stack([jax_core.step(x) for x in xs])
        assert np.abs(want).max() > 0, "a silent network proves nothing"
        for run in (got[i], fake[i]):
            for k in masks:
                np.testing.assert_array_equal(run["masks"][k], masks[k], err_msg=k)
            np.testing.assert_array_equal(run["state0"]["v"], initial_membrane(key, spec.n_neurons, spec.state_frac))
            for k in ("isyn", "rate", "i_in", "spike"):
                np.testing.assert_array_equal(run["state0"][k], 0, err_msg=k)
            assert run["state0"]["cycles"] == CycleModel(spec, 4).sample_cycles()
            np.testing.assert_array_equal(run["out"], want)
            assert run["stats"]["samples"] == 1 and run["stats"]["mask_loads"] == 0


def test_population_fitness_identical_on_rtl_and_jax():
    env = functools.partial(make_env, "Pendulum-v1", PENDULUM)
    rng = np.random.default_rng(4)
    probs = {k: rng.uniform(0.2, 0.8, s) for k, s in PENDULUM.mask_shapes.items()}
    kw = dict(n=5, seed=11, max_steps=15)
    want = score_population(JaxCore(PENDULUM), env, probs, **kw)
    with RtlSession(PENDULUM, lanes=4) as sim:
        # an exception inside the simulator comes back as itself, and the session goes on
        with pytest.raises(ValueError, match="observation size 4"):
            sim.call(score_population, functools.partial(make_env, "CartPole-v1", PENDULUM), probs, **kw)
        got = sim.call(score_population, env, probs, **kw)
    assert np.ptp(want.fitness) > 0, "members with equal fitness prove nothing"
    np.testing.assert_array_equal(got.fitness, want.fitness)
    np.testing.assert_array_equal(got.episodes, want.episodes)
    np.testing.assert_array_equal(got.final_obs, want.final_obs)
    assert (got.horizon, got.reruns) == (want.horizon, want.reruns)
    assert got.timer.env_steps == want.timer.env_steps >= 5 * 15


def test_training_through_the_rtl_equals_jax():
    """3 generations of EC, population 6, every member scored on the RTL: the same fitness at every
    generation and the same final probabilities as scoring on the JAX model."""
    kw = dict(generations=3, population=6, seed=2, max_steps=8)
    want = train_core(LocalRunner(JaxCore(PENDULUM)), "Pendulum-v1", PENDULUM, **kw)
    with RtlSession(PENDULUM, lanes=8) as sim:
        got = train_core(sim, "Pendulum-v1", PENDULUM, **kw)
        assert sim.calls == 3  # one simulator session, one call per generation
    fit_want = np.array([r["train/fitness"] for r in want.rows])
    assert fit_want.shape == (3, 6) and np.ptp(fit_want, axis=1).min() > 0
    np.testing.assert_array_equal(np.array([r["train/fitness"] for r in got.rows]), fit_want)
    for k in PENDULUM.mask_shapes:
        np.testing.assert_array_equal(got.rho[k], want.rho[k], err_msg=k)
    assert not np.all(want.rho["mask_h"] == 0.5), "EC did not move the probabilities"
    np.testing.assert_array_equal(got.normalizer.mean, want.normalizer.mean)


def test_cli_rollout_and_train_on_rtl(tmp_path, capsys):
    art = make_artifact(tmp_path / "art", spec=PENDULUM, env="Pendulum-v1", seed=1)
    rec = tmp_path / "rtl.jsonl"
    args = ["rollout", "--artifact", str(art), "--episodes", "2", "--max-steps", "12", "--seed", "5", "--json"]
    assert main([*args, "--backend", "rtl", "--lanes", "16", "--record", str(rec), "--report"]) == 0
    rtl = json.loads(capsys.readouterr().out)
    assert main([*args, "--backend", "fake", "--lanes", "16"]) == 0
    fake = json.loads(capsys.readouterr().out)
    assert main([*args, "--backend", "replay", "--replay", str(rec)]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert rtl["returns"] == fake["returns"] == replay["returns"] and len(rtl["returns"]) == 2
    assert rtl["report"]["env_steps"] == 24 and rtl["report"]["lanes"] == 16
    assert json.loads(rec.read_text().splitlines()[0])["backend"] == "rtl"
    # evoconn train --backend rtl (K = 33): the same fitness rows as train-core on the in-memory core;
    # the run's artifact rolls out
    common = ["--neurons", "16", "--population", "3", "--generations", "2", "--seed", "1"]
    run = tmp_path / "run"
    assert main(["train", "--backend", "rtl", "--gym-env", "Pendulum-v1", *common, "--episode-len", "6",
                 "--out", str(run)]) == 0
    rows_rtl = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert main(["train-core", "--backend", "fake", "--env", "Pendulum-v1", *common, "--max-steps", "6",
                 "--json"]) == 0
    rows_fake = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows_rtl) == 2 and np.ptp([r["train/fitness"] for r in rows_rtl]) > 0
    np.testing.assert_array_equal([r["train/fitness"] for r in rows_rtl], [r["train/fitness"] for r in rows_fake])
    assert main(["rollout", "--artifact", str(run / "best"), "--backend", "rtl", "--episodes", "1",
                 "--max-steps", "5"]) == 0
    assert "1 episodes on Pendulum-v1 (rtl)" in capsys.readouterr().out

