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


def test_ones_case_input_current_in_the_reference_is_nonzero():
    """The same through the reference the rtl tier compares with (:func:`expected_trace`, the JAX
    model's I_in in the state read-back): at every env step every neuron gets the same non-zero
    I_in, the saturated sum of the even inputs."""
    from evoconn.sim.cases import expected_trace

    for spec, lanes in ((Spec(n_neurons=16, obs_dim=5, act_dim=2, substeps=6), 4), (Spec(), 16)):
        case = expected_trace(spec, lanes, make_case(spec, 0, KINDS.index("ones"), 3))
        i_in = case.state[:, :, 3]  # (steps, N), STATE_FIELDS order: v, isyn, rate, i_in
        assert (i_in != 0).all(), "the ones case's reference I_in is 0 somewhere"
        want = np.clip(case.xq[:, 0::2].astype(np.int64).sum(axis=1), *spec.state_limits())
        np.testing.assert_array_equal(i_in, np.repeat(want[:, None], spec.n_neurons, axis=1))
        assert case.spikes.any(), "the ones case never spiked"
