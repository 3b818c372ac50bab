"""The hub's command line: `evoconn spec`, and user errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

from evoconn.cli import main
from evoconn.spec import Spec


def test_spec_prints_hash_and_map(capsys):
    assert main(["spec"]) == 0
    out = capsys.readouterr().out
    assert Spec().hash in out and "MASK_H" in out and "cycles per env step" in out


def test_spec_json_is_machine_readable(capsys):
    assert main(["spec", "--neurons", "64", "--obs-dim", "5", "--act-dim", "2", "--lanes", "8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["hash"] == Spec(n_neurons=64, obs_dim=5, act_dim=2).hash
    assert {r["name"] for r in d["registers"]} >= {"ID", "SPEC_HASH", "STATUS", "MASK_IN", "OUT"}


def test_bad_sizes_give_one_line_and_exit_2(capsys):
    assert main(["spec", "--neurons", "4"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "evoconn spec: error: n_neurons must be at least 8, got 4"
    assert main(["spec", "--neurons", "64", "--lanes", "3"]) == 2
    assert "lanes=3 must be at least 1 and divide n_neurons=64" in capsys.readouterr().err


def test_console_script_runs_as_a_module():
    res = subprocess.run([sys.executable, "-m", "evoconn.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "spec" in res.stdout


def test_bench_without_a_checkout_gives_one_line_and_exit_2(capsys, monkeypatch, tmp_path):
    import evoconn.cli_spec

    monkeypatch.setattr(evoconn.cli_spec, "bench_dir", lambda: tmp_path / "bench")  # as from a wheel
    assert main(["bench", "model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("evoconn bench: error: the benchmarks are scripts of a source")
    assert str(tmp_path / "bench" / "bench_model.py") in err
