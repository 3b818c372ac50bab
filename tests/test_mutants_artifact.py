"""The artifact format's behaviours that the hub's fast tier let mutants through (issue 18; numpy only).

Grouped by behaviour: the normalizer's arithmetic; the git revision a manifest records; the manifest's
fields compared whole; the atomic writes (temporary beside the target, cleaned up on failure); the
files an artifact writes, byte for byte; every refusal of a bad or mismatched artifact, with its exact
message; and the boundaries a valid artifact may touch (var 0, files the manifest does not list).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import evoconn
from evoconn import artifact as A
from evoconn.artifact import (
    MANIFEST_FORMAT,
    Artifact,
    ArtifactError,
    Normalizer,
    atomic_write_bytes,
    atomic_write_text,
    base_manifest,
    load_artifact,
    load_manifest,
    manifest_sizes,
    save_artifact,
    spec_from_manifest,
)
from evoconn.spec import Spec

SPEC = Spec(n_neurons=8, obs_dim=2, act_dim=1, substeps=2)
VERSIONED = ("numpy", "jax", "brax", "optax", "amaranth", "cocotb", "pynq")


def masks(spec=SPEC, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}


def probs(spec=SPEC, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed + 100)
    return {k: rng.random(s).astype(dtype) for k, s in spec.mask_shapes.items()}


def norm(spec=SPEC):
    return Normalizer(np.array([0.5, -1.25]), np.array([2.0, 0.0]), 37.0, 1e-6)


# =====================================================================================
# Normalizer
# =====================================================================================


def test_identity_and_normalize_with_a_nonzero_mean():
    n = Normalizer.identity(3)
    assert (n.mean.tolist(), n.var.tolist(), n.count, n.eps) == ([0.0] * 3, [1.0] * 3, 0.0, 1e-8)
    m = Normalizer(np.array([1.0, -2.0]), np.array([4.0, 0.25]), 5.0, 0.0)
    np.testing.assert_array_equal(m.normalize([[3.0, 1.0], [1, -2]]), [[1.0, 6.0], [0.0, 0.0]])
    # whatever the input's type, the result is float64 (a long double is rounded first)
    x = np.array([3.0, 1.0], np.longdouble)
    assert m.normalize(x).dtype == np.float64
    assert m.normalize(np.array([3, 1], np.int8)).dtype == np.float64


def test_update_first_batch_and_merge_keep_eps():
    n = Normalizer.identity(2)
    n.eps = 1e-3
    assert n.update(np.zeros((0, 2))) is n
    b = np.array([[1.0, 2.0], [3.0, 6.0]])
    first = n.update(b)
    assert (first.mean.tolist(), first.var.tolist(), first.count, first.eps) == ([2.0, 4.0], [1.0, 4.0], 2.0, 1e-3)
    both = first.update([5.0, 10.0])  # one row, given flat
    allrows = np.vstack([b, [5.0, 10.0]])
    np.testing.assert_allclose(both.mean, allrows.mean(0), rtol=1e-12)
    np.testing.assert_allclose(both.var, allrows.var(0), rtol=1e-12)
    assert (both.count, both.eps) == (3.0, 1e-3)


# =====================================================================================
# The git revision a manifest records
# =====================================================================================

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false",
                           *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q")
    (r / "f.txt").write_text("one\n")
    _git(r, "add", "f.txt")
    _git(r, "commit", "-q", "-m", "one")
    return r, _git(r, "rev-parse", "HEAD")


@needs_git
def test_git_revision_clean_dirty_and_outside(repo, tmp_path, monkeypatch):
    r, head = repo
    outside = tmp_path / "outside"
    outside.mkdir()
    if subprocess.run(["git", "rev-parse"], cwd=outside, capture_output=True).returncode == 0:
        pytest.skip("the temporary folder lies inside a git checkout")
    monkeypatch.chdir(outside)  # the process's folder is not the one asked about
    monkeypatch.setattr(A, "__file__", str(outside / "artifact.py"))
    assert A.git_revision(r) == head
    (r / "new.txt").write_text("untracked\n")  # untracked files do not make the tree dirty
    assert A.git_revision(str(r)) == head
    (r / "f.txt").write_text("two\n")
    assert A.git_revision(r) == head + "-dirty"
    assert A.git_revision(outside) is None
    assert A.git_revision() is None  # the module's own folder, here outside git
    (r / "f.txt").write_text("one\n")
    monkeypatch.setattr(A, "__file__", str(r / "artifact.py"))
    assert A.git_revision() == head  # no folder given: the module's folder, not the process's


def test_git_revision_runs_two_bounded_git_calls(tmp_path, monkeypatch):
    calls = []

    def run(args, **kw):
        calls.append((args, kw))
        return subprocess.CompletedProcess(args, 0, stdout="abc123\n" if "rev-parse" in args else " M f\n")

    monkeypatch.setattr(subprocess, "run", run)
    assert A.git_revision(tmp_path) == "abc123-dirty"
    assert calls == [
        (["git", "rev-parse", "HEAD"], dict(cwd=tmp_path, capture_output=True, text=True, timeout=5, check=True)),
        (["git", "status", "--porcelain", "--untracked-files=no"],
         dict(cwd=tmp_path, capture_output=True, text=True, timeout=5)),
    ]

    def hangs(args, **kw):
        raise subprocess.TimeoutExpired(args, kw["timeout"])

    monkeypatch.setattr(subprocess, "run", hangs)
    assert A.git_revision(tmp_path) is None


# =====================================================================================
# The manifest, whole
# =====================================================================================


def test_base_manifest_whole(monkeypatch):
    def version(dist):
        if dist == "pynq":
            raise A.metadata.PackageNotFoundError(dist)
        return f"{dist}-1.0"

    monkeypatch.setattr(A.metadata, "version", version)
    monkeypatch.setattr(A, "git_revision", lambda cwd=None: "rev-x")
    assert base_manifest(SPEC, "bitstream", lanes=4, env="toy") == {
        "format": MANIFEST_FORMAT, "kind": "bitstream", "spec": SPEC.to_dict(), "spec_hash": SPEC.hash,
        "sizes": {"n_neurons": 8, "obs_dim": 2, "act_dim": 1, "substeps": 2, "mask_bits": SPEC.mask_bits},
        "evoconn_version": evoconn.__version__,
        "versions": {d: f"{d}-1.0" for d in VERSIONED if d != "pynq"},
        "python": platform.python_version(), "git_revision": "rev-x", "lanes": 4, "env": "toy",
    }


def test_spec_from_manifest_kinds_and_sizes():
    good = base_manifest(SPEC, "artifact")
    for kind in ("artifact", "bitstream", "synth"):
        assert spec_from_manifest({**good, "kind": kind}, "m.json") == SPEC
    assert spec_from_manifest({**good, "kind": "synth"}, "m.json", kind="synth") == SPEC
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "kind": "bitstream"}, "m.json", kind="artifact")
    assert str(e.value) == "m.json: manifest kind 'bitstream', expected 'artifact'"
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "kind": "weights"}, "m.json")
    assert str(e.value) == "m.json: manifest kind 'weights', expected one of artifact, bitstream, synth"
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({k: v for k, v in good.items() if k != "kind"}, "m.json", kind="synth")
    assert str(e.value) == "m.json: manifest kind None, expected 'synth'"
    no_sizes = {k: v for k, v in good.items() if k != "sizes"}
    assert spec_from_manifest(no_sizes, "m.json") == SPEC  # older manifests: no sizes recorded
    bad = {**good["sizes"], "n_neurons": 16}
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "sizes": bad}, "m.json")
    assert str(e.value) == (f"m.json: the sizes it records {bad} contradict its spec "
                            f"({manifest_sizes(SPEC)}); the manifest was edited")


# =====================================================================================
# Atomic writes
# =====================================================================================


def test_atomic_write_into_new_folders_through_a_hidden_temporary(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def replace(src, dst):
        seen.append((Path(src), Path(dst), sorted(p.name for p in Path(dst).parent.iterdir())))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "a" / "b" / "x.bin"
    atomic_write_bytes(str(target), b"\x00\x01data")
    atomic_write_bytes(target, b"again")  # the folder exists now
    atomic_write_text(tmp_path / "a" / "t.txt", "h\u00e9llo\n")
    assert target.read_bytes() == b"again"
    assert (tmp_path / "a" / "t.txt").read_bytes() == "h\u00e9llo\n".encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.bin"]
    for src, dst, _ in seen:
        assert src.parent == dst.parent and src.name.startswith(f".{dst.name}.") and src.name.endswith(".tmp")
    assert seen[0][2] == [seen[0][0].name]  # only the temporary was there before the rename


class Interrupt(BaseException):
    pass


def test_atomic_write_cleans_up_on_failure(tmp_path, monkeypatch):
    real = os.replace

    def fails(src, dst):
        raise OSError("no space")

    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(OSError, match="no space"):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []

    def interrupted_after(src, dst):  # a signal just after the rename: the temporary is gone already
        real(src, dst)
        raise Interrupt

    monkeypatch.setattr(os, "replace", interrupted_after)
    with pytest.raises(Interrupt):
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


# =====================================================================================
# Saving: the files, byte for byte
# =====================================================================================


def test_saved_files_whole(tmp_path, monkeypatch):
    tmps = []
    real = A._replace_dir

    def replace_dir(tmp, path):
        tmps.append((tmp, path))
        real(tmp, path)

    monkeypatch.setattr(A, "_replace_dir", replace_dir)
    p64 = probs(dtype=np.float64)
    art = Artifact(SPEC, masks(), p64, norm(), {"env": "toy"})
    out = save_artifact(str(tmp_path / "deep" / "er" / "a"), art)
    assert out == tmp_path / "deep" / "er" / "a"
    (tmp, path), = tmps
    assert tmp.parent == path.parent and tmp.name.startswith(".a.tmp-")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "masks.npz", "normalizer.npz", "probs.npz"]
    want = {"env": "toy", "format": MANIFEST_FORMAT, "kind": "artifact", "spec": SPEC.to_dict(),
            "spec_hash": SPEC.hash, "files": ["masks.npz", "probs.npz", "normalizer.npz"]}
    assert (out / "manifest.json").read_text() == json.dumps(want, indent=1, sort_keys=True) + "\n"
    with np.load(out / "probs.npz") as z:
        assert sorted(z.files) == sorted(p64)
        for k in p64:
            assert z[k].dtype == np.float32
            np.testing.assert_array_equal(z[k], p64[k].astype(np.float32))
    with np.load(out / "normalizer.npz") as z:
        assert {k: z[k].tolist() for k in z.files} == {"mean": [0.5, -1.25], "var": [2.0, 0.0],
                                                       "count": 37.0, "eps": 1e-6}
    back = load_artifact(out, expect=SPEC)
    assert back.manifest == want
    n = back.normalizer
    assert (n.mean.tolist(), n.var.tolist(), n.count, n.eps) == ([0.5, -1.25], [2.0, 0.0], 37.0, 1e-6)
    assert type(n.count) is float and n.mean.dtype == n.var.dtype == np.float64
    assert all(back.probs[k].dtype == np.float32 for k in back.probs)


def test_saving_only_masks(tmp_path):
    art = Artifact(SPEC, masks(), manifest={"kind": "artifact", "format": MANIFEST_FORMAT, "seed": 3})
    save_artifact(tmp_path / "a", art)
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["files"] == ["masks.npz"] and m["seed"] == 3
    back = load_artifact(tmp_path / "a")
    assert back.probs is None and back.normalizer is None
    assert list(back.masks) == ["mask_in", "mask_h", "mask_out"]


def test_save_refuses_bad_arrays_with_exact_messages(tmp_path):
    bad = {**masks(), "mask_in": masks()["mask_in"].astype(np.uint8)}
    with pytest.raises(ArtifactError) as e:
        save_artifact(tmp_path / "a", Artifact(SPEC, bad))
    assert str(e.value) == "masks: mask_in has dtype uint8, expected bool"
    with pytest.raises(ArtifactError) as e:
        save_artifact(tmp_path / "a", Artifact(SPEC, {**masks(), "mask_h": np.zeros((8, 7), bool)}))
    assert str(e.value) == "masks: mask_h has shape (8, 7), the spec needs (8, 8) (N=8, d=2, a=1)"
    p = {**probs(), "mask_out": np.zeros((8, 1), np.int8)}
    with pytest.raises(ArtifactError) as e:
        save_artifact(tmp_path / "a", Artifact(SPEC, masks(), p))
    assert str(e.value) == "probs: mask_out has dtype int8, expected float32"
    assert list(tmp_path.iterdir()) == []


class Stuck(RuntimeError):
    pass


def _rmtree_that_fails(real):
    def rmtree(p, ignore_errors=False, **kw):  # a folder that cannot be removed (a busy NFS file, say)
        if not ignore_errors:
            raise Stuck(f"cannot remove {p}")
    return rmtree


def test_a_folder_that_cannot_be_removed_does_not_mask_the_outcome(tmp_path, monkeypatch):
    save_artifact(tmp_path / "a", Artifact(SPEC, masks(seed=0), manifest={"seed": 0}))
    monkeypatch.setattr(shutil, "rmtree", _rmtree_that_fails(shutil.rmtree))
    save_artifact(tmp_path / "a", Artifact(SPEC, masks(seed=1), manifest={"seed": 1}))  # the old copy stays
    assert load_artifact(tmp_path / "a").manifest["seed"] == 1

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):  # the write's error, not the cleanup's
        save_artifact(tmp_path / "a", Artifact(SPEC, masks(seed=2), manifest={"seed": 2}))


# =====================================================================================
# Loading: every refusal, with its exact message
# =====================================================================================


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "a"
    save_artifact(path, Artifact(SPEC, masks(), probs(), norm(), base_manifest(SPEC, "artifact")))
    return path


def _edit_manifest(path, **fields):
    mf = path / "manifest.json"
    m = json.loads(mf.read_text())
    m.update(fields)
    mf.write_text(json.dumps(m))
    return m


def test_load_manifest_messages(tmp_path):
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError) as e:
        load_manifest(tmp_path)
    assert str(e.value) == f"{tmp_path / 'manifest.json'}: expected a JSON object"
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ArtifactError, match=r"manifest\.json: not valid JSON \("):
        load_manifest(tmp_path / "manifest.json")
    with pytest.raises(ArtifactError) as e:
        load_manifest(tmp_path / "other")
    assert str(e.value) == f"{tmp_path / 'other'}: missing (is this an evoconn artifact or build folder?)"


def test_load_refuses_other_kinds_specs_and_edits(saved):
    src = saved / "manifest.json"
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved, expect=Spec(n_neurons=8, obs_dim=3, act_dim=1, substeps=3))
    other = Spec(n_neurons=8, obs_dim=3, act_dim=1, substeps=3)
    assert str(e.value) == (f"{saved}: artifact is for spec {SPEC.hash[:16]}, expected {other.hash[:16]} "
                            "(differs in obs_dim: 2 vs 3, substeps: 2 vs 3)")
    _edit_manifest(saved, spec_hash="abc")
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved)
    assert str(e.value).startswith(f"{src}: spec_hash 'abc' does not match")
    _edit_manifest(saved, spec_hash=SPEC.hash, kind="bitstream")
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved)
    assert str(e.value) == f"{src}: manifest kind 'bitstream', expected 'artifact'"
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved / "masks.npz")
    assert str(e.value) == f"{saved / 'masks.npz'}: no such artifact directory"


def test_load_refuses_corrupt_and_pickled_files(saved):
    data = (saved / "masks.npz").read_bytes()
    (saved / "masks.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved)
    assert str(e.value) == f"{saved / 'masks.npz'}: truncated or corrupt (BadZipFile: File is not a zip file)"
    np.savez(saved / "masks.npz", **{**masks(), "mask_in": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ArtifactError, match=r"masks\.npz: truncated or corrupt \(ValueError: "):
        load_artifact(saved)


def test_listed_files_must_exist_and_present_files_are_read(saved):
    (saved / "probs.npz").unlink()
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved)
    assert str(e.value) == f"{saved / 'probs.npz'}: missing"
    _edit_manifest(saved, files=["masks.npz"])
    back = load_artifact(saved)  # normalizer.npz is there though not listed: it is read
    assert back.probs is None
    assert (back.normalizer.count, back.normalizer.eps) == (37.0, 1e-6)
    save_artifact(saved, Artifact(SPEC, masks(), probs(), manifest=base_manifest(SPEC, "artifact")))
    _edit_manifest(saved, files=["masks.npz"])
    back = load_artifact(saved)  # probs.npz is there though not listed: it is read
    assert back.normalizer is None
    for k, v in probs().items():
        np.testing.assert_array_equal(back.probs[k], v)
    (saved / "probs.npz").unlink()
    m = json.loads((saved / "manifest.json").read_text())
    del m["files"]
    (saved / "manifest.json").write_text(json.dumps(m))
    back = load_artifact(saved)  # a manifest without a file list: only masks
    assert back.probs is None and back.normalizer is None
    (saved / "normalizer.npz").write_bytes(b"")
    with pytest.raises(ArtifactError, match=r"normalizer\.npz: truncated or corrupt"):
        load_artifact(saved)


def test_normalizer_refusals_and_boundaries(saved):
    f = saved / "normalizer.npz"
    good = dict(mean=np.array([0.5, -1.25]), var=np.array([2.0, 0.0]), count=np.float64(37.0))
    np.savez(f, mean=good["mean"], var=good["var"])
    with pytest.raises(ArtifactError) as e:
        load_artifact(saved)
    assert str(e.value) == f"{f}: missing array 'count'"
    for mean, var in ((np.zeros(3), np.zeros(2)), (np.zeros(2), np.zeros(1))):
        np.savez(f, **{**good, "mean": mean, "var": var})
        with pytest.raises(ArtifactError) as e:
            load_artifact(saved)
        assert str(e.value) == f"{f}: mean/var have shapes {mean.shape}/{var.shape}, the spec needs (2,)"
    for mean, var in (([np.nan, 0.0], [1.0, 1.0]), ([0.0, np.inf], [1.0, 1.0]), ([0.0, 0.0], [1.0, -1e-12])):
        np.savez(f, **{**good, "mean": np.array(mean), "var": np.array(var)})
        with pytest.raises(ArtifactError) as e:
            load_artifact(saved)
        assert str(e.value) == f"{f}: mean must be finite and var non-negative"
    np.savez(f, **{**good, "mean": good["mean"].astype(np.float32)})  # no eps saved: the default
    n = load_artifact(saved).normalizer
    assert (n.mean.tolist(), n.var.tolist(), n.count, n.eps) == ([0.5, -1.25], [2.0, 0.0], 37.0, 1e-8)
    assert n.mean.dtype == np.float64 and type(n.count) is float and type(n.eps) is float
