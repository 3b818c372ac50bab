"""The AXI4-Lite target, proved with SymbiYosys (:mod:`evoconn.hw.formal`), and the proof able to fail.

The correct target: k-induction PASS (every assertion holds in every reachable state, any
backpressure, any register-file latency) and every cover reached (the assumptions leave the
traces that matter: writes and reads answered after backpressure, W before AW, a second write held
behind a waiting B, SLVERR). Each deliberate fault of :data:`evoconn.hw.axil.FAULTS`: the proof
FAILs from reset with a counterexample trace, naming the property the bug breaks; where that is a
progress assertion, again with those left out, so the AXI rules and the accounting catch each bug
on their own.

About 20 s in all on the loaded 2-core machine (each sby run 2 to 5 s; the times are in the
docs/hardware.md section on the formal check).
"""

from __future__ import annotations

import pytest
from amaranth.back import rtlil

from evoconn.cli import main
from evoconn.hw import formal
from evoconn.hw.axil import FAULTS, AXI4LiteTarget
from evoconn.hw.toolchain import ToolError

pytestmark = pytest.mark.formal


@pytest.fixture(scope="module")
def tools():
    """Skips where sby, smtbmc or the solver is missing (a failure under EVOCONN_NO_SKIPS, as in CI)."""
    try:
        formal.find_tools()
    except ToolError as e:
        pytest.skip(str(e))

#: fault -> (the assertion it breaks first with every assertion, the one with the progress ones left out)
BREAKS = {
    "b_overwrite": ("a held write (AW and W) is offered to the register file exactly when no B waits",
                    "at most one register write waiting for its B"),
    "aw_overwrite": ("AWREADY exactly while no AW is held",
                     "at most one AW held (a second would overwrite it: a lost write)"),
    "r_twice": ("a register read only for an accepted AR", "a register read only for an accepted AR"),
    "rdata_live": ("RDATA is the word the register file answered that read with",
                   "RDATA is the word the register file answered that read with"),
}


def _assertions(progress: bool) -> set[str]:
    harness = formal.AXI4LiteHarness(15, progress=progress)
    rtlil.convert(harness, name="top")  # elaborates it: the properties are listed then
    return {msg for kind, msg in harness.properties if kind == "assert"}


#: the progress assertions (the ones ``progress=False`` leaves out)
PROGRESS = _assertions(True) - _assertions(False)


def test_the_target_is_proved_and_the_covers_are_reached(tools, tmp_path):
    res = formal.check(tmp_path)
    assert res.status == {"prove": "PASS", "cover": "PASS"}, (res.status, res.failed, res.folder)
    assert res.passed and res.failed == [] and res.traces == []
    assert sorted(res.reached) == sorted(formal.COVERS)
    assert res.counts == {"assert": 32, "assume": 7, "cover": len(formal.COVERS)}
    # sby itself says it proved by induction (not only a bounded check)
    assert "successful proof by k-induction" in (tmp_path / "axil_formal_prove" / "logfile.txt").read_text()


#: every fault with every assertion; and, where a progress assertion is the one it breaks first,
#: again without them (the others already name one of the AXI rules or the accounting)
RUNS = [(f, True) for f in sorted(BREAKS)] + [(f, False) for f in sorted(BREAKS) if BREAKS[f][0] in PROGRESS]


def test_every_fault_is_checked():
    assert set(BREAKS) == set(FAULTS)
    assert len(PROGRESS) == 5 and {m for pair in BREAKS.values() for m in pair} <= _assertions(True)
    assert {f for f, progress in RUNS if not progress} == {"aw_overwrite", "b_overwrite"}


@pytest.mark.parametrize(("fault", "progress"), RUNS, ids=[f"{f}-{'all' if p else 'no-progress'}" for f, p in RUNS])
def test_a_broken_target_fails_the_proof(tools, tmp_path, fault, progress):
    res = formal.check(tmp_path, fault=fault, progress=progress, tasks=("prove",))
    assert res.status == {"prove": "FAIL"}, (res.status, res.failed)
    assert BREAKS[fault][0 if progress else 1] in res.failed, res.failed
    if not progress:
        assert res.counts["assert"] == 32 - len(PROGRESS) and not set(res.failed) & PROGRESS
    assert res.traces and all(t.exists() and t.suffix == ".vcd" for t in res.traces)


def test_the_harness_refuses_an_unknown_fault():
    with pytest.raises(ValueError, match="fault must be None or one of"):
        AXI4LiteTarget(8, fault="nope")
    with pytest.raises(ValueError, match="tasks must be some of"):
        formal.check("unused", tasks=("bmc",))


def test_the_command_prints_pass_or_fail_and_the_trace(tools, tmp_path, capsys):
    assert main(["hw", "formal", "--out", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "PASS" and "prove: PASS" in out and "cover: PASS" in out, out
    assert main(["hw", "formal", "--out", str(tmp_path / "bad"), "--fault", "r_twice"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "FAIL" and "prove: FAIL" in out, out
    trace = next(ln.split(": ", 1)[1] for ln in out.splitlines() if "counterexample trace:" in ln)
    assert trace.endswith("trace.vcd") and (tmp_path / "bad" / "axil_formal_prove").exists()


def test_missing_tools_are_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(formal, "_which", lambda cmd: None)
    assert main(["hw", "formal", "--out", str(tmp_path)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "formal tools missing" in err[0] and "yices-smt2" in err[0], err
