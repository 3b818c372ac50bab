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


def test_a_user_error_raised_by_a_subcommand_is_one_line_under_python_m():
    """`python -m evoconn.cli` runs the file as __main__, a second copy of the module; an error the
    subcommand raises (evoconn.cli.CLIError) must still be caught: one line, exit code 2."""
    res = subprocess.run([sys.executable, "-m", "evoconn.cli", "train", "--config", "hopper-quick"],
                         capture_output=True, text=True)
    assert (res.returncode, res.stderr) == (2, "evoconn train: error: --out is required (or --resume RUN)\n")


def test_each_command_help_is_the_hub_table_line():
    """The one-line help is written once (COMMANDS); each area's register() uses it."""
    from evoconn.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, (_, line) in COMMANDS.items():
        assert helps[name] == line or helps[name].startswith(f"{line} [unavailable: "), name


def test_lanes_defaults_are_the_specs(capsys):
    from evoconn.cli import build_parser
    from evoconn.spec import DEFAULT_LANES

    parser = build_parser()
    for argv in (["hw", "verilog"], ["hw", "synth"], ["hw", "bitstream", "--target", "ecp5"], ["hw", "ip"],
                 ["sim", "verify"], ["spec"]):
        assert parser.parse_args(argv).lanes == DEFAULT_LANES, argv
    # the host's cores take N from an artifact or --neurons: no --lanes means DEFAULT_LANES where it
    # divides N, else the largest power of two below it that does (never a value the spec refuses)
    from evoconn.host.backends import core_lanes
    from evoconn.spec import Spec

    for argv in (["rollout", "--artifact", "x"], ["train-core"]):
        assert parser.parse_args(argv).lanes is None, argv
    assert core_lanes(Spec(n_neurons=256), None) == DEFAULT_LANES
    assert core_lanes(Spec(n_neurons=8), None) == 8


def test_bench_needs_a_checkout(tmp_path, monkeypatch, capsys):
    import evoconn.cli_spec as cli_spec

    assert cli_spec.bench_script("model").name == "bench_model.py"  # this checkout's bench/
    # an installed wheel: the package lies in site-packages, with no bench/ beside it
    monkeypatch.setattr(cli_spec, "__file__", str(tmp_path / "site-packages" / "evoconn" / "cli_spec.py"))
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "model"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "from a source checkout" in err and "installed wheel" in err
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench_model.py").write_text("print('ran')\n")
    assert main(["bench", "model"]) == 0  # a checkout's bench/ in the current folder
    assert capsys.readouterr().out.strip() == "ran"
