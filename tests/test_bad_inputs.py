"""Every command refuses bad input the same way: exit 2, one line naming the option and its rule,
no traceback, and nothing written or changed (issue 16: a property of the CLI, not of each case).

Each case runs the real ``evoconn`` entry point in-process, in an empty working folder that holds
only the files the case plants; the folder's whole tree (names, sizes, modification times) must be
the same afterwards. Numeric options are also driven by hypothesis over the values their rule
refuses, boundaries included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoconn.cli import main


def _tree(root: Path) -> list[tuple[str, int, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st_ = p.lstat()
            out.append((str(p.relative_to(root)), st_.st_size if p.is_file() else -1, st_.st_mtime_ns))
    return sorted(out)


def refuse(argv: list[str], where: Path, capsys, *, mentions: str) -> str:
    """Run ``evoconn argv`` in ``where``; it must refuse as the CLI's contract says."""
    capsys.readouterr()
    before = _tree(where)
    cwd = os.getcwd()
    os.chdir(where)
    try:
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse exits from parse_args
            rc = e.code
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"evoconn {' '.join(argv)}: exit {rc}, stderr {err!r}"
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"evoconn {' '.join(argv)}: expected one line, got {lines!r}"
    assert mentions in lines[0], f"{lines[0]!r} does not name {mentions!r}"
    assert _tree(where) == before, f"evoconn {' '.join(argv)} changed the file system"
    return lines[0]


TINY = Path(__file__).resolve().parent / "host" / "data" / "rtl_n16_artifact"  # N = 16, Pendulum


@pytest.fixture
def tiny_artifact() -> Path:
    return TINY


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "a_file").write_text("not a folder\n")
    return tmp_path


# --- numeric options: each command, each rule ----------------------------------------------------

#: (argv before the option, option, a refused value, the rule's words). Chosen at the boundary.
NUMERIC = [
    (["spec"], "--neurons", "0", "at least 1"),
    (["spec"], "--neurons", "-3", "at least 1"),
    (["spec"], "--neurons", "ten", "an integer"),
    (["spec"], "--substeps", "0", "at least 1"),
    (["spec"], "--obs-dim", "0", "at least 1"),
    (["spec"], "--act-dim", "0", "at least 1"),
    (["spec"], "--exc", "-1", "at least 0"),
    (["spec"], "--lanes", "0", "at least 1"),
    (["hw", "verilog"], "--lanes", "0", "at least 1"),
    (["hw", "synth"], "--lanes", "-16", "at least 1"),
    (["hw", "bitstream", "--target", "ecp5"], "--clock-mhz", "-100", "above 0"),
    (["hw", "bitstream", "--target", "ecp5"], "--clock-mhz", "0", "above 0"),
    (["hw", "bitstream", "--target", "ecp5"], "--clock-mhz", "nan", "finite"),
    (["hw", "bitstream", "--target", "ecp5"], "--clock-mhz", "inf", "finite"),
    (["hw", "bitstream", "--board", "pynq-z2"], "--jobs", "0", "at least 1"),
    (["sim", "verify"], "--cases", "0", "at least 1"),
    (["sim", "verify"], "--steps", "0", "at least 1"),
    (["sim", "verify"], "--state-every", "0", "at least 1"),
    (["sim", "verify"], "--pauses", "1", "[0"),  # a pause probability of 1 never finishes
    (["sim", "verify"], "--pauses", "-0.1", "[0"),
    (["sim", "verify"], "--lanes", "0", "at least 1"),
    (["rollout", "--artifact", "x"], "--episodes", "0", "at least 1"),
    (["rollout", "--artifact", "x"], "--max-steps", "0", "at least 1"),
    (["rollout", "--artifact", "x"], "--population", "-1", "at least 0"),
    (["rollout", "--artifact", "x"], "--timeout", "0", "above 0"),
    (["rollout", "--artifact", "x"], "--timeout", "nan", "finite"),
    (["rollout", "--artifact", "x"], "--lanes", "0", "at least 1"),
    (["train-core"], "--population", "1", "at least 2"),
    (["train-core"], "--generations", "0", "at least 1"),
    (["train-core"], "--neurons", "0", "at least 1"),
    (["train-core"], "--max-steps", "0", "at least 1"),
    (["train-core"], "--lr", "0", "above 0"),
    (["train-core"], "--timeout", "-1", "above 0"),
    (["train", "--out", "r"], "--population", "1", "at least 2"),
    (["train", "--out", "r"], "--generations", "0", "at least 1"),
    (["train", "--out", "r"], "--episode-len", "0", "at least 1"),
    (["train", "--out", "r"], "--neurons", "0", "at least 1"),
    (["train", "--out", "r"], "--eval-copies", "-1", "at least 0"),
    (["train", "--out", "r"], "--checkpoint-every", "0", "at least 1"),
    (["train", "--out", "r"], "--lr", "0", "above 0"),
    (["train", "--out", "r"], "--lr", "nan", "finite"),
    (["train", "--out", "r"], "--sigma", "0", "above 0"),
    (["train", "--out", "r"], "--clip-eps", "0.5", "[0"),
    (["train", "--out", "r"], "--weight-decay", "-1", "at least 0"),
]


@pytest.mark.parametrize(("prefix", "option", "value", "rule"), NUMERIC,
                         ids=[f"{' '.join(p)} {o} {v}" for p, o, v, _ in NUMERIC])
def test_numeric_rules(prefix, option, value, rule, work, capsys):
    line = refuse([*prefix, option, value], work, capsys, mentions=option)
    assert rule in line, line


#: (argv before the option, option, hypothesis strategy of refused integers)
COUNTS = [
    (["spec"], "--neurons", st.integers(max_value=0)),
    (["sim", "verify"], "--cases", st.integers(max_value=0)),
    (["rollout", "--artifact", "x"], "--episodes", st.integers(max_value=0)),
    (["train", "--out", "r"], "--population", st.integers(max_value=1)),
    (["train-core"], "--generations", st.integers(max_value=0)),
]


@pytest.mark.parametrize(("prefix", "option", "values"), COUNTS, ids=[c[1] + " " + c[0][0] for c in COUNTS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_counts_refused_everywhere(prefix, option, values, data, work, capsys):
    v = data.draw(values)
    refuse([*prefix, option, str(v)], work, capsys, mentions=option)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(v=st.one_of(st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf"))))
def test_clock_refused(v, work, capsys):
    refuse(["hw", "bitstream", "--target", "ecp5", "--clock-mhz", repr(v)], work, capsys,
           mentions="--clock-mhz")


# --- rules across options: lanes that divide N --------------------------------------------------

LANES = [
    ["spec", "--neurons", "64", "--lanes", "3"],
    ["hw", "verilog", "--neurons", "64", "--lanes", "3"],
    ["hw", "synth", "--neurons", "64", "--lanes", "48"],
    ["sim", "verify", "--neurons", "16", "--lanes", "3"],
    ["train-core", "--neurons", "16", "--lanes", "3", "--backend", "fake"],
]


@pytest.mark.parametrize("argv", LANES, ids=[" ".join(a[:2]) for a in LANES])
def test_lanes_must_divide_n(argv, work, capsys):
    refuse(argv, work, capsys, mentions="--lanes")


# --- output paths: checked before any work --------------------------------------------------------

OUTPUTS = [
    (["hw", "verilog", "--neurons", "16", "--lanes", "4", "--out"], "a_file/core.v", "--out"),
    (["hw", "verilog", "--neurons", "16", "--lanes", "4", "--out"], ".", "--out"),
    (["hw", "synth", "--neurons", "16", "--lanes", "4", "--build-dir"], "a_file/b", "--build-dir"),
    (["hw", "bitstream", "--target", "ecp5", "--neurons", "16", "--lanes", "4", "--build-dir"],
     "a_file", "--build-dir"),
    (["train", "--env", "hopper", "--out"], "a_file/run", "--out"),
    (["train", "--env", "hopper", "--out"], "a_file", "--out"),
    (["train-core", "--backend", "fake", "--out"], "a_file/run", "--out"),
]


@pytest.mark.parametrize(("prefix", "path", "option"), OUTPUTS, ids=[" ".join(o[0][:2]) + " " + o[1] for o in OUTPUTS])
def test_unwritable_outputs_refused_first(prefix, path, option, work, capsys):
    refuse([*prefix, path], work, capsys, mentions=option)


def test_rollout_record_path_checked(work, capsys, tiny_artifact):
    refuse(["rollout", "--artifact", str(tiny_artifact), "--backend", "fake", "--episodes", "1",
            "--max-steps", "2", "--env", "Pendulum-v1", "--record", "a_file/rec.jsonl"], work, capsys,
           mentions="--record")


def test_a_spec_size_the_spec_refuses_leaves_no_folder(work, capsys):
    # N = 3 cannot hold the excitatory/inhibitory split the spec asks for
    refuse(["train", "--env", "hopper", "--neurons", "3", "--out", "run"], work, capsys,
           mentions="neurons must be at least 8")
    assert not (work / "run").exists()


# --- inputs: read and checked before anything is written -----------------------------------------


def test_missing_and_corrupt_inputs(work, capsys, tiny_artifact):
    refuse(["rollout", "--artifact", "nowhere", "--backend", "fake"], work, capsys, mentions="nowhere")
    refuse(["flash", "--overlay", "nowhere.bit"], work, capsys, mentions="nowhere.bit")
    refuse(["rollout", "--artifact", str(tiny_artifact), "--backend", "replay", "--replay", "nowhere.jsonl"],
           work, capsys, mentions="nowhere.jsonl")
    (work / "bad.json").write_text("{not json")
    refuse(["train", "--config", "bad.json", "--out", "run"], work, capsys, mentions="bad.json")


def test_resume_of_corrupt_runs(work, capsys):
    run = work / "run"
    run.mkdir()
    (run / "config.json").write_text("{truncated")
    refuse(["train", "--resume", "run"], work, capsys, mentions="run")
    (run / "config.json").write_text(json.dumps({"config": {"env": "hopper", "population": 1}}))
    refuse(["train", "--resume", "run"], work, capsys, mentions="population")


# --- the pipe closed by the reader -----------------------------------------------------------------


def test_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(f"{sys.executable} -m evoconn.cli spec --json | head -c 10", shell=True,
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


# --- a manifest that contradicts itself -----------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("kind", "bitstream"), ("kind", "nonsense"),
                                              ("sizes", {"n_neurons": 64}), ("sizes.mask_bits", 1)])
def test_manifest_contradicting_its_spec_refused(field, value, work, capsys):
    import shutil

    art = work / "art"
    shutil.copytree(TINY, art)
    man = json.loads((art / "manifest.json").read_text())
    if "." in field:  # one size off, the others right
        from evoconn.artifact import manifest_sizes, spec_from_manifest

        top, sub = field.split(".")
        man[top] = {**manifest_sizes(spec_from_manifest(man, "fixture")), sub: value}
    else:
        man[field] = value
    (art / "manifest.json").write_text(json.dumps(man))
    line = refuse(["rollout", "--artifact", "art", "--backend", "fake", "--episodes", "1", "--max-steps", "2"],
                  work, capsys, mentions="manifest.json")
    assert field.split(".")[0] in line, line


# --- memory: refused up front where certain, and an out-of-memory leaves nothing ------------------


def test_a_population_whose_masks_cannot_fit_is_refused_up_front(work, capsys):
    refuse(["train", "--env", "hopper", "--neurons", "256", "--population", str(10**9), "--out", "run"],
           work, capsys, mentions="population 1000000000")
    assert not (work / "run").exists()


def test_the_memory_bound_is_a_lower_bound():
    from evoconn.options import OptionError
    from evoconn.training.cli import check_population_memory
    from evoconn.training.trainer import TrainConfig, Trainer

    t = Trainer(TrainConfig(env="inverted_double_pendulum", neurons=16, episode_len=10, population=8))
    need = 8 * t.spec.mask_bits // 8  # the members' packed masks alone
    check_population_memory(t, available=need)  # exactly fits: not refused
    with pytest.raises(OptionError, match="needs about"):
        check_population_memory(t, available=need - 1)


def test_out_of_memory_in_the_first_generation_leaves_nothing(work, capsys, monkeypatch):
    import evoconn.training.trainer as trainer

    def oom(*a, **kw):  # what jaxlib raises when XLA cannot allocate (it cannot be provoked safely)
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.0TiB.")

    monkeypatch.setattr(trainer, "train", oom)
    refuse(["train", "--env", "inverted_double_pendulum", "--neurons", "16", "--population", "8",
            "--generations", "1", "--out", "run", "--no-progress"], work, capsys, mentions="RESOURCE_EXHAUSTED")
    assert not (work / "run").exists()
