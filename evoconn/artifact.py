"""Trained networks on disk, and the manifest that travels with every artifact and bitstream.

An artifact is a directory::

    manifest.json    spec (and its hash), sizes, env, physics, library versions, seed, git revision, ...
    masks.npz        mask_in (2d, N), mask_h (N, N), mask_out (N, a), bool
    probs.npz        the same keys, float32 connection probabilities (when trained by EC)
    normalizer.npz   mean, var (d,) float64 and count: the observation normalizer

Loading validates every file against the manifest's spec and names the file and what is wrong.
Writing is atomic: the directory is assembled beside its target and renamed into place, so a
crash never leaves half an artifact. Imports numpy and the standard library only (board-safe).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from evoconn.spec import Spec, SpecError

__all__ = [
    "Artifact",
    "ArtifactError",
    "Normalizer",
    "atomic_write_bytes",
    "atomic_write_text",
    "base_manifest",
    "check_pairing",
    "load_artifact",
    "manifest_physics",
    "save_artifact",
]

MANIFEST_FORMAT = "evoconn-manifest-1"
MASK_KEYS = ("mask_in", "mask_h", "mask_out")
#: What a manifest can describe: a trained network, a bitstream, a synthesis report.
MANIFEST_KINDS = ("artifact", "bitstream", "synth")


class ArtifactError(ValueError):
    """An artifact (or manifest) that is missing, truncated, corrupt or for another spec."""


# =====================================================================================
# Observation normalizer
# =====================================================================================


@dataclasses.dataclass
class Normalizer:
    """Running mean and variance of observations (Welford / Chan's parallel update).

    ``normalize(x) = (x - mean) / sqrt(var + eps)``, no clipping (the paper's rule). A fresh
    normalizer (count 0) has mean 0 and var 1, so generation 1 sees raw observations.
    """

    mean: np.ndarray
    var: np.ndarray
    count: float = 0.0
    eps: float = 1e-8

    @classmethod
    def identity(cls, dim: int) -> Normalizer:
        return cls(mean=np.zeros(dim), var=np.ones(dim), count=0.0)

    def normalize(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - self.mean) / np.sqrt(self.var + self.eps)

    def update(self, batch: Any) -> Normalizer:
        """A new normalizer with the rows of ``batch`` (n, d) merged in (Chan et al.)."""
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, self.mean.shape[0])
        n = batch.shape[0]
        if n == 0:
            return self
        b_mean = batch.mean(axis=0)
        b_var = batch.var(axis=0)
        if self.count == 0:
            return Normalizer(b_mean, b_var, float(n), self.eps)
        tot = self.count + n
        delta = b_mean - self.mean
        mean = self.mean + delta * n / tot
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / tot
        return Normalizer(mean, m2 / tot, float(tot), self.eps)


# =====================================================================================
# Manifests
# =====================================================================================


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with '-dirty' if the tree has changes), or None outside git."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def base_manifest(spec: Spec, kind: str, **extra: Any) -> dict[str, Any]:
    """The fields every manifest carries: kind, spec and hash, sizes, versions, git revision."""
    from evoconn import __version__

    versions = {name: _version(name) for name in
                ("numpy", "jax", "brax", "optax", "amaranth", "cocotb", "pynq")}
    return {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "spec": spec.to_dict(),
        "spec_hash": spec.hash,
        "sizes": manifest_sizes(spec),
        "evoconn_version": __version__,
        "versions": {k: v for k, v in versions.items() if v is not None},
        "python": platform.python_version(),
        "git_revision": git_revision(),
        **extra,
    }


def manifest_sizes(spec: Spec) -> dict[str, int]:
    """The sizes a manifest records beside its spec (for a reader who does not derive them)."""
    return {"n_neurons": spec.n_neurons, "obs_dim": spec.obs_dim, "act_dim": spec.act_dim,
            "substeps": spec.substeps, "mask_bits": spec.mask_bits}


def spec_from_manifest(manifest: dict[str, Any], source: str, kind: str | None = None) -> Spec:
    """The spec a manifest names, checked against its recorded hash, its ``kind`` (one of
    :data:`MANIFEST_KINDS`, or exactly ``kind`` when given) and the ``sizes`` it records."""
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ArtifactError(f"{source}: unknown manifest format {manifest.get('format')!r} "
                            f"(expected {MANIFEST_FORMAT!r})")
    got = manifest.get("kind")
    if got not in MANIFEST_KINDS or (kind is not None and got != kind):
        want = repr(kind) if kind is not None else "one of " + ", ".join(MANIFEST_KINDS)
        raise ArtifactError(f"{source}: manifest kind {got!r}, expected {want}")
    try:
        spec = Spec.from_dict(manifest["spec"])
    except (KeyError, TypeError, SpecError) as e:
        raise ArtifactError(f"{source}: the manifest's spec is invalid: {e}") from None
    if manifest.get("spec_hash") != spec.hash:
        raise ArtifactError(
            f"{source}: spec_hash {manifest.get('spec_hash')!r} does not match the hash of the "
            f"spec it records ({spec.hash}); the manifest was edited or written by another "
            "arithmetic version"
        )
    if "sizes" in manifest and manifest["sizes"] != manifest_sizes(spec):
        raise ArtifactError(f"{source}: the sizes it records {manifest['sizes']} contradict its spec "
                            f"({manifest_sizes(spec)}); the manifest was edited")
    return spec


def check_pairing(a: dict[str, Any], b: dict[str, Any], what_a: str = "artifact",
                  what_b: str = "bitstream") -> None:
    """Refuse to pair two manifests (e.g. a checkpoint and a bitstream) for different specs."""
    if a.get("spec_hash") == b.get("spec_hash"):
        return
    diff = ""
    try:
        sa, sb = Spec.from_dict(a["spec"]), Spec.from_dict(b["spec"])
        diff = "; differs in " + ", ".join(f"{k}: {x} vs {y}" for k, (x, y) in sa.diff(sb).items())
    except (KeyError, TypeError, SpecError):
        pass
    raise ArtifactError(
        f"the {what_a} (spec hash {str(a.get('spec_hash'))[:16]}) and the {what_b} (spec hash "
        f"{str(b.get('spec_hash'))[:16]}) were made for different specs{diff}"
    )


# =====================================================================================
# Atomic writes
# =====================================================================================


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _replace_dir(tmp: Path, path: Path) -> None:
    """Move the finished directory ``tmp`` to ``path``, replacing what was there."""
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


# =====================================================================================
# Artifacts
# =====================================================================================


@dataclasses.dataclass
class Artifact:
    """A trained network: spec, masks, optional probabilities and normalizer, and a manifest."""

    spec: Spec
    masks: dict[str, np.ndarray]
    probs: dict[str, np.ndarray] | None = None
    normalizer: Normalizer | None = None
    manifest: dict[str, Any] = dataclasses.field(default_factory=dict)


def _check_arrays(spec: Spec, arrays: dict[str, np.ndarray], kind: str, fname: str) -> None:
    shapes = spec.mask_shapes
    missing = [k for k in MASK_KEYS if k not in arrays]
    if missing:
        raise ArtifactError(f"{fname}: missing arrays {missing}")
    for k in MASK_KEYS:
        arr = arrays[k]
        if arr.shape != shapes[k]:
            raise ArtifactError(f"{fname}: {k} has shape {arr.shape}, the spec needs {shapes[k]} "
                                f"(N={spec.n_neurons}, d={spec.obs_dim}, a={spec.act_dim})")
        if kind == "masks" and arr.dtype != np.bool_:
            raise ArtifactError(f"{fname}: {k} has dtype {arr.dtype}, expected bool")
        if kind == "probs":
            if arr.dtype not in (np.float32, np.float64):
                raise ArtifactError(f"{fname}: {k} has dtype {arr.dtype}, expected float32")
            if not (np.all(np.isfinite(arr)) and np.all((arr >= 0) & (arr <= 1))):
                raise ArtifactError(f"{fname}: {k} holds values outside [0, 1]")


def save_artifact(path: str | os.PathLike, art: Artifact) -> Path:
    """Write ``art`` to the directory ``path`` atomically; returns the path."""
    path = Path(path)
    _check_arrays(art.spec, art.masks, "masks", "masks")
    if art.probs is not None:
        _check_arrays(art.spec, art.probs, "probs", "probs")
    manifest = dict(art.manifest)
    manifest.setdefault("format", MANIFEST_FORMAT)
    manifest["spec"] = art.spec.to_dict()
    manifest["spec_hash"] = art.spec.hash
    manifest.setdefault("kind", "artifact")
    manifest["files"] = ["masks.npz"] + (["probs.npz"] if art.probs is not None else []) + (
        ["normalizer.npz"] if art.normalizer is not None else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        np.savez(tmp / "masks.npz", **{k: np.asarray(art.masks[k], bool) for k in MASK_KEYS})
        if art.probs is not None:
            np.savez(tmp / "probs.npz", **{k: np.asarray(art.probs[k], np.float32) for k in MASK_KEYS})
        if art.normalizer is not None:
            n = art.normalizer
            np.savez(tmp / "normalizer.npz", mean=n.mean, var=n.var, count=np.float64(n.count),
                     eps=np.float64(n.eps))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise ArtifactError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise ArtifactError(f"{path}: truncated or corrupt ({type(e).__name__}: {e})") from None


def manifest_physics(manifest: dict[str, Any]) -> str | None:
    """The Brax physics pipeline a manifest records: ``physics``, or ``backend`` in manifests
    written before the rename (where "backend" meant the physics, not the Core backend)."""
    value = manifest.get("physics", manifest.get("backend"))
    return str(value) if value is not None else None


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``manifest.json`` (or the one inside a directory), with errors naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.exists():
        raise ArtifactError(f"{path}: missing (is this an evoconn artifact or build folder?)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return manifest


def load_artifact(path: str | os.PathLike, expect: Spec | None = None) -> Artifact:
    """Load and validate an artifact directory; ``expect`` refuses one for another spec."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artifact directory")
    manifest = load_manifest(path)
    spec = spec_from_manifest(manifest, str(path / "manifest.json"), kind="artifact")
    if expect is not None and expect.hash != spec.hash:
        diff = ", ".join(f"{k}: {a} vs {b}" for k, (a, b) in spec.diff(expect).items())
        raise ArtifactError(f"{path}: artifact is for spec {spec.hash[:16]}, expected "
                            f"{expect.hash[:16]} (differs in {diff})")
    masks = _load_npz(path / "masks.npz")
    _check_arrays(spec, masks, "masks", str(path / "masks.npz"))
    probs = None
    if (path / "probs.npz").exists() or "probs.npz" in manifest.get("files", []):
        probs = _load_npz(path / "probs.npz")
        _check_arrays(spec, probs, "probs", str(path / "probs.npz"))
    normalizer = None
    if (path / "normalizer.npz").exists() or "normalizer.npz" in manifest.get("files", []):
        z = _load_npz(path / "normalizer.npz")
        fname = path / "normalizer.npz"
        for k in ("mean", "var", "count"):
            if k not in z:
                raise ArtifactError(f"{fname}: missing array {k!r}")
        if z["mean"].shape != (spec.obs_dim,) or z["var"].shape != (spec.obs_dim,):
            raise ArtifactError(f"{fname}: mean/var have shapes {z['mean'].shape}/{z['var'].shape}, "
                                f"the spec needs ({spec.obs_dim},)")
        if not (np.all(np.isfinite(z["mean"])) and np.all(z["var"] >= 0)):
            raise ArtifactError(f"{fname}: mean must be finite and var non-negative")
        normalizer = Normalizer(z["mean"].astype(np.float64), z["var"].astype(np.float64),
                                float(z["count"]), float(z.get("eps", 1e-8)))
    masks = {k: masks[k] for k in MASK_KEYS}
    return Artifact(spec=spec, masks=masks, probs=probs, normalizer=normalizer, manifest=manifest)
