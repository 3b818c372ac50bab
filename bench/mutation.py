"""Mutation testing over the contract modules with mutmut (``make mutation``; issue 18).

mutmut (pinned in the dev extra) does the work: it writes mutated copies of the modules, records
which oracle tests reach each function, and runs those tests against each mutant in a forked
child. This script only stages the tree the way ``pip install`` lays it out (``host/`` becomes
``evoconn/host/`` and so on, read from pyproject.toml's package-dir), so that the mutated copies
are the modules the tests import, then runs mutmut there and writes the score per module.

    python bench/mutation.py                 # every group of bench/mutation.toml, every mutant
    python bench/mutation.py --group spec_arith 'evoconn.spec.arith.x_decay*'   # a subset
    python bench/mutation.py --report-only   # rewrite the report from the last runs

The staged trees are ``build/mutation/<group>`` (ignored by git). The report goes to
``bench/results/mutation.md`` with the command, the machine's load and, per module, how many
mutants were killed, survived, had no oracle test reaching them, or timed out.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the stack runs there, this developer tool needs 3.11
    sys.exit("error: bench/mutation.py needs Python 3.11 or later (tomllib)")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "bench" / "mutation.toml"
STAGES = ROOT / "build" / "mutation"
REPORT = ROOT / "bench" / "results" / "mutation.md"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent"
MUTMUT = Path(sys.executable).with_name("mutmut")


def status(code: int | None) -> str:
    """mutmut's own reading of a mutant's exit code (killed, survived, no tests, timeout, ...)."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def load_config() -> dict:
    """The groups, in the config's order, each with its oracle resolved to a list of test files."""
    cfg = tomllib.loads(CONFIG.read_text())
    oracles = cfg.get("oracles", {})
    for name, g in cfg["groups"].items():
        if isinstance(g["oracle"], str):
            if g["oracle"] not in oracles:
                sys.exit(f"error: group {name}: no oracle {g['oracle']!r} in [oracles] of {CONFIG}")
            g["oracle"] = oracles[g["oracle"]]
    return cfg


def package_dirs() -> dict[str, str]:
    """Package name -> folder in the checkout, as pyproject.toml installs them."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return py["tool"]["setuptools"]["package-dir"]


def stage(cfg: dict, name: str) -> Path:
    """Lay the tree out as installed, with the tests and the files they read, under STAGES/name."""
    STAGE = STAGES / name
    keep = STAGE / "mutants"
    cache = None
    if keep.exists():  # mutmut skips unchanged work: keep its folder across runs
        cache = STAGES / f".{name}-mutants"
        shutil.rmtree(cache, ignore_errors=True)
        keep.rename(cache)
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg, folder in sorted(package_dirs().items(), key=lambda kv: kv[0].count(".")):
        dest = STAGE.joinpath(*pkg.split("."))
        shutil.copytree(ROOT / folder, dest, ignore=ignore, dirs_exist_ok=True)
    for extra in ("tests", "docs"):
        shutil.copytree(ROOT / extra, STAGE / extra, ignore=ignore)
    for f in ("pyproject.toml", "README.md", "Makefile"):
        shutil.copy2(ROOT / f, STAGE / f)
    also = sorted({str(Path(*p.split("."))) + "/" for p in package_dirs()} | {"docs/", "README.md", "Makefile"})
    lines = ["[mutmut]", "source_paths=" + "\n    ".join(cfg["modules"]),
             "also_copy=" + "\n    ".join(also),
             "pytest_add_cli_args_test_selection=" + "\n    ".join(cfg["oracle"]),
             "pytest_add_cli_args=-p\n    no:cacheprovider",
             "process_isolation=" + cfg.get("isolation", "fork")]
    (STAGE / "setup.cfg").write_text("\n".join(lines) + "\n")
    if cache is not None:
        cache.rename(keep)
    return STAGE


def results() -> tuple[dict[str, collections.Counter], dict[str, list[str]], set[str]]:
    """Status counts per module, the surviving mutants' names, and the names of the mutants not
    checked yet (a run stopped or under way), from mutmut's meta files."""
    per: dict[str, collections.Counter] = {}
    survivors: dict[str, list[str]] = {}
    unchecked: set[str] = set()
    for meta in sorted(STAGES.glob("*/mutants/**/*.py.meta")):
        group = meta.relative_to(STAGES).parts[0]
        rel = meta.relative_to(STAGES / group / "mutants").as_posix()[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        per[rel] = collections.Counter(status(c) for c in codes.values())
        survivors[rel] = sorted(k for k, c in codes.items() if status(c) in ("survived", "no tests"))
        unchecked |= {k for k, c in codes.items() if status(c) == "not checked"}
    return per, survivors, unchecked


def equivalents(folder: Path = EQUIVALENT) -> dict[str, str]:
    """Mutant name -> why it is equivalent, from every ``bench/mutation_equivalent/<group>.toml``.

    Each file maps mutmut's full mutant names to the reason no input the contract admits tells the
    mutant from the code; an empty reason is refused, so that no survivor is waved through unread.
    """
    out: dict[str, str] = {}
    for f in sorted(folder.glob("*.toml")):
        for name, why in tomllib.loads(f.read_text()).items():
            if not isinstance(why, str) or not why.strip():
                raise SystemExit(f"error: {f.name}: {name!r} is listed as equivalent without a reason")
            if name in out:
                raise SystemExit(f"error: {f.name}: {name!r} is listed twice in {folder}")
            out[name] = why
    return out


def module_of(mutant: str) -> str:
    """``evoconn.spec.arith.x_sat__mutmut_21`` -> ``evoconn/spec/arith.py`` (mutmut's naming)."""
    return "/".join(mutant.split(".")[:-1]) + ".py"


def score_rows(per: dict[str, collections.Counter], survivors: dict[str, list[str]],
               equiv: dict[str, str], unchecked: set[str] = frozenset()) -> tuple[list[dict], list[str]]:
    """One row per module (equivalent survivors taken out of the denominator), and the problems:
    names listed as equivalent that a test kills or that no run holds (stale entries)."""
    rows, problems = [], []
    surviving = {n for names in survivors.values() for n in names}
    for mod, c in per.items():
        killed = c["killed"] + c["timeout"] + c["segfault"]
        eq = sum(1 for n in survivors.get(mod, []) if n in equiv)
        left = c["survived"] + c["no tests"] - eq
        denom = killed + left
        rows.append(dict(module=mod, mutants=sum(c.values()), ran=sum(v for k, v in c.items() if k != "not checked"),
                         killed=c["killed"], timeout=c["timeout"] + c["segfault"], survived=c["survived"],
                         no_tests=c["no tests"], equivalent=eq, left=left,
                         score=100 * killed / denom if denom else None))
    for name in sorted(equiv):
        if name not in surviving and name not in unchecked and module_of(name) in per:
            problems.append(f"`{name}` is listed as equivalent but no run left it surviving (killed, or renamed)")
    return rows, problems


def write_report(cmd: str, load: str, wall: float | None) -> None:
    per, survivors, unchecked = results()
    equiv = equivalents()
    rows, problems = score_rows(per, survivors, equiv, unchecked)
    out = ["# Mutation testing: the fast tiers against the contract modules", "",
           f"Command: `{cmd}` (mutmut {_mutmut_version()}, config `bench/mutation.toml`).  ",
           f"Machine load: {load}." + (f" Wall time {wall / 60:.1f} min." if wall else ""), "",
           "Score = killed / (killed + survived + no tests - equivalent), over the mutants that ran; 'no tests'",
           "are mutants in code that no oracle test reaches (they count as surviving); 'equivalent' are",
           "survivors listed with their reason in `bench/mutation_equivalent/<group>.toml`. Timeouts and",
           "crashes count as killed; mutants not checked (a subset run) are left out.",
           "", "| module | mutants | ran | killed | timeout | survived | no tests | equivalent | left | score |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        score = f"{r['score']:.1f} %" if r["score"] is not None else "-"
        out.append(f"| `{r['module']}` | {r['mutants']} | {r['ran']} | {r['killed']} | {r['timeout']} | "
                   f"{r['survived']} | {r['no_tests']} | {r['equivalent']} | {r['left']} | {score} |")
    if problems:
        out += ["", "Stale entries of bench/mutation_equivalent:", ""] + [f"- {p}" for p in problems]
    out += ["", "## Surviving mutants not listed as equivalent", "",
            "Listed by mutmut name (`mutmut show NAME` in build/mutation/<group> prints the diff).", ""]
    for mod, names in survivors.items():
        names = [n for n in names if n not in equiv]
        if names:
            out.append(f"- `{mod}` ({len(names)}): " + ", ".join(f"`{n.split('.')[-1]}`" for n in names))
    table = "\n".join(out) + "\n"
    begin, end = "<!-- mutation-run: written by bench/mutation.py -->\n", "<!-- /mutation-run -->\n"
    old = REPORT.read_text() if REPORT.exists() else ""
    if begin in old and end in old:  # keep the hand-written notes around the generated part
        head, rest = old.split(begin, 1)
        table = head + begin + table + end + rest.split(end, 1)[1]
    else:
        table = begin + table + end
    REPORT.write_text(table)
    print(f"wrote {REPORT}")


def recheck(group: str, tests: list[str], select: str | None = None) -> None:
    """Run ``tests`` against each surviving mutant of ``group``'s last run, in mutmut's staged copy.

    mutmut's trampolines take the mutant from MUTANT_UNDER_TEST, so this is mutmut's own check of
    one mutant (pytest in a child with that variable set) without its per-run setup (mapping tests
    to functions, the clean and forced-fail runs: minutes per group on the shared machine). It is
    for tests written against the survivors: their file is copied into the staged tree first, and a
    mutant they kill is recorded as killed in mutmut's meta file, as mutmut itself would.
    """
    where = STAGES / group / "mutants"
    for t in tests:
        shutil.copy2(ROOT / t, where / t)
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    if select:
        pytest += ["-k", select]

    def run(mutant: str) -> int:
        env = dict(os.environ, MUTANT_UNDER_TEST=mutant, PYTHONPATH=str(where))
        return subprocess.call(pytest, cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    if run("none") != 0:  # the tests must pass on the unmutated staged copy, or a failure kills nothing
        sys.exit(f"error: {' '.join(tests)} fail on {group}'s unmutated staged copy; no recheck")
    for meta in sorted(where.glob("**/*.py.meta")):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for name, code in sorted(codes.items()):
            if status(code) not in ("survived", "no tests"):
                continue
            rc = run(name)
            verdict = "killed" if rc == 1 else "survived" if rc == 0 else f"exit {rc}"
            print(f"{name}: {verdict}")
            if rc == 1:
                codes[name] = 1
        meta.write_text(json.dumps(data, indent=4))


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="mutant name globs (default: the group's functions, or all)")
    ap.add_argument("--group", action="append", help="groups of bench/mutation.toml to run (default: all)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--recheck-k", metavar="EXPR", help="pytest -k expression for --recheck")
    ap.add_argument("--recheck", nargs="+", metavar="TEST",
                    help="run these test files against the last run's survivors of each --group (no new run)")
    ap.add_argument("--max-children", type=int, default=1, help="mutmut's child processes (the machine is shared)")
    args = ap.parse_args(argv)
    groups = load_config()["groups"]
    run = args.group or list(groups)
    unknown = [g for g in run if g not in groups]
    if unknown:
        print(f"error: no group {', '.join(unknown)} in {CONFIG} (groups: {', '.join(groups)})", file=sys.stderr)
        return 2
    cmd = "python bench/mutation.py " + " ".join(
        [f"--group {g}" for g in args.group or []] + [repr(n) if "*" in n else n for n in args.names])
    if args.recheck:
        for g in run:
            recheck(g, args.recheck, args.recheck_k)
        write_report(cmd.strip() + " (report of the last runs)", "see the runs", None)
        return 0
    if args.report_only:
        write_report(cmd.strip() + " (report of the last run)", "see the run", None)
        return 0
    if not MUTMUT.exists():
        print(f"error: {MUTMUT} not found; install the dev extra (make setup)", file=sys.stderr)
        return 2
    load0 = os.getloadavg()
    t0 = time.time()
    rc = 0
    for g in run:
        where = stage(groups[g], g)
        names = args.names or groups[g].get("functions", [])
        rc |= subprocess.call([str(MUTMUT), "run", "--max-children", str(args.max_children), *names], cwd=where)
        wall = time.time() - t0  # the report after each group, so a stopped run keeps what it did
        load = f"load average {load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 shared cores)"
        write_report(cmd.strip(), load, wall)
    return rc


if __name__ == "__main__":
    sys.exit(main())
