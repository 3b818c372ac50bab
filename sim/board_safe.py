"""Jobs for :class:`evoconn.host.rtl.RtlSession` that exercise the board-safe bus on the RTL.

They run inside the simulator with the host's own :class:`~evoconn.host.core.RegisterCore` as
their first argument (see :mod:`evoconn.sim.host_bridge`), on a core built with
``fault='hang'`` (:data:`evoconn.hw.core.FAULTS`): an env step whose observation word 0 is
``-2**(obs_width-1)`` never finishes. Imports numpy and the host only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evoconn.host.core import CoreTimeout
from evoconn.spec import Control, Status

__all__ = ["hang_abort_then_episode", "hang_observation"]


def hang_observation(spec: Any) -> np.ndarray:
    """The observation that makes a ``fault='hang'`` core never finish (word 0 at its minimum)."""
    xq = np.zeros(spec.obs_dim, np.int64)
    xq[0] = spec.obs_limits()[0]
    return xq


def hang_abort_then_episode(core: Any, masks: dict[str, np.ndarray], xq_seq: np.ndarray,
                            v0: np.ndarray) -> dict[str, Any]:
    """Load ``masks``; step the hanging observation (RegisterCore times out and aborts); START a
    normal step and ABORT it a few cycles in, in the middle of its input phase; then run
    ``xq_seq`` from ``v0``. Returns what each stage saw and the episode's outputs and state."""
    core.load_masks(masks)
    core.reset_state()
    seen: dict[str, Any] = {}
    try:
        core.step(hang_observation(core.spec))
    except CoreTimeout as e:
        seen["timeout"] = {"message": str(e), "status": e.status, "cycles": e.cycles, "aborted": e.aborted}
    else:
        seen["timeout"] = None
    seen["status_after_timeout"] = int(core.status())
    # an abort in the middle of a step, by hand: START, then ABORT as the next transaction
    core.reset_state(v0)
    core.bus.write_block(core.rmap["OBS"].offset, np.asarray(xq_seq[0], np.int64) & 0xFFFFFFFF)
    core.bus.write(core.rmap["CONTROL"].offset, int(Control.START))
    seen["status_started"] = int(core.status())
    core.bus.write(core.rmap["CONTROL"].offset, int(Control.ABORT))
    seen["status_after_abort"] = int(core.status())
    seen["cycles_after_abort"] = int(core.bus.read(core.rmap["CYCLES"].offset))
    # the next episode, from v0
    core.reset_state(v0)
    out = core.run(xq_seq)
    state = core.read_state()
    seen["final_status"] = int(state["status"])
    return {"seen": seen, "out": out, "state": {k: state[k] for k in ("v", "isyn", "rate", "i_in", "spike")},
            "busy_bit": int(Status.BUSY)}
