"""``evoconn train`` across processes (``jax.distributed``): 2 CPU processes on localhost.

The slow tier runs the real multi-process runtime (JAX's coordination service, gloo's CPU
collectives) through the command line: a 2-process run equals the 1-process run bit for bit, only
process 0 writes, and a killed process stops the other in one line, after which ``--resume``
finishes the run exactly as if nothing had happened.

The task is the fast one (inverted_double_pendulum, N = 16, 20-step episodes, population 8, 20
generations; the generations after the compile are cheap, and 20 of them leave a kill time to land
before the end). Each
process compiles the generation once, and on this shared 2-core machine a hopper process needs
about twice the CPU time (measured: ~40 s of CPU per process for 3 generations). The ISA is capped
at AVX as in ``test_sharded_population_equals_unsharded`` (test_trainer.py): with AVX-512, XLA
rounds Brax's float physics differently for a batch of 8 (one process) and one of 4 (each of two),
which is XLA's codegen and not evoconn's arithmetic.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evoconn.cli import main

ARGS = ["--env", "inverted_double_pendulum", "--neurons", "16", "--episode-len", "20",
        "--population", "8", "--eval-copies", "1", "--generations", "20", "--checkpoint-every", "1",
        "--no-progress"]
GENS = 20  # a generation takes ~0.1 s here: long enough a run for a kill to land mid-way
TIMING = ("wall_time", "gen_time", "env_steps_per_s")
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_cpu_max_isa=AVX"}
for _k in [k for k in ENV if k.startswith(("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR"))]:
    del ENV[_k]  # nothing in the environment may make JAX think it runs in a cluster
LIMIT_S = 600  # a stuck process fails the test instead of hanging it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(*args: str) -> list[str]:
    # as the console script runs it (``python -m evoconn.cli`` would load the hub twice, as
    # __main__ and as evoconn.cli, and its CLIError would not be the one main() catches)
    return [sys.executable, "-c", "import sys; from evoconn.cli import main; sys.exit(main())",
            "train", *args]


def _launch(port: int, p: int, *args: str) -> list[str]:
    return _cmd(*args, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                "--process-id", str(p), "--heartbeat-timeout", "10")


def _start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=LIMIT_S)
    return p.returncode, out, err


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_run(a: Path, b: Path) -> None:
    """Metrics (timing aside), final state and best artifact equal bit for bit."""
    assert _rows(a) == _rows(b)
    with np.load(a / "checkpoint.npz") as za, np.load(b / "checkpoint.npz") as zb:
        assert sorted(za) == sorted(zb)
        for k in za:
            if k != "meta":
                np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
                assert za[k].dtype == zb[k].dtype, k
        ma, mb = json.loads(str(za["meta"])), json.loads(str(zb["meta"]))
        assert {k: v for k, v in ma.items() if k != "wall_time"} == \
            {k: v for k, v in mb.items() if k != "wall_time"}
    names = sorted(f.name for f in (a / "best").iterdir())
    assert names == sorted(f.name for f in (b / "best").iterdir()) and "masks.npz" in names
    for n in names:  # the artifact's files, manifest included, byte for byte
        assert (a / "best" / n).read_bytes() == (b / "best" / n).read_bytes(), n


# --- user errors, refused before any process joins (unit tier) ---------------------------------


@pytest.mark.parametrize("argv, msg", [
    (["--coordinator", "localhost"], "argument --coordinator: must be HOST:PORT"),
    (["--coordinator", "localhost:0"], "must be HOST:PORT with a port in [1, 65535]"),
    (["--coordinator", ":7777"], "must be HOST:PORT"),
    (["--num-processes", "0"], "argument --num-processes: must be an integer, at least 1"),
    (["--process-id", "-1"], "argument --process-id: must be an integer, at least 0"),
    (["--coordinator", "h:7777", "--num-processes", "2"], "needs --process-id as well"),
    (["--coordinator", "h:7777", "--num-processes", "2", "--process-id", "2"],
     "--process-id must be below --num-processes (2), got 2"),
    (["--coordinator", "h:7777", "--num-processes", "2", "--process-id", "0", "--backend", "fake"],
     "do not run across processes"),
    (["--heartbeat-timeout", "5"], "applies to a multi-process run"),
    # a bad config is refused before joining, so no process waits for one that never comes
    (["--coordinator", "h:7777", "--num-processes", "2", "--process-id", "1", "--population", "2"],
     "population must be at least 3"),
])
def test_cli_refuses_bad_launch_options(tmp_path, capsys, argv, msg):
    assert main(["train", "--env", "hopper", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert msg in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_distributed_without_a_cluster_is_one_line(tmp_path):
    # --distributed asks JAX to detect the cluster; here there is none
    res = subprocess.run(_cmd("--distributed", *ARGS, "--out", str(tmp_path / "r")), env=ENV,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if "error" in x.lower()]
    assert lines == ["evoconn train: error: cannot join the multi-process run: "
                     "coordinator_address should be defined."], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


# --- the multi-process runtime (slow tier) ------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run in one process (one CPU device)."""
    run = tmp_path_factory.mktemp("one") / "run"
    res = subprocess.run(_cmd(*ARGS, "--out", str(run)), env=ENV, capture_output=True, text=True,
                         timeout=LIMIT_S)
    assert res.returncode == 0, res.stderr
    assert len(_rows(run)) == GENS
    return run


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, reference):
    port = _free_port()
    run, elsewhere = tmp_path / "run", tmp_path / "not-written"
    # process 1 is pointed at another folder: as a non-writer it must create nothing there
    p1 = _start(_launch(port, 1, *ARGS, "--out", str(elsewhere)))
    p0 = _start(_launch(port, 0, *ARGS, "--out", str(run)))
    (rc0, out0, err0), (rc1, out1, err1) = _finish(p0), _finish(p1)
    assert rc0 == 0, err0
    assert rc1 == 0, err1
    assert "process 0 of 2, population sharded over 2 devices" in out0
    assert "process 1 of 2" in out1 and "done" not in out1  # one report, process 0's
    assert not elsewhere.exists()
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["jax_devices"]) == 2 and "(process 1)" in cfg["jax_devices"][1]
    r = _rows(run)
    assert r[0]["train/fitness_max"] > r[0]["train/fitness_min"]  # not degenerate
    _assert_same_run(reference, run)


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_killed_process_stops_the_run_in_one_line_and_resume_finishes_it(tmp_path, reference,
                                                                        victim):
    port = _free_port()
    run = tmp_path / "run"
    procs = {i: _start(_launch(port, i, *ARGS, "--out", str(run))) for i in (1, 0)}
    log = run / "metrics.jsonl"
    deadline = time.time() + LIMIT_S
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 2):
        assert procs[0].poll() is None and procs[1].poll() is None, "the run ended early"
        time.sleep(0.05)
    os.kill(procs[victim].pid, signal.SIGKILL)
    killed_at = time.time()
    survivor = procs[1 - victim]
    rc, _, err = _finish(survivor)
    took = time.time() - killed_at
    procs[victim].wait()
    n_cut = len(log.read_text().splitlines())
    assert n_cut < GENS, "the run finished before the kill"
    # the survivor: a non-zero exit, in bounded time, one error line and nothing of XLA's abort
    assert rc == 1, (rc, err)
    assert took < 120, took
    errors = [x for x in err.splitlines() if ": error:" in x]
    assert len(errors) == 1 and errors[0].startswith(
        f"evoconn train (process {1 - victim} of 2): error: the run stopped"), err
    assert f"--resume {run}" in errors[0]
    assert "Traceback" not in err and "Check failure" not in err, err

    # both processes again, with --resume: the run ends as the uninterrupted one-process run
    port = _free_port()
    procs = {i: _start(_launch(port, i, "--resume", str(run), "--no-progress")) for i in (1, 0)}
    (rc0, out0, err0), (rc1, _, err1) = _finish(procs[0]), _finish(procs[1])
    assert rc0 == 0, err0
    assert rc1 == 0, err1
    assert "resuming at generation" in out0
    assert [r["generation"] for r in _rows(run)] == list(range(1, GENS + 1))
    _assert_same_run(reference, run)


@pytest.mark.parametrize("exc, lost", [
    (ValueError("UNKNOWN: Gloo AllGather failed: [pair.cc:538] Read error: Connection reset by peer"),
     True),  # what a process sees when its peer is killed mid-collective (seen in this test file)
    (RuntimeError("UNAVAILABLE: Task 1 heartbeat timeout"), True),
    (ValueError("operands could not be broadcast together"), False),  # a bug: keep its traceback
    (KeyError("UNKNOWN: not an XLA error type"), False),
])
def test_lost_peer_tells_xla_runtime_failures_from_bugs(exc, lost):
    from evoconn.training.cli import _lost_peer

    assert _lost_peer(exc) is lost
