"""The rtl tier catches every deliberate fault of the core (:data:`evoconn.hw.core.FAULTS`).

Each fault is a realistic one-line bug of one unit. Per fault, the rtl-tier check that should
catch it runs on the faulty core's exported Verilog under cocotb and must fail, in the cocotb test
named here and (for the model comparison) on the quantity named here. The table is recorded in
``bench/results/mutation.md`` ("RTL faults"); a test below checks that table names every fault.

Already covered elsewhere in the rtl tier: the LIF faults (``tests/sim/test_rtl.py``,
``test_broken_core_is_caught``), ``hang`` (``tests/sim/test_board_safe.py``) and the two that
survive the hardware reset (``tests/sim/test_rtl_reset.py``). Each fault is its
own netlist, so its own simulator build; the sizes are kept small (one build is a few seconds),
except ``spikes_wrap``, which needs an env step of more than 2**16 - 1 spikes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evoconn.hw.core import FAULTS
from evoconn.sim.cases import KINDS, expected_compared, make_cases
from evoconn.sim.verify import verify
from evoconn.spec import Spec

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

SMALL = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4)
#: the protocol test needs an env step long enough for its busy checks (as test_rtl's n16-allexc)
PROTO = Spec(n_neurons=16, obs_dim=5, act_dim=2, n_exc=16, substeps=12)
#: the saturate case's first env step fires 65800 spikes (N * K = 66400): SPIKES saturates at 65535
#: (wrapped, it would read 264); about 72,000 cycles, the fewest such a step can take (one REC cycle
#: per spike)
SATURATE = Spec(n_neurons=80, obs_dim=2, act_dim=1, n_exc=80, substeps=830)

#: the ``ones`` case: every neuron driven, half of them starting above threshold, so the first steps
#: spike and every rate reaches OUT (a random case of this size may not spike at all)
ONES = {"cases": len(KINDS), "steps": 2, "only": KINDS.index("ones")}

# fault: (spec, lanes, verify kwargs, the cocotb test that fails, what it finds)
# "what" is a quantity the scoreboard finds different for test_model, a regex of the assertion message for test_protocol
CAUGHT = {
    "substep_skipped": (SMALL, 4, {"cases": 1, "steps": 2}, "test_model", "CYCLES"),
    "input_row_skipped": (SMALL, 4, {"cases": 1, "steps": 2}, "test_model", "state"),
    "output_row_short": (SMALL, 4, ONES, "test_model", "out"),
    "cycles_off_by_one": (SMALL, 4, {"cases": 1, "steps": 2}, "test_model", "CYCLES"),
    "spikes_not_reset": (SMALL, 4, ONES, "test_model", "SPIKES"),
    "spikes_wrap": (SATURATE, 16, {"cases": len(KINDS), "steps": 1, "only": KINDS.index("saturate")},
                    "test_model", "SPIKES"),
    "err_addr_read": (PROTO, 4, {"cases": 1, "steps": 1, "protocol": True}, "test_protocol",
                      r"read of unmapped .*ERR_ADDR 0x0, expected"),
    "decode_alias": (PROTO, 4, {"cases": 1, "steps": 1, "protocol": True}, "test_protocol",
                     r"read of unmapped 0x4[0-9a-f]: a refused read answered"),
    "decode_ro_writable": (PROTO, 4, {"cases": 1, "steps": 1, "protocol": True}, "test_protocol",
                           r"write to read-only CYCLES: STATUS 0x0"),
}
#: caught by other rtl-tier tests (named in the table)
ELSEWHERE = {"leak_shift", "threshold", "dale", "hang", "loaded_survives_rst", "axil_reset_less"}


def test_every_fault_has_a_catcher():
    assert set(FAULTS) - {None} == set(CAUGHT) | ELSEWHERE


#: the saturating step takes minutes under Icarus (about 72,000 cycles at N = 80, all of them busy):
#: these two runs are also marked slow and long (bench/results/mutation.md has the times): `make test-long`
#: runs them; CI's `make test` leaves them out to stay within its time
SLOW = {"spikes_wrap"}


@pytest.mark.parametrize("fault", [pytest.param(f, marks=[pytest.mark.slow, pytest.mark.long]) if f in SLOW else f
                                   for f in CAUGHT])
def test_rtl_tier_catches_the_fault(fault):
    spec, lanes, kwargs, test, what = CAUGHT[fault]
    rep = verify(spec, lanes, seed=0, state_every=1, fault=fault, **kwargs)
    print(rep.text(), rep.failed)
    assert not rep.passed, f"fault {fault!r} passed the rtl tier"
    assert set(rep.failed) == {test}, f"expected {test} to fail, failed: {rep.failed}"
    if test == "test_model":
        assert what in {r["what"] for r in rep.mismatches}, rep.summary
        assert all(r["expected"] != r["actual"] for r in rep.mismatches)
        if fault == "spikes_wrap":  # everything else equal: the counter alone wrapped past 2**16 - 1
            assert [(r["what"], r["expected"], r["actual"]) for r in rep.mismatches] == [("SPIKES", 65535, 264)]
    else:
        assert re.search(what, rep.failed[test]), rep.failed[test]


@pytest.mark.slow
@pytest.mark.long
def test_saturating_spikes_on_the_correct_core():
    """The boundary ``spikes_wrap`` is caught on: the correct core's SPIKES stops at 2**16 - 1 on a
    step of 65800 spikes, equal to the reference (which saturates as the register does)."""
    spec, lanes, kwargs, _, _ = CAUGHT["spikes_wrap"]
    rep = verify(spec, lanes, seed=0, state_every=1, **kwargs)
    assert rep.passed, rep.text()
    assert rep.steps == 1 and rep.compared == expected_compared(
        spec, make_cases(spec, 0, kwargs["cases"], 1, 1, kwargs["only"]))


def test_the_table_names_every_fault():
    text = (Path(__file__).parents[2] / "bench" / "results" / "mutation.md").read_text()
    section = text[text.index("## RTL faults"):]
    for fault in sorted(set(FAULTS) - {None}):
        assert f"`{fault}`" in section, f"bench/results/mutation.md's RTL faults table lacks {fault}"
