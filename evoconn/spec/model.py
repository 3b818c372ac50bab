"""A vectorized numpy model (batch of networks), equal to the oracle bit for bit: the fake bus's
backing model on the board."""

from __future__ import annotations

import numpy as np

from evoconn.spec.arith import decay, gain, sat
from evoconn.spec.sizes import Spec


def numpy_env_step(
    spec: Spec, masks: dict[str, np.ndarray], state: dict[str, np.ndarray], xq: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One env step for a batch of B networks, in int64 numpy, equal to the oracle bit for bit.

    ``masks`` hold (B, ...) bool arrays, ``state`` holds (B, N) arrays ``v, isyn, rate, spike``,
    ``xq`` is (B, d). Returns ``(new_state, out (B, a) int64, spikes per sub-step (B, K))``.
    """
    d = spec.obs_dim
    W, RW = spec.state_width, spec.rate_width
    sgn = spec.sign().astype(np.int64)
    m_in = np.asarray(masks["mask_in"]).astype(np.int64)
    coef = m_in[:, :d, :] - m_in[:, d:, :]
    m_h = np.asarray(masks["mask_h"]).astype(np.int64)
    m_out = np.asarray(masks["mask_out"]).astype(np.int64)
    xq = np.asarray(xq, dtype=np.int64)
    i_in = sat(np.einsum("bi,bij->bj", xq, coef), W)
    v = np.asarray(state["v"], dtype=np.int64).copy()
    isyn = np.asarray(state["isyn"], dtype=np.int64).copy()
    rate = np.asarray(state["rate"], dtype=np.int64).copy()
    spike = np.asarray(state["spike"], dtype=np.int64).copy()
    fired = []
    for _ in range(spec.substeps):
        count = np.einsum("bi,bij->bj", spike * sgn, m_h)
        isyn = sat(decay(isyn, spec.syn_leak) + (count << spec.rec_shift), W)
        u = sat(isyn + i_in, W)
        v = sat(v + gain(u - v, spec.mem_leak), W)
        spike = (v > spec.threshold).astype(np.int64)
        v = np.where(spike == 1, 0, v)
        rate = sat(rate + gain(sgn * spike * spec.rate_target - rate, spec.out_leak), RW)
        fired.append(spike.sum(axis=1))
    out = np.einsum("bj,bjk->bk", rate, m_out)
    new = {"v": v, "isyn": isyn, "rate": rate, "spike": spike.astype(np.int8)}
    return new, out, np.stack(fired, axis=1)

