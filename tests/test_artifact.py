"""Artifacts round-trip, are written atomically, and bad ones fail with a message naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoconn.artifact import (
    Artifact,
    ArtifactError,
    Normalizer,
    base_manifest,
    check_pairing,
    load_artifact,
    save_artifact,
)
from evoconn.spec import Spec

from .conftest import random_masks


def make(spec=None, seed=0):
    spec = spec or Spec(n_neurons=16, obs_dim=3, act_dim=2)
    rng = np.random.default_rng(seed)
    probs = {k: rng.random(s).astype(np.float32) for k, s in spec.mask_shapes.items()}
    norm = Normalizer.identity(spec.obs_dim).update(rng.normal(size=(50, spec.obs_dim)))
    return Artifact(spec, random_masks(spec, rng), probs, norm,
                    base_manifest(spec, "artifact", env="toy", seed=seed))


def test_round_trip(tmp_path):
    art = make()
    save_artifact(tmp_path / "a", art)
    back = load_artifact(tmp_path / "a", expect=art.spec)
    assert back.spec == art.spec
    for k in art.masks:
        np.testing.assert_array_equal(back.masks[k], art.masks[k])
        np.testing.assert_array_equal(back.probs[k], art.probs[k])
    np.testing.assert_array_equal(back.normalizer.mean, art.normalizer.mean)
    np.testing.assert_array_equal(back.normalizer.var, art.normalizer.var)
    assert back.manifest["env"] == "toy" and back.manifest["spec_hash"] == art.spec.hash
    assert "numpy" in back.manifest["versions"]


def test_overwrite_is_atomic_and_leaves_no_temporaries(tmp_path):
    save_artifact(tmp_path / "a", make(seed=0))
    save_artifact(tmp_path / "a", make(seed=1))
    assert load_artifact(tmp_path / "a").manifest["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_a_crash_mid_write_keeps_the_old_artifact(tmp_path, monkeypatch):
    save_artifact(tmp_path / "a", make(seed=0))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(tmp_path / "a", make(seed=1))
    monkeypatch.undo()
    assert load_artifact(tmp_path / "a").manifest["seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_normalizer_update_equals_batch_statistics():
    rng = np.random.default_rng(3)
    data = rng.normal(2.0, 3.0, size=(300, 4))
    n = Normalizer.identity(4)
    np.testing.assert_array_equal(n.normalize(data[:2]), data[:2] / np.sqrt(1 + 1e-8))
    for chunk in np.array_split(data, 7):
        n = n.update(chunk)
    np.testing.assert_allclose(n.mean, data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(n.var, data.var(0), rtol=1e-10)
    assert n.count == 300


def corrupt(path, name, how):
    f = path / name
    if how == "truncate":
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    elif how == "delete":
        f.unlink()
    elif how == "garbage":
        f.write_bytes(b"not a zip file at all")


@pytest.mark.parametrize("name,how,msg", [
    ("masks.npz", "truncate", r"masks\.npz: truncated or corrupt"),
    ("masks.npz", "delete", r"masks\.npz: missing"),
    ("probs.npz", "garbage", r"probs\.npz: truncated or corrupt"),
    ("normalizer.npz", "delete", r"normalizer\.npz: missing"),
    ("manifest.json", "truncate", r"manifest\.json: not valid JSON"),
    ("manifest.json", "delete", r"manifest\.json: missing"),
])
def test_damaged_files_are_named(tmp_path, name, how, msg):
    save_artifact(tmp_path / "a", make())
    corrupt(tmp_path / "a", name, how)
    with pytest.raises(ArtifactError, match=msg):
        load_artifact(tmp_path / "a")


def test_wrong_shapes_dtypes_and_values_are_named(tmp_path):
    art = make()
    save_artifact(tmp_path / "a", art)
    m = dict(art.masks)
    m["mask_h"] = m["mask_h"][:8]
    np.savez(tmp_path / "a" / "masks.npz", **m)
    with pytest.raises(ArtifactError, match=r"masks\.npz: mask_h has shape \(8, 16\), the spec needs \(16, 16\)"):
        load_artifact(tmp_path / "a")
    np.savez(tmp_path / "a" / "masks.npz", **{k: v.astype(np.uint8) for k, v in art.masks.items()})
    with pytest.raises(ArtifactError, match="mask_in has dtype uint8, expected bool"):
        load_artifact(tmp_path / "a")
    save_artifact(tmp_path / "a", art)
    np.savez(tmp_path / "a" / "probs.npz", **{k: v * 2 for k, v in art.probs.items()})
    with pytest.raises(ArtifactError, match=r"probs\.npz: mask_in holds values outside \[0, 1\]"):
        load_artifact(tmp_path / "a")


def test_edited_manifest_and_other_spec_are_refused(tmp_path):
    art = make()
    save_artifact(tmp_path / "a", art)
    mf = tmp_path / "a" / "manifest.json"
    m = json.loads(mf.read_text())
    m["spec"]["substeps"] = 20
    mf.write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="does not match the hash of the spec it records"):
        load_artifact(tmp_path / "a")
    save_artifact(tmp_path / "a", art)
    with pytest.raises(ArtifactError, match="differs in n_neurons: 16 vs 32"):
        load_artifact(tmp_path / "a", expect=Spec(n_neurons=32, obs_dim=3, act_dim=2))
    with pytest.raises(ArtifactError, match="no such artifact directory"):
        load_artifact(tmp_path / "nope")


def test_pairing_of_checkpoint_and_bitstream():
    a = base_manifest(Spec(), "artifact")
    b = base_manifest(Spec(), "bitstream", lanes=16)
    check_pairing(a, b)
    c = base_manifest(Spec(obs_dim=17, act_dim=6), "bitstream")
    with pytest.raises(ArtifactError, match="different specs; differs in obs_dim: 11 vs 17, act_dim: 3 vs 6"):
        check_pairing(a, c)


def test_manifest_physics_reads_the_old_key():
    from evoconn.artifact import manifest_physics

    assert manifest_physics({"physics": "spring"}) == "spring"
    assert manifest_physics({"backend": "generalized"}) == "generalized"  # written before the rename
    assert manifest_physics({"physics": "mjx", "backend": "spring"}) == "mjx"
    assert manifest_physics({"env": "toy"}) is None
