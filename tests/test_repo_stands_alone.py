"""The repository stands alone: no tracked file reaches outside it (issue 15, section 5).

A fresh clone anywhere must pass `make test`, so no test, code, doc, Makefile or README may read or
cite a path beside or above the repository: the project's sibling folder of shared material, a
``Path(__file__).parents[...]`` chain that climbs past the root, an absolute path of this machine,
or an environment variable that points there. The scanner below is tested on planted files too, so
that it cannot pass by matching nothing.

The patterns are written so that this file's own source does not match them (a character class in
each), so the scan needs no exceptions.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import GOLDEN

ROOT = Path(__file__).resolve().parents[1]

# (name, regex) of text that reaches outside the repository.
PATTERNS = [
    ("sibling shared folder", re.compile(r"\.\./+share[d]\b")),
    ("shared material path", re.compile(r"\bshare[d]/(?:golden|reference|design\.md|style\.md|hooks)\b")),
    ("absolute path of this machine", re.compile(r"(?<![\w.])/(?:wor[k]|home|root)/")),
    ("environment variable for the shared folder", re.compile(r"EVOCONN_SHARE[D]")),
]
_PARENTS = re.compile(
    r"__file_[_]\)(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent(?!s))*)(?:\.parents\[(\d+)\])?((?:\.parent(?!s))*)"
)
_DIRNAME = re.compile(r"((?:os\.path\.dirname\(\s*)+)(?:os\.path\.(?:abspath|realpath)\(\s*)?__file_[_]")
BINARY = {".npz", ".npy", ".png", ".jpg", ".pdf", ".gz", ".zip", ".bit", ".fst", ".vcd"}


def _climb(m: re.Match) -> int:
    """Directories above the file's own folder that a ``Path(__file__)`` chain reaches."""
    before, idx, after = m.group(1), m.group(2), m.group(3)
    n_before, n_after = before.count(".parent"), after.count(".parent")
    if idx is None:
        return n_before + n_after - 1  # Path(__file__).parent is the file's own folder: climb 0
    return n_before + int(idx) + n_after


def findings(relpath: str, text: str) -> list[str]:
    """Every place in one file that reaches outside the repository, as ``path:line: why``."""
    depth = len(Path(relpath).parts) - 1  # folders between the root and the file
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for why, rx in PATTERNS:
            if rx.search(line):
                out.append(f"{relpath}:{lineno}: {why}: {line.strip()[:100]}")
        for m in _PARENTS.finditer(line):
            if (m.group(1) or m.group(2) or m.group(3)) and _climb(m) > depth:
                out.append(f"{relpath}:{lineno}: a __file__ path that climbs above the repository root")
        for m in _DIRNAME.finditer(line):
            if m.group(1).count("dirname") - 1 > depth:
                out.append(f"{relpath}:{lineno}: an os.path.dirname chain that climbs above the repository root")
    return out


def repo_files(root: Path) -> list[str]:
    """Tracked files plus new ones git does not ignore (so a file not yet added is checked too)."""
    res = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True, check=True,
    )
    return sorted({p for p in res.stdout.decode().split("\0") if p and (root / p).is_file()})


def scan(root: Path) -> list[str]:
    out = []
    for rel in repo_files(root):
        if Path(rel).suffix in BINARY:
            continue
        raw = (root / rel).read_bytes()
        if b"\0" in raw[:4096]:
            continue
        out += findings(rel, raw.decode("utf-8", errors="replace"))
    return out


needs_git = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                               reason="needs git and a checkout to list tracked files")


@needs_git
def test_no_tracked_file_reaches_outside_the_repository():
    files = repo_files(ROOT)
    assert "Makefile" in files and "README.md" in files and "tests/conftest.py" in files  # the scan sees them
    found = scan(ROOT)
    assert not found, "files that reach outside the repository:\n" + "\n".join(found)


# "!" breaks each sample so that this file does not match itself; it is removed before use.
PLANTED = {k: v.replace("!", "") for k, v in {
    "tests/conftest.py": 'GOLDEN = Path("..!/shar!ed/golden/official-ec")\n',
    "docs/x.md": "See `shar!ed/reference/ec-method.md` section 1.\n",
    "Makefile": "golden:\n\tcp -r /wo!rk/shar!ed/golden tests/\n",
    "README.md": "Data lives in /ho!me/user/data/.\n",
    "host/a.py": 'p = os.environ["EVOCONN_SHA!RED"]\n',
    "tests/b.py": "X = Path(__fi!le__).resolve().parents[1].pa!rent / 'x'\n",
    "tests/host/c.py": "X = Path(__fi!le__).parents[3]\n",
    "evoconn/d.py": "X = Path(__fi!le__).parent.parent.parent\n",
    "e.py": "X = os.path.dirname(os.path.dirname(os.path.abspath(__fi!le__)))\n",
}.items()}
CLEAN = {k: v.replace("!", "") for k, v in {
    "tests/conftest.py": 'DATA = Path(__fi!le__).resolve().parent / "data"\n',
    "tests/test_docs.py": "ROOT = Path(__fi!le__).resolve().parents[1]\n",
    "tests/host/t.py": "ROOT = Path(__fi!le__).resolve().parents[2]\n",
    "evoconn/d.py": "HERE = Path(__fi!le__).parent.parent  # the repository root\n",
    "e.py": "HERE = os.path.dirname(os.path.abspath(__fi!le__))\n",
    "docs/y.md": "The machine is shared by several agents; see /workspace-free text and docs/shared.md.\n",
    "tests/synth/baselines/x.json": '"yosys": "Clang /workspace/YoWASP/yosys/bin/clang++"\n',
}.items()}


@pytest.mark.parametrize("rel", sorted(PLANTED))
def test_the_scanner_finds_each_planted_reference(rel):
    assert findings(rel, PLANTED[rel]), f"the planted reference in {rel} was not found"


@pytest.mark.parametrize("rel", sorted(CLEAN))
def test_the_scanner_passes_paths_inside_the_repository(rel):
    assert findings(rel, CLEAN[rel]) == []


@needs_git
def test_a_planted_file_fails_the_scan_of_a_repository(tmp_path):
    """End to end: a git repository with one new (not yet added) file that reaches outside."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "Makefile").write_text("test:\n\tpytest\n")
    (tmp_path / "data.npz").write_bytes(b"..!/shared/ inside binary data is not text".replace(b"!", b""))
    assert scan(tmp_path) == []
    (tmp_path / "tests").mkdir()
    planted = "G = Path(__fi!le__).resolve().parents[1].pa!rent / 'x'\n".replace("!", "")
    (tmp_path / "tests" / "conftest.py").write_text(planted)
    found = scan(tmp_path)
    assert len(found) == 1 and found[0].startswith("tests/conftest.py:1:"), found


def test_golden_vectors_are_the_committed_copy():
    """The copy of the official code's vectors is intact (digests in their sha256sums file)."""
    lines = (GOLDEN / "sha256sums").read_text().split("\n")
    sums = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(sums) == {"cases.json", "connsnn_hopper_n256.npz", "connsnn_small_n64.npz",
                         "connsnn_walker_n256.npz", "nes_update.npz"}
    for name, digest in sums.items():
        assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == digest, name
    assert "github.com/imoneoi/EvolvingConnectivity" in (GOLDEN / "README.md").read_text()
