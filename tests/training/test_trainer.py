"""The training run end to end on the fast task: learning, checkpoints, resume, sharding, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evoconn.cli import CLIError, main
from evoconn.training.trainer import TrainConfig

FAST = dict(env="inverted_double_pendulum", neurons=16, episode_len=100)
CLI_FAST = ["--env", "inverted_double_pendulum", "--neurons", "16", "--episode-len", "100"]
TIMING = ("wall_time", "gen_time", "env_steps_per_s")


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


# --- user errors, refused before any work (unit tier) -----------------------------------------


@pytest.mark.parametrize("argv, msg", [
    (["--env", "hopper", "--population", "2"], "population must be at least 3"),
    (["--env", "hopper", "--algo", "es", "--population", "8", "--eval-copies", "1"], "even"),
    (["--config", "paper-nosuchtask"], "unknown config"),
])
def test_cli_refuses_bad_config(tmp_path, capsys, argv, msg):
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("task", ["hopper", "walker2d", "humanoid"])
@pytest.mark.parametrize(("suffix", "model"), [("", "float"), ("-int", "int")])
def test_paper_presets_hold_the_papers_settings(task, suffix, model):
    # the paper: population 10240 with 128 evaluation copies, N = 256, lr 0.15, clip 1e-3, 1000
    # generations, episode cap 1000, its float network; the -int variant scores the integer core
    from evoconn.training.cli import _preset

    cfg = TrainConfig.from_dict(_preset(f"paper-{task}{suffix}"))
    cfg.validate()
    assert (cfg.env, cfg.algo, cfg.model) == (task, "ec", model)
    assert (cfg.population, cfg.n_eval, cfg.neurons) == (10240, 128, 256)
    assert (cfg.lr, cfg.clip_eps, cfg.generations, cfg.episode_len) == (0.15, 1e-3, 1000, 1000)


def test_cli_refuses_unknown_env(tmp_path, capsys):
    # main() returns argparse's exit code (the validation layer: one line, exit 2, nothing written)
    assert main(["train", "--env", "pong", "--out", str(tmp_path / "r")]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_refuses_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", *CLI_FAST, "--out", str(blocker / "run")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_cli_refuses_resume_with_other_config_or_spec(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    cfg = TrainConfig(**FAST, population=8, generations=3)
    (run / "checkpoint.npz").write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "spec_hash": "0" * 64}))
    # another population: refused with the field named
    assert main(["train", "--resume", str(run), "--population", "16"]) == 2
    assert "population: 8 there vs 16 now" in capsys.readouterr().err
    # same config, but the run was made under another spec (hash)
    assert main(["train", "--resume", str(run)]) == 2
    assert "spec hash" in capsys.readouterr().err
    # a folder that already holds a run is not overwritten without --resume
    assert main(["train", *CLI_FAST, "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_resume_needs_a_run(tmp_path):
    from evoconn.training.cli import config_from_args, register
    with pytest.raises(CLIError, match="no config.json"):
        import argparse

        p = argparse.ArgumentParser()
        sub = p.add_subparsers()
        register(sub, "train")
        config_from_args(p.parse_args(["train", "--resume", str(tmp_path)]))


def test_old_config_names_load_under_the_new_ones():
    from evoconn.training.trainer import ConfigError

    # config.json of a run made before TrainConfig.backend became physics (and before runner and
    # substeps existed) loads, and a resume check compares it field by field
    cfg = TrainConfig.from_dict({**FAST, "backend": "spring", "population": 8})
    assert cfg.physics == "spring" and cfg.runner == "brax" and cfg.substeps is None
    with pytest.raises(ConfigError, match="both 'backend'"):
        TrainConfig.from_dict({"backend": "spring", "physics": "positional"})


def test_resume_reads_an_old_run_folder(tmp_path, capsys):
    from evoconn.training.trainer import RunError, check_resume

    run = tmp_path / "run"
    run.mkdir()
    old = {k: v for k, v in TrainConfig(**FAST, population=8).to_dict().items()
           if k not in ("physics", "runner", "substeps")}
    (run / "config.json").write_text(json.dumps({"config": {**old, "backend": "positional"},
                                                 "backend": "positional", "spec_hash": "0" * 64}))
    (run / "checkpoint.npz").write_bytes(b"")
    # the config matches field for field (old names upgraded, new fields at their defaults): only
    # the spec hash differs
    with pytest.raises(RunError, match="spec hash"):
        check_resume(run, TrainConfig(**FAST, population=8), "1" * 64)
    with pytest.raises(RunError, match="physics: 'positional' there vs 'spring' now"):
        check_resume(run, TrainConfig(**FAST, population=8, physics="spring"), "0" * 64)
    # a corrupt config.json: one line, exit 2
    (run / "config.json").write_text("{not json")
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "unreadable config.json" in err and len(err.strip().splitlines()) == 1


def test_library_errors_are_its_own(tmp_path):
    from evoconn.training.trainer import CheckpointError, RunError, Trainer, check_fresh, load_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(RunError, match="already holds a run") as e:
        check_fresh(run)
    assert not isinstance(e.value, CLIError)
    (run / "checkpoint.npz").write_bytes(b"garbage")
    t = Trainer(TrainConfig(**FAST, population=8))
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        load_checkpoint(run / "checkpoint.npz", t.init())


def test_physics_option_and_its_old_spelling(capsys):
    import argparse

    from evoconn.training.cli import config_from_args, register

    p = argparse.ArgumentParser()
    register(p.add_subparsers(), "train")
    for opt in ("--physics", "--backend-physics"):
        cfg, _, _ = config_from_args(p.parse_args(["train", *CLI_FAST, opt, "spring", "--out", "x"]))
        assert cfg.physics == "spring"
    assert main(["train", "--help"]) == 0  # main() returns argparse's exit code
    out = capsys.readouterr().out
    assert "--physics" in out and "--backend-physics" not in out


# --- slow tier ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ec_learns_the_fast_task(tmp_path):
    """EC on inverted_double_pendulum (N=16, pop 64, 100-step episodes) gains >= 10% in 25 gens."""
    from evoconn.training.trainer import train

    cfg = TrainConfig(**FAST, population=64, generations=25, seed=0, checkpoint_every=25)
    rows = train(cfg, tmp_path / "run")
    first = np.mean([r["train/fitness_mean"] for r in rows[:3]])
    last = np.mean([r["train/fitness_mean"] for r in rows[-3:]])
    assert last >= 1.10 * first, (first, last)
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000
    assert (tmp_path / "run" / "diagnostics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"train/mean_rho", "train/density", "train/entropy", "train/firing_rate"} <= set(rows[-1])


@pytest.mark.slow
def test_checkpoint_and_best_artifact_round_trip(tmp_path):
    import jax

    from evoconn.artifact import load_artifact
    from evoconn.training.trainer import Trainer, load_checkpoint, train

    cfg = TrainConfig(**FAST, population=16, generations=2, checkpoint_every=1)
    trainer = Trainer(cfg)
    train(cfg, tmp_path / "run", trainer=trainer)
    state, meta = load_checkpoint(tmp_path / "run" / "checkpoint.npz", trainer.init())
    assert meta["generation"] == 2 and int(state.generation) == 2
    art = load_artifact(tmp_path / "run" / "best")
    assert art.manifest["env"] == cfg.env and art.manifest["physics"] == cfg.physics
    assert art.manifest["brax_version"] and art.manifest["seed"] == 0
    assert art.spec == trainer.spec and art.normalizer is not None
    g = art.manifest["generation"]
    assert 1 <= g <= 2
    # the best masks are the deterministic masks of the probabilities they were scored with
    for k in art.masks:
        np.testing.assert_array_equal(art.masks[k], art.probs[k] > 0.5)
    # generation 3 from the loaded state equals generation 3 from the state in memory
    a, ma = trainer.generation(state, trainer.gen_key(2))
    state2, _ = load_checkpoint(tmp_path / "run" / "checkpoint.npz", trainer.init())
    b, mb = trainer.generation(state2, trainer.gen_key(2))
    assert jax.device_get(ma) == jax.device_get(mb)


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(tmp_path):
    args = [*CLI_FAST, "--population", "32", "--generations", "12", "--checkpoint-every", "1",
            "--no-progress"]
    cmd = [sys.executable, "-m", "evoconn.cli", "train", *args]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    full = subprocess.run([*cmd, "--out", str(tmp_path / "full")], env=env, capture_output=True,
                          text=True, timeout=240)
    assert full.returncode == 0, full.stderr
    # the same run, killed (SIGKILL) once a few generations are logged, then resumed
    p = subprocess.Popen([*cmd, "--out", str(tmp_path / "cut")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    n_cut = len(log.read_text().splitlines())
    assert 4 <= n_cut < 12, "the run was not killed mid-way"
    res = subprocess.run([sys.executable, "-m", "evoconn.cli", "train", "--resume",
                          str(tmp_path / "cut"), "--no-progress"], env=env, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert "resuming at generation" in res.stdout
    a, b = _strip(_rows(tmp_path / "full")), _strip(_rows(tmp_path / "cut"))
    assert [r["generation"] for r in b] == list(range(1, 13))
    assert a == b


SHARD_SCRIPT = """
import json, sys, jax, numpy as np
from evoconn.training.trainer import Trainer, TrainConfig
cfg = TrainConfig(env="inverted_double_pendulum", neurons=16, episode_len=60, population=16,
                  algo=sys.argv[1], eval_copies=1 if sys.argv[1] == "ec" else 2)
out = {}
for name, devs in (("one", jax.devices()[:1]), ("two", jax.devices())):
    t = Trainer(cfg, devices=devs)
    s = t.init()
    rows, states = [], []
    for g in range(3):
        s, m = t.generation(s, t.gen_key(g))
        rows.append({k: float(v) for k, v in m.items()})
        states.append([np.asarray(x).tolist() for x in jax.tree.leaves(jax.device_get(s))])
    out[name] = {"rows": rows, "states": states, "ndev": len(devs),
                 "sharding": str(s.reset_pool.obs.sharding)}
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ec", "es"])
def test_sharded_population_equals_unsharded(algo):
    # XLA's CPU code for a float loop depends on whether its length fills the vector width: with
    # AVX-512 a batch of 8 and one of 16 round Brax's physics and the dense network differently
    # in the last bit. Capping the ISA at AVX makes that codegen shape-independent, so this test
    # sees everything evoconn computes over the population (integer network, EC's integer
    # gradient, ES's and the normalizer's fixed-order sums, ranks, metrics) and requires it exact.
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2 --xla_cpu_max_isa=AVX"}
    res = subprocess.run([sys.executable, "-c", SHARD_SCRIPT, algo], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["one"]["ndev"] == 1 and out["two"]["ndev"] == 2
    assert "pop" in out["two"]["sharding"]
    one, two = out["one"], out["two"]
    assert one["rows"][0]["train/fitness_max"] > one["rows"][0]["train/fitness_min"]  # not degenerate
    for g in range(3):  # generation for generation: every metric and every leaf of the state
        assert one["rows"][g] == two["rows"][g], g
        assert one["states"][g] == two["states"][g], g
