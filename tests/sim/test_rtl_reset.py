"""The rtl tier: the synchronous reset of the exported core, asserted in the middle of its work.

:mod:`evoconn.sim.tb_reset` drives the top's ``rst`` during an env step (early and late) and during
half-taken AXI4-Lite writes (AW held, W held, B pending) and reads (AR taken, R pending), then
checks the documented reset state (every readable register at its reset value, the AXI target
idle, the memories kept) and that the next episode, after the host's RESET_STATE and mask reload,
equals the JAX model exactly. The Amaranth-simulator version of these checks is tests/hw/test_reset.py.
"""

from __future__ import annotations

import pytest

from evoconn.sim.cases import INTERRUPTIONS, expected_compared, make_cases
from evoconn.sim.verify import verify
from evoconn.spec import Access, RegisterMap, Spec, Status

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

#: long enough an env step for the early and late interruptions; its own build folder (n_exc, K)
SPEC = Spec(n_neurons=16, obs_dim=5, act_dim=2, n_exc=12, substeps=12)
LANES = 4
STEPS = 3
CASES = len(INTERRUPTIONS) + 1


def _reset_checks(spec: Spec, lanes: int) -> int:
    """Integers the reset-state checks compare: 5 AXI ports, the readable registers, every mask word,
    and the STATE window where the core was idle (the AXI interruptions)."""
    rmap = RegisterMap(spec, lanes)
    regs = sum(r.access is not Access.WO for r in rmap.registers.values())
    masks = (spec.n_inputs + spec.n_neurons + spec.act_dim) * spec.row_words
    idle = sum(not k.startswith("step_") for k in INTERRUPTIONS)
    return len(INTERRUPTIONS) * (5 + regs + masks) + idle * 4 * spec.n_neurons


def test_reset_mid_step_and_mid_transaction():
    rep = verify(SPEC, LANES, cases=CASES, steps=STEPS, seed=0, state_every=1, reset=True)
    print(rep.text())
    assert rep.passed, rep.text() + f"\n{rep.failed}"
    assert rep.mismatches == []
    assert (rep.cases, rep.steps) == (CASES, CASES * STEPS), "an episode after a reset was cut short"
    want = expected_compared(SPEC, make_cases(SPEC, 0, CASES, STEPS, 1)) + _reset_checks(SPEC, LANES)
    assert rep.compared == want, f"compared {rep.compared} integers, the plan has {want}"


@pytest.mark.parametrize("fault", ["loaded_survives_rst", "axil_reset_less"])
def test_a_register_that_survives_rst_is_caught(fault):
    """The test can fail: LOADED kept over ``rst`` (STATUS reads LOADED), or the AXI target out of
    ``rst`` (its held AW kept: the next write's data would go to the interrupted write's address)."""
    rep = verify(SPEC, LANES, cases=CASES, steps=STEPS, seed=0, state_every=1, reset=True, fault=fault)
    print(rep.text(), rep.failed)
    assert not rep.passed and rep.mismatches, f"fault {fault!r} passed the reset test"
    assert set(rep.failed) == {"test_reset"}
    first = rep.mismatches[0]
    if fault == "loaded_survives_rst":  # at the first reset, in the middle of an env step
        assert (first["what"], first["expected"], first["actual"]) == ("STATUS after rst (step_early)", 0,
                                                                         int(Status.LOADED)), first
    else:  # at the first reset with a write's address held: AW is still held (not ready)
        assert (first["what"], first["expected"], first["actual"]) == ("awready after rst (write_aw_held)", 1, 0), \
            first
