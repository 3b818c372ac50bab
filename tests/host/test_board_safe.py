"""`import evoconn.host` works with numpy alone, as on a PYNQ-Z2: jax, amaranth, cocotb, brax and
their friends are made unimportable in a fresh interpreter by a meta-path blocker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

BLOCKED = ("jax", "jaxlib", "brax", "flax", "optax", "mujoco", "amaranth", "cocotb", "cocotb_tools",
           "cocotbext", "pynq", "matplotlib")

SITECUSTOMIZE = textwrap.dedent(f"""
    import sys

    BLOCKED = {BLOCKED!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked (board-safety test)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
""")


CLI = "import sys; from evoconn.cli import main; sys.exit(main(sys.argv[1:]))"


def run_blocked(tmp_path, code: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_host_imports_and_runs_with_numpy_alone(tmp_path):
    code = textwrap.dedent("""
        import sys, json
        try:
            import jax  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker does not work")
        import numpy as np
        import evoconn.host, evoconn.spec, evoconn.artifact
        from evoconn.host import RegisterCore, FakeBus, MissingDependency
        from evoconn.host import rollout, cli  # noqa: F401
        from evoconn.spec import Spec
        spec = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)
        core = RegisterCore(FakeBus(spec), spec)
        rng = np.random.default_rng(0)
        core.load_masks({k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()})
        out = core.step(np.array([100, -200, 300], np.int32))
        try:
            evoconn.host.JaxCore(spec)
        except MissingDependency as e:
            jax_msg = str(e)
        else:
            raise SystemExit("JaxCore made without jax")
        try:
            evoconn.host.MMIOBus(0x43C00000)
        except MissingDependency as e:
            pynq_msg = str(e)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({"out": out.tolist(), "jax": jax_msg, "pynq": pynq_msg, "heavy": heavy}))
    """)
    p = run_blocked(tmp_path, f"BLOCKED = {BLOCKED!r}\n" + code)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["heavy"] == []
    assert "pip install 'evoconn[train]'" in r["jax"]
    assert "pip install 'evoconn[board]'" in r["pynq"]
    assert len(r["out"]) == 1


def test_rollout_cli_runs_without_jax(tmp_path):
    pytest.importorskip("gymnasium")
    from evoconn.spec import Spec

    from .test_cli import make_artifact

    art = make_artifact(tmp_path / "a", spec=Spec(n_neurons=16, obs_dim=4, act_dim=1, substeps=4))
    p = run_blocked(tmp_path, CLI, "rollout", "--artifact", str(art), "--episodes", "2", "--json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["returns"]) == 2
    p = run_blocked(tmp_path, CLI, "rollout", "--artifact", str(art), "--backend", "jax")
    assert p.returncode == 2 and "pip install 'evoconn[train]'" in p.stderr
    p = run_blocked(tmp_path, CLI, "rollout", "--artifact", str(art), "--backend", "rtl")
    assert p.returncode == 2 and "pip install 'evoconn[sim]'" in p.stderr, p.stderr
    # train-core trains without JAX (the numpy EC, tests/host/test_train_core_board.py); only the
    # JAX model as the core, or the JAX trainer asked for by name, need it
    p = run_blocked(tmp_path, CLI, "train-core", "--env", "CartPole-v1", "--backend", "fake", "--generations", "2",
                    "--population", "4", "--max-steps", "10", "--json")
    assert p.returncode == 0, p.stderr
    assert [r["generation"] for r in json.loads(p.stdout)["rows"]] == [1, 2]
    for extra in (["--backend", "jax"], ["--backend", "fake", "--trainer", "jax"]):
        p = run_blocked(tmp_path, CLI, "train-core", "--env", "CartPole-v1", *extra)
        assert p.returncode == 2 and "pip install 'evoconn[train]'" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = run_blocked(tmp_path, CLI, "train", "--env", "hopper", "--out", str(tmp_path / "run"))  # the Brax trainer
    assert p.returncode == 2 and "pip install 'evoconn[train]'" in p.stderr and "train-core" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists(), p.stderr


def test_the_training_loop_imports_with_numpy_alone(tmp_path):
    """The one loop, the config, the numpy EC and the Core trainer need no JAX (a board runs them)."""
    code = textwrap.dedent("""
        import sys, json
        import evoconn.training.loop, evoconn.training.config, evoconn.ec_numpy  # noqa: F401
        from evoconn.host import train_core
        from evoconn.training.trainer import TrainConfig  # noqa: F401  (needs JAX: must fail here)
    """)
    p = run_blocked(tmp_path, f"BLOCKED = {BLOCKED!r}\n" + code)
    assert p.returncode == 1 and "jax is blocked" in p.stderr, p.stderr  # the JAX trainer itself needs JAX
    code = textwrap.dedent("""
        import sys, json
        import evoconn.training.loop, evoconn.training.config, evoconn.ec_numpy  # noqa: F401
        from evoconn.host import train_core
        from evoconn.training.config import TrainConfig
        TrainConfig(runner="fake", eval_copies=0, population=4).validate()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({"trainer": train_core.trainer_kind(), "heavy": heavy}))
    """)
    p = run_blocked(tmp_path, f"BLOCKED = {BLOCKED!r}\n" + code)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"trainer": "numpy", "heavy": []}


def test_board_modules_import_with_numpy_alone(tmp_path):
    """The board path's modules (overlay, backends, report) need no pynq until a board is opened,
    and the identity module needs no numpy at all."""
    code = textwrap.dedent("""
        import sys, json
        import evoconn.host.overlay, evoconn.host.backends, evoconn.host.report  # noqa: F401
        from evoconn.host.overlay import BoardError, open_board
        try:
            open_board("nothing.bit")
        except BoardError as e:
            msg = str(e)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({"msg": msg, "heavy": heavy}))
    """)
    p = run_blocked(tmp_path, f"BLOCKED = {BLOCKED!r}\n" + code)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["heavy"] == [] and r["msg"].startswith("no overlay at nothing.bit")
    p = subprocess.run([sys.executable, "-c", "import sys, evoconn.ip; print(evoconn.ip.VLNV, 'numpy' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["evoconn:evoconn:evoconn_core:1.0", "False"], p.stderr
