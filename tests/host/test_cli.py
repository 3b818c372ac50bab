"""`evoconn rollout` and `evoconn flash`: outputs, the report, recording/replay, and every fault
exiting non-zero with a one-line message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoconn.artifact import Artifact, Normalizer, save_artifact
from evoconn.cli import main
from evoconn.host.bus import FakeBus, RecordingBus
from evoconn.host.core import IdentityError, RegisterCore
from evoconn.spec import Spec

from ..conftest import random_masks

SPEC = Spec(n_neurons=32, obs_dim=4, act_dim=2, substeps=8)
pytest.importorskip("gymnasium")


def make_artifact(path, spec=SPEC, env="CartPole-v1", seed=0):
    rng = np.random.default_rng(seed)
    probs = {k: rng.random(s).astype(np.float32) for k, s in spec.mask_shapes.items()}
    norm = Normalizer(mean=np.zeros(spec.obs_dim), var=np.full(spec.obs_dim, 0.25), count=100.0)
    save_artifact(path, Artifact(spec=spec, masks=random_masks(spec, rng), probs=probs,
                                 normalizer=norm, manifest={"env": env}))
    return path


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    return make_artifact(tmp_path_factory.mktemp("art") / "a")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rollout_fake_json_and_report(art, capsys):
    code, out, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "fake",
                         "--episodes", "3", "--json", "--report")
    assert code == 0, err
    r = json.loads(out)
    assert len(r["returns"]) == 3 and r["returns"] == [float(x) for x in r["lengths"]]
    rep = r["report"]
    steps = sum(r["lengths"])
    assert rep["env_steps"] == steps and rep["members"] == 1
    # per env step: OBS (4 words) + CONTROL + >=1 STATUS poll + OUT (2 words)
    assert rep["bus_bytes_per_env_step"] >= 4 * (4 + 1 + 1 + 2)
    assert set(rep["stages_s"]) == {"mask upload", "observation write", "compute wait", "output read",
                                    "state reset/read", "environment step", "float boundary",
                                    "python overhead"}
    code, out, _ = run(capsys, "rollout", "--artifact", str(art), "--episodes", "2", "--report")
    assert code == 0 and "mean return" in out and "env steps" in out and "compute wait" in out


def test_rollout_population(art, capsys):
    code, out, err = run(capsys, "rollout", "--artifact", str(art), "--population", "4", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert len(r["fitness"]) == 4 and min(r["episodes"]) >= 1


def test_fake_and_jax_backends_print_the_same_returns(art, capsys):
    pytest.importorskip("jax")
    got = {}
    for b in ("fake", "jax"):
        code, out, err = run(capsys, "rollout", "--artifact", str(art), "--backend", b, "--episodes", "2",
                             "--json", "--seed", "4")
        assert code == 0, err
        got[b] = json.loads(out)["returns"]
    assert got["fake"] == got["jax"]


def test_record_then_replay(art, capsys, tmp_path):
    rec = tmp_path / "s.jsonl"
    code, out, err = run(capsys, "rollout", "--artifact", str(art), "--episodes", "2", "--json",
                         "--record", str(rec))
    assert code == 0, err
    want = json.loads(out)["returns"]
    code, out, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "replay", "--replay",
                         str(rec), "--episodes", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["returns"] == want
    # a different seed asks the core for other traffic: the replay names the transaction
    code, _, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "replay", "--replay",
                       str(rec), "--episodes", "2", "--seed", "9")
    assert code == 2 and "transaction" in err and "differs" in err


# --- faults -------------------------------------------------------------------------------


def test_core_that_never_raises_done(art):
    core = RegisterCore(FakeBus(SPEC, busy_polls=None), SPEC, timeout=0.02)
    core.load_masks(random_masks(SPEC, np.random.default_rng(0)))
    from evoconn.host.core import CoreTimeout

    with pytest.raises(CoreTimeout, match=r"within 0.02 s .*STATUS = BUSY\|LOADED \(0x9\), CYCLES = 0"):
        core.step(np.zeros(4, np.int32))


def test_spec_hash_mismatch_against_the_artifact(art, capsys, tmp_path):
    other = Spec(n_neurons=64, obs_dim=4, act_dim=2, substeps=8)
    rec = tmp_path / "other.jsonl"
    with RecordingBus(FakeBus(other), rec) as bus, pytest.raises(IdentityError):
        RegisterCore(bus, SPEC)  # a board built for N=64, recorded
    code, _, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "replay", "--replay",
                       str(rec))
    assert code == 2
    assert f"0x{other.hash32:08x}" in err and f"0x{SPEC.hash32:08x}" in err
    assert "n_neurons: core 64 vs expected 32" in err and len(err.strip().splitlines()) == 1


def test_artifact_for_other_sizes_than_the_env(capsys, tmp_path):
    bad = make_artifact(tmp_path / "b", spec=Spec(n_neurons=32, obs_dim=11, act_dim=3, substeps=4))
    code, _, err = run(capsys, "rollout", "--artifact", str(bad))
    assert code == 2 and "observation size 4" in err and "d=11" in err


def test_nan_observation_exits_naming_the_step(capsys, tmp_path, monkeypatch):
    art = make_artifact(tmp_path / "n")
    import evoconn.host.rollout as ro

    real = ro.GymEnv.step

    def nan_step(self, action):
        obs, r, term, trunc = real(self, action)
        self._n = getattr(self, "_n", 0) + 1
        if self._n == 5:
            obs[2] = np.inf
        return obs, r, term, trunc

    monkeypatch.setattr(ro.GymEnv, "step", nan_step)
    code, _, err = run(capsys, "rollout", "--artifact", str(art), "--episodes", "1")
    assert code == 2 and "episode 0, step 5" in err and "not finite" in err


def test_missing_artifact_and_env(capsys, tmp_path):
    code, _, err = run(capsys, "rollout", "--artifact", str(tmp_path / "nope"))
    assert code == 2 and "no such artifact directory" in err
    art = make_artifact(tmp_path / "e", env="")
    code, _, err = run(capsys, "rollout", "--artifact", str(art))
    assert code == 2 and "pass --env" in err


def test_rtl_backend_names_the_extra_when_cocotb_is_missing(art, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("cocotb") else real(name, *a))
    code, _, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "rtl")
    assert code == 2 and "needs the Python module 'cocotb'" in err and "pip install 'evoconn[sim]'" in err


def test_flash_without_overlay_or_hwh(capsys, tmp_path):
    code, _, err = run(capsys, "flash", "--overlay", str(tmp_path / "x.bit"))
    assert code == 2 and "no overlay at" in err
    (tmp_path / "x.bit").write_bytes(b"\0" * 16)
    code, _, err = run(capsys, "flash", "--overlay", str(tmp_path / "x.bit"))
    assert code == 2 and "no x.hwh beside it" in err
    code, _, err = run(capsys, "rollout", "--artifact", str(tmp_path), "--backend", "pynq")
    assert code == 2


def test_no_pynq_installed(capsys, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq -> ImportError
    (tmp_path / "x.bit").write_bytes(b"\0" * 16)
    (tmp_path / "x.hwh").write_text("<xml/>")
    code, _, err = run(capsys, "flash", "--overlay", str(tmp_path / "x.bit"))
    assert code == 2 and "pip install 'evoconn[board]'" in err
    art = make_artifact(tmp_path / "p")
    code, _, err = run(capsys, "rollout", "--artifact", str(art), "--backend", "pynq", "--overlay",
                       str(tmp_path / "x.bit"))
    assert code == 2 and "pip install 'evoconn[board]'" in err


def test_report_prints_the_cores_lanes(art, capsys):
    """--report's lanes are what the core's LANES register says (the backend's core), not 16."""
    code, out, _ = run(capsys, "rollout", "--artifact", str(art), "--episodes", "1", "--max-steps", "5",
                       "--lanes", "4", "--json", "--report")
    assert code == 0 and json.loads(out)["report"]["lanes"] == 4
    code, out, _ = run(capsys, "rollout", "--artifact", str(art), "--episodes", "1", "--max-steps", "5",
                       "--lanes", "4", "--report")
    assert code == 0 and "lanes 4 =" in out
