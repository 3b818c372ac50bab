"""The artifact checks' exact messages and boundaries (numpy only), written against mutants that the
hub's fast tier let through (bench/results/mutation.md): a user meets these lines, so their
content is part of the contract; a probability of exactly 0 or 1 is a valid one."""

from __future__ import annotations

import numpy as np
import pytest

from evoconn.artifact import (
    MANIFEST_FORMAT,
    ArtifactError,
    _check_arrays,
    base_manifest,
    check_pairing,
    spec_from_manifest,
)
from evoconn.spec import Spec

SPEC = Spec(n_neurons=8, obs_dim=2, act_dim=1, substeps=2)


def test_spec_from_manifest_messages():
    good = base_manifest(SPEC, "artifact")
    assert spec_from_manifest(good, "m.json") == SPEC
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "format": "other-1"}, "m.json")
    assert str(e.value) == f"m.json: unknown manifest format 'other-1' (expected {MANIFEST_FORMAT!r})"
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "spec": {**good["spec"], "n_neurons": 3}}, "m.json")
    assert str(e.value).startswith("m.json: the manifest's spec is invalid: n_neurons must be at least 8")
    with pytest.raises(ArtifactError) as e:
        spec_from_manifest({**good, "spec_hash": "abc"}, "m.json")
    assert str(e.value) == (f"m.json: spec_hash 'abc' does not match the hash of the spec it records ({SPEC.hash}); "
                            "the manifest was edited or written by another arithmetic version")


def test_check_pairing_message_names_both_hashes_and_the_fields():
    other = Spec(n_neurons=8, obs_dim=2, act_dim=1, substeps=3)
    a, b = base_manifest(SPEC, "artifact"), base_manifest(other, "bitstream")
    check_pairing(a, dict(a))  # same spec: no error
    with pytest.raises(ArtifactError) as e:
        check_pairing(a, b)
    assert str(e.value) == (f"the artifact (spec hash {SPEC.hash[:16]}) and the bitstream (spec hash "
                            f"{other.hash[:16]}) were made for different specs; differs in substeps: 2 vs 3")
    with pytest.raises(ArtifactError) as e:  # manifests without a readable spec: no field list
        check_pairing({"spec_hash": "x" * 20}, {"spec_hash": "y" * 20}, "checkpoint", "core")
    assert str(e.value) == (f"the checkpoint (spec hash {'x' * 16}) and the core (spec hash {'y' * 16}) "
                            "were made for different specs")


def test_check_arrays_messages_and_the_probability_bounds():
    shapes = SPEC.mask_shapes
    with pytest.raises(ArtifactError) as e:
        _check_arrays(SPEC, {"mask_in": np.zeros(shapes["mask_in"], bool)}, "masks", "masks.npz")
    assert str(e.value) == "masks.npz: missing arrays ['mask_h', 'mask_out']"
    probs = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    probs["mask_h"][:] = 1.0
    _check_arrays(SPEC, probs, "probs", "probs.npz")  # exactly 0 and exactly 1 are probabilities
    with pytest.raises(ArtifactError) as e:
        _check_arrays(SPEC, {**probs, "mask_out": np.zeros(shapes["mask_out"], np.int8)}, "probs", "probs.npz")
    assert str(e.value) == "probs.npz: mask_out has dtype int8, expected float32"
    for bad in (-1e-7, 1.0000001, np.nan):
        p = {**probs, "mask_in": np.full(shapes["mask_in"], bad, np.float64)}
        with pytest.raises(ArtifactError, match=r"probs.npz: mask_in holds values outside \[0, 1\]"):
            _check_arrays(SPEC, p, "probs", "probs.npz")
