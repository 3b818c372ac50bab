"""EC scored through a Core (evoconn.host.train_core): the same run on the JAX model and on the
register interface, and the two CLI entry points (`evoconn train-core`, `evoconn train --backend`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from evoconn.host.bus import FakeBus
from evoconn.host.core import RegisterCore

from evoconn.artifact import load_artifact
from evoconn.cli import main
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
    assert art.manifest["scored_on"] == "fake" and art.spec.n_neurons == 16
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
