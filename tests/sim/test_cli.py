"""``evoconn sim verify`` prints a summary and exits 0 on a pass, 1 on a mismatch."""

from __future__ import annotations

from evoconn.cli import main

from ..conftest import ICARUS_RTL

pytestmark = ICARUS_RTL

SMALL = ["--neurons", "8", "--obs-dim", "2", "--act-dim", "1", "--substeps", "4", "--lanes", "2"]


def test_sim_verify_cli(capsys):
    rc = main(["sim", "verify", *SMALL, "--cases", "2", "--steps", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASS  icarus" in out and "cases 2, env steps 6" in out and "mismatches 0" in out
    assert "cycles/s" in out


def test_sim_verify_cli_replays_one_case_with_waves(capsys):
    rc = main(["sim", "verify", *SMALL, "--cases", "6", "--steps", "2", "--case", "4", "--waves",
               "--fault", "leak_shift"])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "FAIL" in out and "case 4 (saturate" in out and "waves: " in out


def test_sim_verify_cli_rejects_bad_case(capsys):
    assert main(["sim", "verify", *SMALL, "--cases", "2", "--case", "2"]) == 2
    assert "--case must lie in" in capsys.readouterr().err


def test_sim_verify_cli_reset_runs_its_own_case_count(capsys):
    """``--reset`` runs one case before the first reset and one after each: any other --cases, a
    --case or --protocol is refused before anything is built."""
    for extra in (["--cases", "3"], ["--case", "1"], ["--protocol"]):
        assert main(["sim", "verify", *SMALL, "--reset", *extra]) == 2, extra
        assert "--reset runs" in capsys.readouterr().err


def test_sim_verify_gate_without_yosys_is_one_line(capsys, monkeypatch):
    """``--gate ecp5`` needs Yosys: without it (here: a command that does not exist) the run stops
    before any work with one line on stderr and exit code 2."""
    monkeypatch.setenv("EVOCONN_YOSYS", "/nonexistent/yosys")
    assert main(["sim", "verify", *SMALL, "--gate", "ecp5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evoconn sim: error:" in err and "/nonexistent/yosys" in err
