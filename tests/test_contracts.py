"""Contracts pinned against committed copies tied to their version numbers, and whole-spec equality.

See :mod:`tests.contracts` for the tables. The mutation tests below move a register the way a
refactor would, consistently everywhere (every part reads ``RegisterMap``), and show that the
parts still agree with each other while the pinned table does not.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from evoconn import artifact
from evoconn.artifact import Artifact, ArtifactError, base_manifest, check_pairing, load_artifact, save_artifact
from evoconn.host.bus import RECORD_FORMAT, FakeBus
from evoconn.host.core import CoreError, RegisterCore
from evoconn.spec import RegisterMap, Spec, numpy_env_step, regmap

from . import contracts

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_ARTIFACT = ROOT / "tests" / "host" / "data" / "rtl_n16_artifact"
COMMITTED_SESSION = ROOT / "tests" / "host" / "data" / "rtl_n16_session.jsonl"


@pytest.mark.parametrize("name", sorted(contracts.CONTRACTS))
def test_contract_equals_its_committed_copy(name):
    msg = contracts.check(name)
    assert msg is None, msg


def test_every_contract_has_a_committed_copy_and_nothing_else_is_pinned():
    pinned = {p.stem for p in contracts.PINNED.glob("*.json")}
    assert pinned == set(contracts.CONTRACTS) == set(contracts.BUMP)


# --- mutations: each must fail its pin, with the message that says what to do ------------------


def _moved_regs(a: str, b: str):
    regs = {r[0]: r for r in regmap.REGISTER_LAYOUT}
    ra, rb = regs[a], regs[b]
    swap = {a: (a, rb[1], *ra[2:]), b: (b, ra[1], *rb[2:])}
    return tuple(swap.get(r[0], r) for r in regmap.REGISTER_LAYOUT)


def test_a_register_moved_consistently_everywhere_fails_the_pin(monkeypatch):
    spec = Spec(n_neurons=16, obs_dim=3, act_dim=1, substeps=4)
    moved = _moved_regs("CYCLES", "SPIKES")
    monkeypatch.setattr(regmap, "REGISTER_LAYOUT", moved)  # the one layout every part derives from
    monkeypatch.setattr(regmap, "REGISTER_OFFSETS", {name: off for name, off, *_ in moved})
    assert spec.register_map(4)["CYCLES"].offset == 0x30  # moved
    # the parts still agree with each other: the host over the bus model steps exactly like numpy
    rng = np.random.default_rng(5)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    core = RegisterCore(FakeBus(spec, 4), spec)
    core.load_masks(masks)
    core.reset_state(np.zeros(spec.n_neurons, np.int64))
    xq = spec.quantize_obs(np.array([1.0, -0.5, 0.25]))
    out = core.step(xq)
    state = {k: np.zeros((1, spec.n_neurons), np.int64) for k in ("v", "isyn", "rate", "spike")}
    _, want, _ = numpy_env_step(spec, {k: v[None] for k, v in masks.items()}, state, xq[None])
    np.testing.assert_array_equal(out, want[0])
    # ... but every bitstream built before the move is now read at the wrong address
    msg = contracts.check("register_map")
    assert msg is not None and "bump the version" in msg and "CORE_VERSION" in msg, msg
    assert "offset" in msg


def test_a_window_reordered_fails_the_pin(monkeypatch):
    orig = RegisterMap.__init__

    def init(self, spec, lanes=16):
        orig(self, spec, lanes)
        a, b = self.windows["OBS"], self.windows["OUT"]
        self.windows["OBS"] = dataclasses.replace(a, offset=b.offset)
        self.windows["OUT"] = dataclasses.replace(b, offset=a.offset)

    monkeypatch.setattr(RegisterMap, "__init__", init)
    msg = contracts.check("register_map")
    assert msg is not None and "bump the version" in msg, msg


def test_a_version_bump_without_a_re_pin_fails(monkeypatch):
    major, minor = contracts.CORE_VERSION >> 16, contracts.CORE_VERSION & 0xFFFF
    monkeypatch.setattr(contracts, "CORE_VERSION", (major << 16) | (minor + 1))
    msg = contracts.check("register_map")
    assert msg is not None and "re-pin it for the new version" in msg and f"{major}.{minor + 1}" in msg, msg


def test_an_artifact_layout_change_fails_the_pin(monkeypatch):
    orig = np.savez

    def savez(file, **arrays):  # a refactor that stores probabilities as float64
        if str(file).endswith("probs.npz"):
            arrays = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
        return orig(file, **arrays)

    monkeypatch.setattr(artifact.np, "savez", savez)
    msg = contracts.check("artifact_format")
    assert msg is not None and "MANIFEST_FORMAT" in msg and "float64" in msg, msg


def test_a_changed_cycle_constant_fails_the_pin(monkeypatch):
    monkeypatch.setattr(contracts, "CycleModel", lambda spec, lanes: dataclasses.replace(
        __import__("evoconn.spec", fromlist=["CycleModel"]).CycleModel(spec, lanes), output_overhead=2))
    msg = contracts.check("cycle_model")
    assert msg is not None and "bump the version" in msg, msg


def test_check_reports_a_missing_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(contracts, "PINNED", tmp_path)
    assert "no committed copy" in contracts.check("spec_hash")


# --- the committed files made by earlier code still read as the pinned formats say ----------------


def test_the_committed_artifact_has_the_pinned_layout():
    pinned = json.loads((contracts.PINNED / "artifact_format.json").read_text())["table"]
    art = load_artifact(COMMITTED_ARTIFACT)
    manifest = json.loads((COMMITTED_ARTIFACT / "manifest.json").read_text())
    assert manifest["format"] == artifact.MANIFEST_FORMAT
    assert sorted(manifest["files"]) == sorted(pinned["manifest_files"])
    assert sorted(manifest["spec"]) == pinned["spec_keys"]
    hashes = json.loads((contracts.PINNED / "spec_hash.json").read_text())["table"]
    assert art.spec.hash == manifest["spec_hash"] == hashes["pendulum_n16_k4_l4"]["hash"]
    for fname, arrays in pinned["arrays"].items():
        with np.load(COMMITTED_ARTIFACT / fname) as z:
            assert sorted(z.files) == sorted(arrays), fname
            for k, lay in arrays.items():
                assert str(z[k].dtype) == lay["dtype"], (fname, k)


def test_the_committed_recording_has_the_pinned_format():
    pinned = json.loads((contracts.PINNED / "recording_format.json").read_text())["table"]
    lines = COMMITTED_SESSION.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == pinned["header_format"] == RECORD_FORMAT
    assert set(pinned["header_keys"]) <= set(header)
    for line in lines[1:]:
        rec = json.loads(line)
        keys = sorted(k for k in rec if k != "error")
        assert keys == pinned["ops"][rec["op"]], rec


# --- whole-spec equality: a spec that differs in any one field is a different spec everywhere ----

BASE = dict(n_neurons=64, obs_dim=5, act_dim=2, n_exc=32, substeps=8, state_width=18, state_frac=10,
            obs_width=16, rate_width=18, rate_frac=15, syn_leak=(4, 5), mem_leak=(5, 6), out_leak=(5, 6),
            rec_weight_log2=-1, out_width=32)
ONE_FIELD = dict(n_neurons=128, obs_dim=6, act_dim=3, n_exc=31, substeps=9, state_width=19, state_frac=9,
                 obs_width=15, rate_width=19, rate_frac=14, syn_leak=(4, 6), mem_leak=(5, 7), out_leak=(5, 7),
                 rec_weight_log2=-2, out_width=31)


def test_the_variants_cover_every_spec_field():
    fields = {f.name for f in dataclasses.fields(Spec)}
    assert set(BASE) == set(ONE_FIELD) == fields
    assert Spec(**BASE).to_dict() == {k: list(v) if isinstance(v, tuple) else v for k, v in BASE.items()}


@pytest.mark.parametrize("field", sorted(ONE_FIELD))
def test_a_spec_differing_in_one_field_is_refused_everywhere(field, tmp_path):
    a, b = Spec(**BASE), Spec(**{**BASE, field: ONE_FIELD[field]})
    assert a != b and a.hash != b.hash and a.hash32 != b.hash32
    assert set(a.diff(b)) == {field}
    assert a.canonical_json() != b.canonical_json()
    # manifests (checkpoint vs bitstream)
    with pytest.raises(ArtifactError, match=field):
        check_pairing(base_manifest(a, "artifact"), base_manifest(b, "bitstream"))
    # an artifact loaded for the other spec
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < 0.5 for k, s in a.mask_shapes.items()}
    path = save_artifact(tmp_path / "a", Artifact(a, masks, manifest=base_manifest(a, "artifact")))
    assert load_artifact(path, expect=a).spec == a
    with pytest.raises(ArtifactError, match=field):
        load_artifact(path, expect=b)
    # a core built for the other spec (SPEC_HASH differs, every size register may agree)
    with pytest.raises(CoreError):
        RegisterCore(FakeBus(b, 16 if b.n_neurons % 16 == 0 else 1), a)
