"""One recorded episode through every backend gives identical integer outputs at every step."""

from __future__ import annotations

import numpy as np
import pytest

from evoconn.host.bus import FakeBus, RecordingBus, ReplayBus, ReplayMismatch
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec

from ..conftest import random_masks, random_xq

pytest.importorskip("jax")
from evoconn.host.jax_core import JaxCore

SPECS = [
    Spec(n_neurons=8, obs_dim=3, act_dim=1, substeps=33),
    Spec(n_neurons=16, obs_dim=5, act_dim=3, substeps=33),
    Spec(n_neurons=64, obs_dim=11, act_dim=3, substeps=33),
    Spec(n_neurons=256, obs_dim=17, act_dim=5, substeps=33),
]


def episode(spec: Spec, seed: int, steps: int = 16):
    """Masks, v0 and observations (clipping limits mixed in), with a reset at steps // 2."""
    rng = np.random.default_rng(seed)
    masks = random_masks(spec, rng, density=0.5)
    xs = random_xq(spec, rng, batch=(steps,), extreme=True)
    v0 = [rng.integers(0, spec.threshold, spec.n_neurons) for _ in range(2)]
    return masks, xs, v0


def play(core, masks, xs, v0, reset_at=None) -> tuple[np.ndarray, dict]:
    core.load_masks(masks)
    core.reset_state(v0[0])
    outs = []
    for t, x in enumerate(xs):
        if t == (len(xs) // 2 if reset_at is None else reset_at):
            core.reset_state(v0[1])
        outs.append(core.step(x))
    return np.stack(outs), core.read_state()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"N{s.n_neurons}-d{s.obs_dim}-a{s.act_dim}")
def test_jax_and_fake_bus_agree(spec, tmp_path):
    masks, xs, v0 = episode(spec, seed=spec.n_neurons)
    want, st_j = play(JaxCore(spec), masks, xs, v0)
    path = tmp_path / "bus.jsonl"
    with RecordingBus(FakeBus(spec), path, spec_hash=spec.hash) as bus:
        got, st_f = play(RegisterCore(bus, spec), masks, xs, v0)
    np.testing.assert_array_equal(got, want)
    assert np.abs(want).max() > 0, "a silent network proves nothing"
    for k in ("v", "isyn", "rate", "i_in", "spike"):
        np.testing.assert_array_equal(st_f[k], st_j[k], err_msg=k)
    assert st_f["spikes"] == st_j["spikes"]
    # the recorded bus session replays to the same outputs, transaction for transaction
    replay = ReplayBus(path)
    again, _ = play(RegisterCore(replay, spec), masks, xs, v0)
    replay.done()
    np.testing.assert_array_equal(again, want)


def test_replay_names_the_first_differing_transaction(tmp_path):
    spec = SPECS[1]
    masks, xs, v0 = episode(spec, seed=3, steps=4)
    path = tmp_path / "bus.jsonl"
    with RecordingBus(FakeBus(spec), path) as bus:
        play(RegisterCore(bus, spec), masks, xs, v0)
    xs2 = xs.copy()
    xs2[2, 1] += 1
    replay = ReplayBus(path)
    core = RegisterCore(replay, spec)
    with pytest.raises(ReplayMismatch, match=r"transaction \d+ differs: recorded write_block\(0x"):
        play(core, masks, xs2, v0)
    first_bad = replay.pos
    # every transaction before it matched: the mismatch is the OBS write of step 2
    assert replay.log[first_bad]["addr"] == FakeBus(spec).rmap.windows["OBS"].offset
    replay2 = ReplayBus(path)
    core2 = RegisterCore(replay2, spec)
    core2.load_masks(masks)
    core2.reset_state(v0[0])
    core2.step(xs[0])
    with pytest.raises(ReplayMismatch, match="replay stopped at transaction"):
        replay2.done()
