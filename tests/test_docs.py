"""The docs' tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from evoconn.spec import CORE_ID, Spec

ROOT = Path(__file__).resolve().parents[1]


def table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_width_table_matches_the_spec():
    s = Spec()
    rows = {r[1]: r for r in table_rows((ROOT / "docs" / "spec.md").read_text(), "| quantity |")}
    expect = {
        "v": (s.state_width, s.state_frac),
        "I_syn": (s.state_width, s.state_frac),
        "I_in": (s.state_width, s.state_frac),
        "xq": (s.obs_width, s.state_frac),
        "r": (s.rate_width, s.rate_frac),
        "c": (s.count_width, 0),
        "out": (s.out_width, s.rate_frac),
    }
    assert set(rows) == set(expect)
    for sym, (w, f) in expect.items():
        assert (int(rows[sym][2]), int(rows[sym][3])) == (w, f), sym
    lo = -(1 << (s.state_width - 1 - s.state_frac))
    assert rows["v"][4].startswith(f"[{lo}".replace("-", "\u2212"))


def test_leak_constants_in_the_doc_match_the_spec():
    text = (ROOT / "docs" / "spec.md").read_text()
    s = Spec()
    a, b = s.syn_leak
    assert f"α_syn = 1 − 2^−{a} − 2^−{b}" in text
    a, b = s.mem_leak
    assert f"α_m = α_out = 1 − 2^−{a} − 2^−{b}" in text
    assert s.mem_leak == s.out_leak
    assert re.search(rf"ID = `0x{CORE_ID:08X}`", text)


def test_register_map_table_matches_the_register_map():
    """docs/spec.md's register table is the default map's `RegisterMap.table()`, doc strings included
    (they are what `evoconn spec` prints; the pinned contract leaves them out so that they can be
    reworded without a version bump, and this keeps the docs' copy the code's)."""
    text = (ROOT / "docs" / "spec.md").read_text()
    lines = text.splitlines()
    i = lines.index("| offset | name | access | width | words | doc |")
    got = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        got.append(cells)
    expect = [[f"0x{r['offset']:05X}", r["name"], r["access"], str(r["width"]),
               str(1 if r["kind"] == "register" else r["depth"]), r["doc"]]
              for r in Spec().register_map(16).table()]
    assert got == expect
