"""The rtl tier's case plan (no simulator): the directed cases exercise what they are named for."""

from __future__ import annotations

import numpy as np

from evoconn.sim.cases import KINDS, make_case
from evoconn.spec import Spec


def test_ones_case_drives_the_input_path():
    """All of MASK_H and MASK_OUT set, MASK_IN set but for the -x rows of the even inputs: I_in is the
    sum of the even inputs for every neuron, non-zero and varying (it was exactly 0 when all of
    MASK_IN was set, since the +x and -x coefficients cancelled)."""
    for spec in (Spec(n_neurons=16, obs_dim=5, act_dim=2, substeps=6), Spec()):
        case = make_case(spec, 0, KINDS.index("ones"), 6)
        d = spec.obs_dim
        assert case.kind == "ones" and case.mask_h.all() and case.mask_out.all()
        coef = case.mask_in[:d].astype(np.int64) - case.mask_in[d:].astype(np.int64)
        assert (coef == np.where(np.arange(d) % 2 == 0, 1, 0)[:, None]).all()
        i_in = np.clip(case.xq.astype(np.int64) @ coef, *spec.state_limits())
        assert (i_in != 0).any(axis=1).all(), "an env step with I_in = 0"
        assert len(set(i_in[:, 0].tolist())) > 1
