"""The board farm on a real local Dask cluster: a scheduler in this process (127.0.0.1, a free port)
and real worker processes started with ``evoconn farm worker`` (the command a board runs), whose
boards are the in-memory core model (``--backend fake``) or, in the rtl tier, the exported Verilog
under cocotb. The farm's fitness equals the local ``score_population`` bit for bit, and a worker
killed with SIGKILL mid-generation changes nothing in the result. Every cluster is shut down at the
end of its test, failed or not."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip("gymnasium")
pytest.importorskip("distributed")
import distributed

from evoconn.cli import main
from evoconn.host import farm, rollout
from evoconn.host.bus import FakeBus
from evoconn.host.core import IdentityError, RegisterCore
from evoconn.spec import Spec

CARTPOLE = Spec(n_neurons=16, obs_dim=4, act_dim=1, substeps=4)  # episodes of varied length: reruns
DATA = Path(__file__).parent / "data"
WORKER_START_S = 180  # a worker process imports numpy, gymnasium and distributed on a loaded machine


def scheduler_here() -> distributed.LocalCluster:
    """A Dask scheduler in this process on 127.0.0.1 and a free port, no workers, no dashboard."""
    return distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                    scheduler_port=0, dashboard_address="127.0.0.1:0")


@contextlib.contextmanager
def local_farm(n_workers: int, backend: str = "fake", extra: tuple[str, ...] = ()):
    """A scheduler here, ``n_workers`` board processes; everything stopped on the way out."""
    cluster = scheduler_here()
    procs: list[subprocess.Popen] = []
    logs = tempfile.TemporaryDirectory(prefix="evoconn-farm-test-")
    try:
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://127.0.0.1:")
        for i in range(n_workers):
            with open(Path(logs.name) / f"board{i}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "evoconn.cli", "farm", "worker", "--scheduler", addr, "--backend",
                     backend, "--name", f"board{i}", "--host", "127.0.0.1", "--death-timeout", "30", "--timeout",
                     CORE_TIMEOUT, *extra], stdout=log, stderr=subprocess.STDOUT,
                    env=dict(os.environ, DASK_TEMPORARY_DIRECTORY=logs.name)))  # not other jobs' dask space
        with distributed.Client(addr, set_as_default=False) as client:
            try:
                client.wait_for_workers(n_workers, timeout=WORKER_START_S)
            except TimeoutError as e:  # say why: a worker that exited, or one still starting
                tails = [f"board{i} (exit {p.poll()}): " + (Path(logs.name) / f"board{i}.log").read_text()[-800:]
                         for i, p in enumerate(procs)]
                raise AssertionError(f"{e}\n" + "\n".join(tails)) from None
            pids = client.run(farm.worker_pid)
            yield client, procs, pids
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=20)
        cluster.close()
        logs.cleanup()


#: RegisterCore's DONE timeout (wall clock) for the fake cores here and on the workers: generous,
#: because on a loaded machine a process can be descheduled for over a second between START and
#: its first STATUS poll, and the default 1 s then times out a core that is done.
CORE_TIMEOUT = "30"


def local_core(spec: Spec) -> RegisterCore:
    return RegisterCore(FakeBus(spec), spec, timeout=float(CORE_TIMEOUT))


def assert_same(a: rollout.PopulationResult, b: rollout.PopulationResult) -> None:
    assert_array_equal(a.fitness, b.fitness)
    assert_array_equal(a.episodes, b.episodes)
    assert a.horizon == b.horizon
    assert_array_equal(a.final_obs, b.final_obs)


def rho_for(spec: Spec, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(0.2, 0.8, shape) for k, shape in spec.mask_shapes.items()}


@pytest.fixture(scope="module")
def two_boards():
    with local_farm(2) as c:
        yield c


def test_farm_equals_local_bit_for_bit(two_boards):
    client, _, _ = two_boards
    rho = rho_for(CARTPOLE, 1)
    local = rollout.score_population(local_core(CARTPOLE), rollout.make_env("CartPole-v1", CARTPOLE), rho,
                                     seed=5, n=10, max_steps=60)
    events = []
    with farm.Farm(client, spec=CARTPOLE, progress=events.append) as f:
        res = farm.score_population(f, "CartPole-v1", rho, seed=5, n=10, max_steps=60)
    assert_same(res, local)
    assert local.reruns > 0 and res.reruns > 0  # the second round (reruns to the horizon) ran
    assert isinstance(res, rollout.PopulationResult)
    assert set(res.scored_by) <= {"board0", "board1"}  # (how Dask spreads them is its own choice)
    assert {b.backend for b in res.boards.values()} == {"fake"}
    assert sum(b.tasks for b in res.boards.values()) == 10 + res.reruns
    assert sum(b.env_steps for b in res.boards.values()) == res.timer.env_steps > 0
    assert [e["done"] for e in events if e["phase"] == 1] == list(range(1, 11))
    assert events[-1]["phase"] == 2 and events[-1]["done"] == events[-1]["total"] == res.reruns
    report = farm.format_board_report(res)
    assert all(name in report for name in res.boards) and "steps/s" in report  # each board that scored


def test_mask_lists_and_seeded_members_equal_local(two_boards):
    client, _, _ = two_boards
    rho = rho_for(CARTPOLE, 2)
    seeded = farm.SeededMembers(rho, [11, 12, 13, 14, 15])
    members = seeded.masks()
    assert not all(np.array_equal(members[0][k], members[1][k]) for k in rho)
    env = rollout.make_env("CartPole-v1", CARTPOLE)
    local = rollout.score_population(local_core(CARTPOLE), env, members, seed=9, max_steps=40)
    f = farm.Farm(client, spec=CARTPOLE)
    assert_same(farm.score_population(f, "CartPole-v1", seeded, seed=9, max_steps=40), local)
    # masks per member, and the env as a picklable factory, as the training loop passes it
    import functools

    factory = functools.partial(rollout.make_env, "CartPole-v1", CARTPOLE)
    assert_same(f.score_population(factory, members, seed=9, max_steps=40), local)
    # FarmRunner: the runner convention of the Core-scored loop (runner.call(score_population, ...))
    assert_same(farm.FarmRunner(f).call(rollout.score_population, factory, members, None, seed=9, max_steps=40),
                local)
    with pytest.raises(TypeError, match="population scoring only"):
        farm.FarmRunner(f).call(rollout.run_episodes, factory)


def test_worker_killed_mid_generation_changes_nothing():
    rho = rho_for(CARTPOLE, 3)
    n = 24
    local = rollout.score_population(local_core(CARTPOLE), rollout.make_env("CartPole-v1", CARTPOLE), rho,
                                     seed=7, n=n, max_steps=80)
    with local_farm(3) as (client, procs, pids):
        killed: dict[str, object] = {}

        def kill_one(ev):
            if killed or ev["done"] < 3 or ev["phase"] != 1:
                return
            # a board that holds the generation's context and is running members
            holders = {w for k, ws in client.who_has().items() if str(k).startswith("evoconn-context-") for w in ws}
            processing = {w: keys for w, keys in client.processing().items() if keys and w in holders}
            if not processing:
                return  # try again after the next member
            addr, keys = max(processing.items(), key=lambda kv: len(kv[1]))
            name = f"board{[p.pid for p in procs].index(pids[addr])}"
            os.kill(pids[addr], signal.SIGKILL)  # a board that dies, not one that says goodbye
            killed.update(addr=addr, name=name, members=[int(str(k).rsplit("-", 1)[1]) for k in keys])

        with farm.Farm(client, spec=CARTPOLE, progress=kill_one) as f:
            res = f.score_population("CartPole-v1", rho, seed=7, n=n, max_steps=80)
        proc = next(p for p in procs if p.pid == pids[killed["addr"]])
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert_same(res, local)
        # the dead board held the context and members: they were sent and scored again by the others
        assert killed["members"]
        for i in killed["members"]:
            assert res.scored_by[i] != killed["name"]
        assert len(farm.Farm(client).boards()) == 2


def test_no_board_is_one_clear_error():
    with scheduler_here() as cluster, \
            farm.Farm(cluster.scheduler_address, spec=CARTPOLE, wait_s=0.5) as f, \
            pytest.raises(farm.FarmError, match=r"no worker offering 'fpga' joined.*evoconn farm worker"):
        f.score_population("CartPole-v1", [rollout.deterministic_masks(rho_for(CARTPOLE, 0))])
    with pytest.raises(ValueError, match="needs the network's spec"):
        farm.score_population(object.__new__(farm.Farm), "CartPole-v1", [{}])


def test_a_member_that_fails_everywhere_is_raised_here(two_boards):
    client, _, _ = two_boards
    members = [rollout.deterministic_masks(rho_for(CARTPOLE, 0))] * 6
    with farm.Farm(client, spec=CARTPOLE, retries=1) as f, \
            pytest.raises(ValueError, match="cannot make Gymnasium env 'NoSuchEnv-v9'"):
        f.score_population("NoSuchEnv-v9", members, max_steps=10)
    # the failed call left nothing running, and the farm still scores
    deadline = time.monotonic() + 30
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())
    local = rollout.score_population(local_core(CARTPOLE), rollout.make_env("CartPole-v1", CARTPOLE), members,
                                     max_steps=10)
    assert_same(farm.Farm(client, spec=CARTPOLE).score_population("CartPole-v1", members, max_steps=10), local)


def test_a_board_refuses_another_networks_spec():
    board = farm.Board("pynq", overlay="evoconn.bit")  # the overlay's core, here the core model
    other = Spec(n_neurons=32, obs_dim=4, act_dim=1, substeps=4)
    board._core = RegisterCore(FakeBus(other), other)
    with pytest.raises(IdentityError, match=r"this board's core has spec hash 0x[0-9a-f]{8} \(N=32.*asks for "
                                            r"0x[0-9a-f]{8} \(N=16.*flash the bitstream"):
        board.runner(CARTPOLE)
    assert board.runner(other).core is board._core
    with pytest.raises(ValueError, match="needs the overlay"):
        farm.Board("pynq")
    with pytest.raises(ValueError, match="unknown board backend 'jax'"):
        farm.Board("jax")


def test_cli_score_equals_rollout_population(two_boards, capsys):
    import json

    client, _, _ = two_boards
    art = str(DATA / "rtl_n16_artifact")
    assert main(["rollout", "--artifact", art, "--backend", "fake", "--population", "6", "--seed", "4",
                 "--max-steps", "30", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["farm", "score", "--scheduler", client.scheduler.address, "--artifact", art,
                 "--population", "6", "--seed", "4", "--max-steps", "30", "--json"]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out)
    assert got["fitness"] == local["fitness"] and got["horizon"] == local["horizon"]
    assert got["episodes"] == local["episodes"]
    assert set(got["boards"]) <= {"board0", "board1"} and got["boards"]
    assert "first episodes: 6/6" in out.err  # progress across workers
    assert main(["farm", "score", "--scheduler", client.scheduler.address, "--artifact", art,
                 "--population", "4", "--max-steps", "20", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "per-board throughput" in text and "env steps per wall second" in text


def test_cli_errors_are_one_line(capsys, tmp_path):
    art = str(DATA / "rtl_n16_artifact")
    # nothing listens on this port: bind, read the port, close
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(["farm", "score", "--scheduler", f"tcp://127.0.0.1:{port}", "--artifact", art, "--population", "2",
               "--wait", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "cannot reach the farm's scheduler" in err
    rc = main(["farm", "worker", "--scheduler", f"tcp://127.0.0.1:{port}", "--backend", "pynq"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "needs the overlay" in err
    rc = main(["farm", "score", "--scheduler", "tcp://127.0.0.1:1", "--artifact", str(tmp_path), "--population", "2"])
    assert rc == 2 and capsys.readouterr().err.count("\n") == 1


def test_host_does_not_import_dask():
    code = ("import sys, evoconn.host, evoconn.host.cli, evoconn.host.farm, evoconn.host.cli_farm; "
            "bad = [m for m in ('dask', 'distributed', 'jax', 'amaranth', 'cocotb') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_farm_train_equals_local_train(two_boards):
    pytest.importorskip("jax")
    from evoconn.host.train_core import LocalRunner, train_core

    client, _, _ = two_boards
    spec = CARTPOLE
    kw = dict(generations=2, population=4, seed=1, max_steps=30)
    local = train_core(LocalRunner(local_core(spec)), "CartPole-v1", spec, **kw)
    with farm.Farm(client, spec=spec) as f:
        remote = train_core(farm.FarmRunner(f), "CartPole-v1", spec, **kw)
    for a, b in zip(local.rows, remote.rows, strict=True):
        assert a["train/fitness"] == b["train/fitness"] and a["train/horizon"] == b["train/horizon"]
    for k in local.rho:
        assert_array_equal(local.rho[k], remote.rho[k])
    assert_array_equal(local.normalizer.mean, remote.normalizer.mean)


@pytest.mark.rtl
def test_rtl_boards_equal_local():
    pytest.importorskip("cocotb")
    pytest.importorskip("amaranth")
    rho = rho_for(CARTPOLE, 4)
    local = rollout.score_population(local_core(CARTPOLE), rollout.make_env("CartPole-v1", CARTPOLE), rho,
                                     seed=2, n=4, max_steps=15)
    with local_farm(2, backend="rtl", extra=("--lanes", "4")) as (client, _, _), \
            farm.Farm(client, spec=CARTPOLE, wait_s=10) as f:
        res = f.score_population("CartPole-v1", rho, seed=2, n=4, max_steps=15)
    assert_same(res, local)
    assert set(res.scored_by) <= {"board0", "board1"}
    assert {b.backend for b in res.boards.values()} == {"rtl"}  # scored by the Verilog, not the model
