"""EC scored through a Core (evoconn.host.train_core): the same run on the JAX model and on the
register interface, and the two CLI entry points (`evoconn train-core`, `evoconn train --backend`)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from evoconn.artifact import load_artifact
from evoconn.cli import main
from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec

pytest.importorskip("jax")
pytest.importorskip("gymnasium")
from evoconn.host.jax_core import JaxCore
from evoconn.host.train_core import LocalRunner, train_core

SPEC = Spec(n_neurons=16, obs_dim=4, act_dim=1, substeps=5)  # CartPole: d = 4, a = 1 (sign of the output)


def test_fake_and_jax_train_the_same():
    kw = dict(generations=3, population=6, seed=3, max_steps=30)
    want = train_core(LocalRunner(JaxCore(SPEC)), "CartPole-v1", SPEC, **kw)
    got = train_core(LocalRunner(RegisterCore(FakeBus(SPEC), SPEC)), "CartPole-v1", SPEC, **kw)
    fit = np.array([r["train/fitness"] for r in want.rows])
    assert fit.shape == (3, 6) and np.ptp(fit) > 0
    np.testing.assert_array_equal(np.array([r["train/fitness"] for r in got.rows]), fit)
    for k in SPEC.mask_shapes:
        np.testing.assert_array_equal(got.rho[k], want.rho[k])
        assert got.rho[k].min() >= 1e-3 and got.rho[k].max() <= 1 - 1e-3


def test_train_backend_routes_to_the_core_loop(tmp_path, capsys):
    common = ["--neurons", "16", "--population", "4", "--generations", "2", "--seed", "1"]
    assert main(["train", "--backend", "fake", "--gym-env", "CartPole-v1", *common, "--episode-len", "20",
                 "--out", str(tmp_path / "run")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert main(["train-core", "--backend", "jax", "--env", "CartPole-v1", *common, "--max-steps", "20",
                 "--json"]) == 0
    rows_core = json.loads(capsys.readouterr().out)["rows"]
    assert [r["train/fitness"] for r in rows] == [r["train/fitness"] for r in rows_core] and len(rows) == 2
    art = load_artifact(tmp_path / "run" / "best")
    assert art.manifest["scored_on"] == "fake"
    assert art.spec == Spec(n_neurons=16, obs_dim=4, act_dim=1)  # the whole spec, not one field (CartPole)
    assert art.normalizer is not None and art.normalizer.count == 2 * 4


@pytest.mark.parametrize("extra, msg", [
    (["--resume", "x"], "--resume belongs to the Brax trainer"),
    (["--algo", "es"], "drop --algo/--model"),
    ([], "--backend needs --env"),
])
def test_train_backend_refuses_trainer_only_options(extra, msg, capsys):
    assert main(["train", "--backend", "fake", "--neurons", "16", *extra]) == 2
    assert msg in capsys.readouterr().err


def test_train_core_errors_are_one_line(capsys):
    assert main(["train-core", "--backend", "fake", "--env", "NoSuchEnv-v0"]) == 2
    assert "cannot make Gymnasium env" in capsys.readouterr().err
    assert main(["train-core", "--backend", "fake", "--population", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_train_core_writes_the_trainers_run_folder(tmp_path, capsys):
    """One loop: train-core's rows have the trainer's schema and its folder the trainer's files."""
    run = tmp_path / "run"
    assert main(["train-core", "--backend", "fake", "--env", "CartPole-v1", "--neurons", "16",
                 "--population", "4", "--generations", "2", "--max-steps", "20", "--out", str(run)]) == 0
    assert "generation   1:" in capsys.readouterr().out
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == [1, 2]
    schema = {"train/fitness_mean", "train/fitness_max", "train/fitness_min", "train/episodes_mean",
              "train/mean_rho", "train/entropy", "train/grad_norm", "train/density", "env_steps", "gen_steps",
              "wall_time", "gen_time", "env_steps_per_s", "train/fitness", "train/horizon"}
    assert schema <= set(rows[0]) and "eval/fitness" not in rows[0]
    for r in rows:
        assert r["train/fitness_max"] == pytest.approx(max(r["train/fitness"]), rel=1e-6)
    assert rows[1]["env_steps"] == rows[0]["env_steps"] + rows[1]["gen_steps"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["runner"] == "fake" and cfg["config"]["eval_copies"] == 0
    assert (run / "checkpoint.npz").exists()
    art = load_artifact(run / "best")
    assert art.manifest["scored_on"] == "fake" and art.manifest["generation"] == 2
    for k in art.masks:
        np.testing.assert_array_equal(art.masks[k], art.probs[k] > 0.5)
    # a folder that holds a run is not overwritten
    assert main(["train-core", "--backend", "fake", "--env", "CartPole-v1", "--neurons", "16",
                 "--population", "4", "--generations", "1", "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_train_core_refuses_an_unwritable_out_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train-core", "--backend", "fake", "--env", "CartPole-v1", "--neurons", "16",
                 "--population", "4", "--generations", "1", "--out", str(blocker / "run")]) == 2
    out, err = capsys.readouterr()
    assert "not writable" in err and "generation" not in out  # refused before the first generation


def test_jax_and_numpy_trainers_and_the_board_env_give_the_same_run(tmp_path, capsys):
    """train-core picks its EC: JAX's here (today's trainer), the numpy one where JAX is missing. The
    same run either way, bit for bit: the same metrics (timing aside), checkpoint, best/ and config;
    here with --trainer numpy and in the board env (numpy 1.26, no JAX; BOARD_PY).

    CartPole, not Pendulum: Gymnasium's Pendulum steps a float32 action, and numpy 2's promotion rules
    (NEP 50) round its physics differently from numpy 1.26's in the last bits of the float64 return;
    CartPole's physics is Python floats."""
    from evoconn.host.train_core import trainer_kind

    from .board_env import ROOT, board_python
    from .run_folders import assert_same_run

    args = ["train-core", "--backend", "fake", "--env", "CartPole-v1", "--neurons", "16", "--population", "6",
            "--generations", "3", "--max-steps", "40", "--seed", "5", "--checkpoint-every", "2"]
    assert trainer_kind() == "jax"
    for kind in ("jax", "numpy"):
        assert main([*args, "--trainer", kind, "--out", str(tmp_path / kind)]) == 0
    assert "no learning_curve.png" not in capsys.readouterr().err
    assert (tmp_path / "jax" / "learning_curve.png").exists()
    assert_same_run(tmp_path / "jax", tmp_path / "numpy", config_differs=("jax_devices",))
    rows = [json.loads(x) for x in (tmp_path / "jax" / "metrics.jsonl").read_text().splitlines()]
    assert len({f for r in rows for f in r["train/fitness"]}) > 1  # the members differ: a real comparison
    p = subprocess.run([str(board_python()), "-m", "evoconn.cli", *args, "--out", str(tmp_path / "board")],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    # the environment's own versions (numpy 1.26 vs 2.x, jax and brax absent there) are all that differ
    assert_same_run(tmp_path / "jax", tmp_path / "board", manifest_differs=("versions", "python", "brax_version"),
                    config_differs=("jax_devices", "brax_version"))


@pytest.mark.parametrize("trainer", ["jax", "numpy"])
def test_core_training_sends_member_keys_not_masks(trainer, monkeypatch):
    """Both trainers hand a Core runner EC's member keys and rho: every training member is loaded by
    CONTROL.SAMPLE alone (12 bytes: its masks and v0 come from its key), the evaluation copies
    (rho > 0.5) as masks and v0; the register core and JaxCore (which samples on the host) train
    the same bit for bit. Without keys (the masks written) v0 comes from the seed: another run."""
    from evoconn.host import train_core as tc

    spec = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)
    kw = dict(generations=2, population=4, seed=5, max_steps=6, backend="fake", trainer=trainer)
    core = RegisterCore(FakeBus(spec, lanes=4), spec)
    got = train_core(LocalRunner(core), "Pendulum-v1", spec, **kw)
    n_eval = len(got.rows[0]["train/fitness"]) - 4
    s = core.stats
    assert s.samples == 2 * 4 and s.mask_loads == 2 * n_eval and s.rho_loads == 2
    jax_core = JaxCore(spec)
    want = train_core(LocalRunner(jax_core), "Pendulum-v1", spec, **kw)
    assert jax_core.stats.samples == 2 * 4
    fit = np.array([r["train/fitness"] for r in want.rows])
    assert np.ptp(fit) > 0, "equal fitness everywhere proves little"
    np.testing.assert_array_equal([r["train/fitness"] for r in got.rows], fit)
    for k in spec.mask_shapes:
        np.testing.assert_array_equal(got.rho[k], want.rho[k], err_msg=k)
    monkeypatch.setattr(tc, "sampled_members", lambda *a: None)  # the masks and v0 written
    core2 = RegisterCore(FakeBus(spec, lanes=4), spec)
    masks_run = train_core(LocalRunner(core2), "Pendulum-v1", spec, **kw)
    assert core2.stats.samples == 0 and core2.stats.mask_loads == 2 * (4 + n_eval)
    first = np.array(masks_run.rows[0]["train/fitness"])
    assert not np.array_equal(first[:4], fit[0, :4])  # the same masks, another v0
    np.testing.assert_array_equal(first[4:], fit[0, 4:])  # the evaluation copies: the same
