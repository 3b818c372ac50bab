"""CI replays a bus session recorded on the RTL simulation (no simulator needed).

``tests/host/data/rtl_n16_session.jsonl`` was recorded from the exported Verilog under cocotb by
``make rtl-recording``, i.e.::

    evoconn rollout --artifact tests/host/data/rtl_n16_artifact --backend rtl --episodes 2 \\
        --max-steps 10 --lanes 4 --seed 3 --record tests/host/data/rtl_n16_session.jsonl

(the artifact: N = 16, d = 3, a = 1, K = 4, for Pendulum-v1). Replaying it checks the mechanism
the board tier uses without a board: the host must ask for exactly the recorded transactions, and
gets the RTL's answers back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evoconn.artifact import load_artifact
from evoconn.cli import main
from evoconn.host.bus import ReplayBus, ReplayMismatch
from evoconn.host.core import RegisterCore
from evoconn.host.rollout import make_env, run_episodes

DATA = Path(__file__).with_name("data")
ART = DATA / "rtl_n16_artifact"
REC = DATA / "rtl_n16_session.jsonl"
ARGS = ["rollout", "--artifact", str(ART), "--episodes", "2", "--max-steps", "10", "--seed", "3", "--json"]
pytest.importorskip("gymnasium")


def test_rtl_recording_replays(capsys):
    meta = json.loads(REC.read_text().splitlines()[0])
    art = load_artifact(ART)
    assert meta["backend"] == "rtl" and meta["spec_hash"] == art.spec.hash
    assert main([*ARGS, "--backend", "replay", "--replay", str(REC)]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["lengths"] == [10, 10]
    # the same rollout on the in-memory core asks for the same writes and gets the same outputs
    assert main([*ARGS, "--backend", "fake", "--lanes", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["returns"] == replay["returns"]


def test_rtl_recording_fails_at_the_first_differing_transaction():
    art = load_artifact(ART)
    bus = ReplayBus(REC)
    mask_h = art.spec.register_map(4).windows["MASK_H"].offset
    first = next(i for i, t in enumerate(bus.log) if t["op"] == "write_block" and t["addr"] == mask_h)
    masks = {k: v.copy() for k, v in art.masks.items()}
    masks["mask_h"][3, 5] = ~masks["mask_h"][3, 5]
    core = RegisterCore(bus, art.spec)
    env = make_env("Pendulum-v1", art.spec)
    with pytest.raises(ReplayMismatch, match=rf"transaction {first} differs: recorded write_block\(0x{mask_h:x}"):
        run_episodes(core, env, masks, art.normalizer, 2, seed=3, max_steps=10)
    assert bus.pos == first
    # another seed: the masks match, the first v0 write differs
    bus = ReplayBus(REC)
    v_addr = art.spec.register_map(4).windows["STATE"].offset
    v_first = next(i for i, t in enumerate(bus.log) if t["op"] == "write_block" and t["addr"] == v_addr)
    with pytest.raises(ReplayMismatch, match=rf"transaction {v_first} differs: recorded write_block\(0x{v_addr:x}"):
        run_episodes(RegisterCore(bus, art.spec), env, art.masks, art.normalizer, 2, seed=4, max_steps=10)
    assert bus.pos == v_first
