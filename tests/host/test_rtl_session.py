"""RtlSession's failure paths, without a simulator: a build that fails and a simulator that ends
before its core answers are reported with what happened, never a hang."""

from __future__ import annotations

import pytest

from evoconn.host.core import CoreError
from evoconn.spec import Spec

pytest.importorskip("cocotb")
pytest.importorskip("amaranth")
from evoconn.host import rtl
from evoconn.sim import runner

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)


@pytest.fixture
def no_iverilog_check(monkeypatch):
    monkeypatch.setattr(rtl, "check_sim_available", lambda sim="icarus": None)


def test_build_failure_is_reported(monkeypatch, no_iverilog_check):
    def broken(*a, **kw):
        raise RuntimeError("iverilog: syntax error in evoconn_core.v")

    monkeypatch.setattr(runner, "run_cocotb", broken)
    with pytest.raises(CoreError, match=r"ended before the core answered.*\n.*RuntimeError: iverilog: syntax error"):
        rtl.RtlSession(SPEC, lanes=4, start_timeout=30).start()


def test_simulator_that_never_connects(monkeypatch, no_iverilog_check, tmp_path):
    seen = {}

    def silent(spec, lanes, **kw):  # the simulator ran, its test failed before connecting
        seen.update(kw)
        kw["log_file"].write_text("cocotb: host_session FAIL\nAttributeError: no attribute 'bridge'\n")
        return runner.RunResult(False, tmp_path, tmp_path / "r.xml", None, 0.0, 0.0)

    monkeypatch.setattr(runner, "run_cocotb", silent)
    with pytest.raises(CoreError, match=r"(?s)lanes 4, icarus.*last lines of .*no attribute 'bridge'"):
        rtl.RtlSession(SPEC, lanes=4, start_timeout=30).start()
    assert seen["test_module"] == "evoconn.sim.host_bridge" and seen["testcase"] == "host_session"
    assert "EVOCONN_HOST_SESSION" in seen["extra_env"]


def test_call_outside_a_session():
    with pytest.raises(CoreError, match="outside a started session"):
        rtl.RtlSession(SPEC, lanes=4).call(rtl.rtl_trace)
