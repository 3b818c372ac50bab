"""The contracts that outlive one build, as tables, and their committed copies (issue 18).

Every part of the stack takes register addresses from ``RegisterMap``, file layouts from
``evoconn.artifact`` and the recording format from ``evoconn.host.bus``, so a change made
consistently everywhere passes every test that compares the parts with each other, yet it breaks
every bitstream, artifact and recording made before it. Each table below is computed from the code
for fixed reference sizes and compared, whole, with a copy committed under
``tests/data/contracts/`` that records the version number it belongs to. A change of a table
without a change of its version fails; so does a new version without a re-pinned copy.

To re-pin after a deliberate change (and a version bump)::

    .venv/bin/python -m tests.contracts --pin

This module reads only the repository; it imports numpy and the hub (board-safe).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from evoconn import artifact
from evoconn.spec import (
    ARITHMETIC_VERSION,
    CORE_ID,
    CORE_VERSION,
    STATE_FIELDS,
    Control,
    CycleModel,
    Spec,
    Status,
)

PINNED = Path(__file__).resolve().parent / "data" / "contracts"

#: The reference sizes whose tables are pinned: the paper's hopper core, a small hopper core and
#: the N = 16 core of the committed RTL recording, each with the lanes it is built with.
REFERENCE = (
    ("hopper_n256_l16", dict(n_neurons=256, obs_dim=11, act_dim=3), 16),
    ("hopper_n64_l16", dict(n_neurons=64, obs_dim=11, act_dim=3), 16),
    ("pendulum_n16_k4_l4", dict(n_neurons=16, obs_dim=3, act_dim=1, substeps=4), 4),
)


def _version_str(v: int) -> str:
    return f"{v >> 16}.{v & 0xFFFF}"


def register_map_table() -> dict[str, Any]:
    """Offsets, widths, access and reset values of every register and window (docs excluded)."""
    out: dict[str, Any] = {
        "core_id": CORE_ID,
        "status_bits": {b.name: int(b) for b in Status},
        "control_bits": {b.name: int(b) for b in Control},
        "state_fields": list(STATE_FIELDS),
        "maps": {},
    }
    for name, sizes, lanes in REFERENCE:
        rmap = Spec(**sizes).register_map(lanes)
        rows = [{k: v for k, v in row.items() if k != "doc"} for row in rmap.table()]
        out["maps"][name] = {"size": rmap.size, "addr_width": rmap.addr_width, "rows": rows}
    return out


def cycle_model_table() -> dict[str, Any]:
    """The cycle model's phase counts for the reference sizes (the RTL is built to match them)."""
    out = {}
    for name, sizes, lanes in REFERENCE:
        spec = Spec(**sizes)
        cm = CycleModel(spec, lanes)
        k = spec.substeps
        out[name] = {
            "overheads": {f.name: getattr(cm, f.name) for f in dataclasses.fields(cm) if f.name.endswith("_overhead")},
            "input": cm.input_cycles(),
            "substep_no_spikes": cm.substep_cycles(0),
            "substep_5_spikes": cm.substep_cycles(5),
            "output": cm.output_cycles(),
            "env_step_silent": cm.env_step_cycles(0, [0] * k),
            "env_step_ramp": cm.env_step_cycles(3, [i % 7 for i in range(k)]),
        }
    return out


def spec_hash_table() -> dict[str, Any]:
    """The canonical JSON and hash of each reference spec (what SPEC_HASH and manifests carry)."""
    return {name: {"canonical_json": Spec(**sizes).canonical_json(), "hash": Spec(**sizes).hash,
                   "hash32": Spec(**sizes).hash32} for name, sizes, _ in REFERENCE}


def _npz_layout(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        return {k: {"dtype": str(z[k].dtype), "shape": list(z[k].shape)} for k in sorted(z.files)}


def artifact_format_table() -> dict[str, Any]:
    """The files of an artifact, the arrays in each (dtype, shape) and the manifest's keys."""
    name, sizes, _ = REFERENCE[2]
    spec = Spec(**sizes)
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    probs = {k: np.full(s, 0.5, np.float32) for k, s in spec.mask_shapes.items()}
    norm = artifact.Normalizer.identity(spec.obs_dim).update(rng.normal(size=(4, spec.obs_dim)))
    art = artifact.Artifact(spec, masks, probs, norm, artifact.base_manifest(spec, "artifact", env="toy"))
    with tempfile.TemporaryDirectory() as tmp:
        path = artifact.save_artifact(Path(tmp) / "a", art)
        manifest = json.loads((path / "manifest.json").read_text())
        files = sorted(p.name for p in path.iterdir())
        layout = {f: _npz_layout(path / f) for f in files if f.endswith(".npz")}
    return {
        "reference": name,
        "files": files,
        "manifest_files": manifest["files"],
        "manifest_keys": sorted(manifest),
        "manifest_sizes_keys": sorted(manifest["sizes"]),
        "spec_keys": sorted(manifest["spec"]),
        "arrays": layout,
    }


def recording_format_table() -> dict[str, Any]:
    """The header and the keys of each transaction kind of a bus recording (one session, fake bus)."""
    from evoconn.host.bus import FakeBus, RecordingBus
    from evoconn.host.core import RegisterCore

    name, sizes, lanes = REFERENCE[2]
    spec = Spec(**sizes)
    rng = np.random.default_rng(0)
    masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.jsonl"
        with RecordingBus(FakeBus(spec, lanes), path, spec_hash=spec.hash, backend="fake") as bus:
            core = RegisterCore(bus, spec)
            core.load_masks(masks)
            core.reset_state(np.arange(spec.n_neurons) % spec.threshold)
            core.step(spec.quantize_obs(np.array([0.5, -0.25, 1.0])))
            bus.read_block(spec.register_map(lanes)["SPIKE"].offset, spec.row_words)
        lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    ops: dict[str, list[str]] = {}
    for line in lines[1:]:
        rec = json.loads(line)
        ops.setdefault(rec["op"], sorted(rec))
    return {"reference": name, "header_format": header["format"], "header_keys": sorted(header),
            "ops": dict(sorted(ops.items())), "compact_separators": '":' in lines[1] and ", " not in lines[1]}


#: name -> (version the table belongs to, the function that computes it). One place for all.
CONTRACTS = {
    "register_map": (lambda: _version_str(CORE_VERSION), register_map_table),
    "cycle_model": (lambda: _version_str(CORE_VERSION), cycle_model_table),
    "spec_hash": (lambda: f"{ARITHMETIC_VERSION}/core-{_version_str(CORE_VERSION)}", spec_hash_table),
    "artifact_format": (lambda: artifact.MANIFEST_FORMAT, artifact_format_table),
    "recording_format": (lambda: __import__("evoconn.host.bus", fromlist=["RECORD_FORMAT"]).RECORD_FORMAT,
                         recording_format_table),
}

#: What to bump for each contract.
BUMP = {
    "register_map": "CORE_VERSION (evoconn.spec)",
    "cycle_model": "CORE_VERSION (evoconn.spec)",
    "spec_hash": "ARITHMETIC_VERSION (evoconn.spec)",
    "artifact_format": "MANIFEST_FORMAT (evoconn.artifact)",
    "recording_format": "RECORD_FORMAT (evoconn.host.bus)",
}


def current(name: str) -> dict[str, Any]:
    version, table = CONTRACTS[name]
    # through JSON, so that tuples and lists, int keys and str keys compare as they are stored
    return json.loads(json.dumps({"contract": name, "version": version(), "table": table()}))


def _first_differences(a: Any, b: Any, where: str = "", limit: int = 5) -> list[str]:
    if type(a) is not type(b):
        return [f"{where or '.'}: {a!r} vs {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: {'missing now' if k not in b else 'new'}")
            else:
                out += _first_differences(a[k], b[k], f"{where}.{k}", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} entries pinned, {len(b)} now"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += _first_differences(x, y, f"{where}[{i}]", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    return [] if a == b else [f"{where}: pinned {a!r}, now {b!r}"]


def check(name: str, now: dict[str, Any] | None = None) -> str | None:
    """``None`` if the contract equals its committed copy, else one message saying what to do."""
    now = current(name) if now is None else now
    path = PINNED / f"{name}.json"
    if not path.exists():
        return f"{name}: no committed copy at {path}; pin it (python -m tests.contracts --pin)"
    pinned = json.loads(path.read_text())
    if pinned["version"] != now["version"]:
        return (f"{name}: the version is {now['version']} but the committed copy is for {pinned['version']}: "
                "re-pin it for the new version (python -m tests.contracts --pin) and commit it")
    if pinned["table"] != now["table"]:
        diff = "; ".join(_first_differences(pinned["table"], now["table"]))
        return (f"{name} changed while its version stayed {now['version']}: bump the version "
                f"({BUMP[name]}) and re-pin (python -m tests.contracts --pin). First differences: {diff}")
    return None


def pin() -> None:
    PINNED.mkdir(parents=True, exist_ok=True)
    for name in CONTRACTS:
        (PINNED / f"{name}.json").write_text(json.dumps(current(name), indent=1, sort_keys=True) + "\n")
        print(f"pinned {PINNED / (name + '.json')}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--pin"]:
        sys.exit("usage: python -m tests.contracts --pin")
    pin()
