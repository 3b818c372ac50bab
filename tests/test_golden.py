"""The float model reproduces the paper's own ConnSNN, env step by env step (golden vectors)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoconn.spec import Spec
from evoconn.training.models import FloatParams, FloatState, float_env_step

from .conftest import GOLDEN

CASES = [c["file"] for c in json.loads((GOLDEN / "cases.json").read_text()) if c["file"].startswith("connsnn")]


def test_golden_vectors_are_present():
    assert CASES == ["connsnn_hopper_n256.npz", "connsnn_walker_n256.npz", "connsnn_small_n64.npz"], CASES
    assert all((GOLDEN / f).is_file() for f in CASES)


@pytest.mark.parametrize("fname", CASES)
def test_float_model_matches_official_connsnn(fname):
    g = np.load(GOLDEN / fname)
    n, d, a, k = (int(g[x]) for x in ("N", "d", "a", "K"))
    spec = Spec(n_neurons=n, obs_dim=d, act_dim=a, substeps=k)
    params = FloatParams.paper(spec)
    masks = (g["mask_in"], g["mask_h"], g["mask_out"])
    step = jax.jit(lambda st, x: float_env_step(spec, params, masks, st, x))
    T = g["obs"].shape[0]
    flips = []
    for t in range(T):
        # From the recorded `before` state, so a threshold flip cannot spread (README's rule).
        before = FloatState(*(jnp.asarray(g[f"{key}_before"][t]) for key in ("v", "isyn", "rate", "spike")))
        after, out = step(before, g["obs"][t])
        spike = np.asarray(after.spike)
        flipped = np.flatnonzero(spike != g["spike_after"][t])
        if flipped.size:
            flips.append((t, flipped.tolist()))
            continue  # a flipped neuron changes its v and rate by design; report rather than hide
        np.testing.assert_allclose(np.asarray(after.v), g["v_after"][t], atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(after.isyn), g["isyn_after"][t], atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(after.rate), g["rate_after"][t], atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(out), g["output"][t], atol=2e-5, rtol=1e-5)
    assert not flips, f"spikes that differ from the official code (env step, neurons): {flips}"
