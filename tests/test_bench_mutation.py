"""The mutation report's arithmetic and its list of equivalent mutants (bench/mutation.py; issue 18).

The score takes the equivalent survivors out of the denominator, so the list of equivalents is
part of the result: every entry needs a reason, a name is listed once, and each names a module that
a group of bench/mutation.toml mutates (a typo would otherwise excuse nothing and go unnoticed).
"""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_score_takes_the_equivalent_survivors_out_and_names_stale_entries(mutation):
    per = {"evoconn/a.py": collections.Counter(killed=7, timeout=1, survived=3, **{"no tests": 1}),
           "evoconn/b.py": collections.Counter(killed=4, **{"not checked": 6})}
    survivors = {"evoconn/a.py": ["evoconn.a.x_f__mutmut_1", "evoconn.a.x_f__mutmut_2",
                                  "evoconn.a.x_g__mutmut_3", "evoconn.a.x_h__mutmut_4"],
                 "evoconn/b.py": []}
    equiv = {"evoconn.a.x_f__mutmut_1": "why", "evoconn.a.x_h__mutmut_4": "why",
             "evoconn.a.x_f__mutmut_9": "stale", "evoconn.c.x_k__mutmut_1": "module not run",
             "evoconn.b.x_k__mutmut_2": "not checked yet"}
    rows, problems = mutation.score_rows(per, survivors, equiv, unchecked={"evoconn.b.x_k__mutmut_2"})
    assert rows == [
        dict(module="evoconn/a.py", mutants=12, ran=12, killed=7, timeout=1, survived=3, no_tests=1,
             equivalent=2, left=2, score=100 * 8 / 10),
        dict(module="evoconn/b.py", mutants=10, ran=4, killed=4, timeout=0, survived=0, no_tests=0,
             equivalent=0, left=0, score=100.0),
    ]
    assert problems == ["`evoconn.a.x_f__mutmut_9` is listed as equivalent but no run left it surviving "
                        "(killed, or renamed)"]


def test_equivalents_refuse_an_entry_without_a_reason_or_listed_twice(mutation, tmp_path):
    (tmp_path / "g1.toml").write_text('"evoconn.a.x_f__mutmut_1" = "dtype cast again"\n')
    assert mutation.equivalents(tmp_path) == {"evoconn.a.x_f__mutmut_1": "dtype cast again"}
    (tmp_path / "g2.toml").write_text('"evoconn.a.x_f__mutmut_1" = "again"\n')
    with pytest.raises(SystemExit, match="listed twice"):
        mutation.equivalents(tmp_path)
    (tmp_path / "g2.toml").write_text('"evoconn.a.x_f__mutmut_2" = " "\n')
    with pytest.raises(SystemExit, match="without a reason"):
        mutation.equivalents(tmp_path)


def test_committed_equivalents_name_mutated_modules(mutation):
    modules = {m for g in tomllib.loads(mutation.CONFIG.read_text())["groups"].values() for m in g["modules"]}
    for name in mutation.equivalents():
        assert mutation.module_of(name) in modules, name
        assert "__mutmut_" in name, name
