"""The scalar oracle: one env step of one network with plain Python ints, slow and obviously right."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from evoconn.spec.arith import decay, gain, sat
from evoconn.spec.sizes import Spec


@dataclasses.dataclass
class State:
    """Neuron state of one network, carried across env steps (and episode resets).

    ``v``, ``isyn``, ``rate`` are signed ints in state / rate units; ``spike`` is the 0/1 spike of
    the last sub-step (its sign follows from Dale's law).
    """

    v: list[int]
    isyn: list[int]
    rate: list[int]
    spike: list[int]

    def copy(self) -> State:
        return State(list(self.v), list(self.isyn), list(self.rate), list(self.spike))

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "v": np.asarray(self.v, dtype=np.int32),
            "isyn": np.asarray(self.isyn, dtype=np.int32),
            "rate": np.asarray(self.rate, dtype=np.int32),
            "spike": np.asarray(self.spike, dtype=np.int8),
        }


def oracle_init_state(spec: Spec, v0: Sequence[int] | None = None) -> State:
    """Zero state, or zero state with membrane ``v0``."""
    n = spec.n_neurons
    v = [0] * n if v0 is None else [int(x) for x in v0]
    if len(v) != n:
        raise ValueError(f"v0 must have {n} entries, got {len(v)}")
    return State(v=v, isyn=[0] * n, rate=[0] * n, spike=[0] * n)


def oracle_env_step(
    spec: Spec,
    masks: dict[str, Any],
    state: State,
    xq: Sequence[int],
    spikes_per_substep: list[int] | None = None,
) -> tuple[State, list[int]]:
    """One env step of one network, with plain Python ints: slow and obviously right.

    Returns the new state and the ``a`` output sums. If ``spikes_per_substep`` is a list, the
    number of neurons that fired in each sub-step is appended to it (for the cycle model).
    """
    n, d, a = spec.n_neurons, spec.obs_dim, spec.act_dim
    m_in = [[bool(b) for b in row] for row in np.asarray(masks["mask_in"]).tolist()]
    m_h = [[bool(b) for b in row] for row in np.asarray(masks["mask_h"]).tolist()]
    m_out = [[bool(b) for b in row] for row in np.asarray(masks["mask_out"]).tolist()]
    xq = [int(x) for x in xq]
    lo, hi = spec.obs_limits()
    if len(xq) != d or any(not lo <= x <= hi for x in xq):
        raise ValueError(f"xq must be {d} ints in [{lo}, {hi}], got {xq}")
    sgn = [1 if j < spec.n_exc else -1 for j in range(n)]
    W, RW = spec.state_width, spec.rate_width
    s = state.copy()

    i_in = []
    for j in range(n):
        acc = 0
        for i in range(d):
            acc += xq[i] * (int(m_in[i][j]) - int(m_in[d + i][j]))
        i_in.append(sat(acc, W))

    for _ in range(spec.substeps):
        count = [0] * n
        for i in range(n):
            if s.spike[i]:
                for j in range(n):
                    if m_h[i][j]:
                        count[j] += sgn[i]
        fired = 0
        for j in range(n):
            s.isyn[j] = sat(decay(s.isyn[j], spec.syn_leak) + (count[j] << spec.rec_shift), W)
            u = sat(s.isyn[j] + i_in[j], W)
            v = sat(s.v[j] + gain(u - s.v[j], spec.mem_leak), W)
            z = 1 if v > spec.threshold else 0
            s.v[j] = 0 if z else v
            s.spike[j] = z
            fired += z
            target = sgn[j] * z * spec.rate_target
            s.rate[j] = sat(s.rate[j] + gain(target - s.rate[j], spec.out_leak), RW)
        if spikes_per_substep is not None:
            spikes_per_substep.append(fired)

    out = []
    for k in range(a):
        out.append(sum(s.rate[j] for j in range(n) if m_out[j][k]))
    return s, out

