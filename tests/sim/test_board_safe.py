"""The rtl tier, board-safe bus: on a core that never finishes (``fault='hang'``), the host's own
RegisterCore times out with STATUS and CYCLES in its message, aborts, and the next episode equals
the JAX model bit for bit; an ABORT in the middle of a step leaves nothing behind either."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evoconn.spec import CycleModel, Spec, Status

from ..conftest import ICARUS_RTL

pytest.importorskip("jax")
pytest.importorskip("cocotb")
from evoconn.host.jax_core import JaxCore
from evoconn.host.rtl import RtlSession
from evoconn.sim.board_safe import hang_abort_then_episode, hang_observation

pytestmark = ICARUS_RTL

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4)
LANES = 4


def test_hung_core_times_out_aborts_and_the_next_episode_is_exact():
    rng = np.random.default_rng(5)
    masks = {k: rng.random(s) < 0.4 for k, s in SPEC.mask_shapes.items()}
    lo, hi = SPEC.obs_limits()
    xq_seq = rng.integers(lo + 1, hi + 1, (8, SPEC.obs_dim))  # never the hanging observation
    v0 = rng.integers(0, SPEC.threshold, SPEC.n_neurons)
    assert not (xq_seq[:, 0] == hang_observation(SPEC)[0]).any()

    with RtlSession(SPEC, LANES, fault="hang", timeout=2.0) as sim:
        got = sim.call(hang_abort_then_episode, masks, xq_seq, v0)
    seen = got["seen"]

    # the timeout: STATUS and CYCLES in the message, then ABORT left the core idle
    t = seen["timeout"]
    assert t is not None, "the hanging step finished: the fault did not take"
    m = re.search(r"STATUS = BUSY\|LOADED \(0x9\), CYCLES = (\d+)\. Aborted \(CONTROL\.ABORT\)", t["message"])
    assert m, t["message"]
    # the hang holds the last state, CYCLES counting: past the whole step's cycle count
    full = CycleModel(SPEC, LANES).env_step_cycles(0, [0] * SPEC.substeps)
    assert int(m.group(1)) == t["cycles"] > full, (t["cycles"], full)
    assert t["aborted"] and t["status"] == Status.BUSY | Status.LOADED
    assert seen["status_after_timeout"] == Status.LOADED | Status.ABORTED
    # START then ABORT by hand, a few cycles into the input phase
    assert seen["status_started"] & Status.BUSY
    assert seen["status_after_abort"] == Status.LOADED | Status.ABORTED
    assert 0 < seen["cycles_after_abort"] < full
    # the next episode equals the JAX model, outputs and final state
    ref = JaxCore(SPEC)
    ref.load_masks(masks)
    ref.reset_state(v0)
    assert_array_equal(got["out"], ref.run(xq_seq))
    want = ref.read_state()
    for k in ("v", "isyn", "rate", "i_in", "spike"):
        assert_array_equal(np.asarray(got["state"][k]), np.asarray(want[k]), err_msg=k)
    assert seen["final_status"] == Status.LOADED | Status.DONE
