"""The register buses, numpy-only: RecordingBus's file format, ReplayBus's refusals, MMIOBus over a
stand-in for ``pynq.MMIO`` (the real pynq lives only in the board env, ``make board-env``)."""

from __future__ import annotations

import json
import re
import sys
import types

import numpy as np
import pytest

from evoconn.host import bus as busmod
from evoconn.host.bus import (
    BOARD_HINT,
    RECORD_FORMAT,
    FakeBus,
    MMIOBus,
    RecordingBus,
    ReplayBus,
    ReplayMismatch,
    import_pynq,
)
from evoconn.host.core import BusError, CoreError, MissingDependency, RegisterCore
from evoconn.spec import Spec, oracle_env_step, oracle_init_state

from ..conftest import random_masks, random_xq

SMALL = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5)


# =====================================================================================
# Recording and replay
# =====================================================================================

class Scripted:
    """An inner bus with fixed answers that logs the calls it gets; raises BusError at BAD."""

    BAD = 0x8000

    def __init__(self):
        self.calls: list[tuple] = []
        self.spec = "the inner spec"

    def read(self, addr):
        self.calls.append(("read", addr))
        if addr == self.BAD:
            raise BusError(f"DECERR: read at 0x{addr:x}", addr, "read")
        return np.uint32(0xFFFFFFF0 + addr)  # a numpy scalar, recorded as an int

    def write(self, addr, value):
        self.calls.append(("write", addr, value))
        if addr == self.BAD:
            raise BusError(f"DECERR: write at 0x{addr:x}", addr, "write")

    def read_block(self, addr, n):
        self.calls.append(("read_block", addr, n))
        if addr == self.BAD:
            raise BusError(f"DECERR: block read at 0x{addr:x}", addr, "read")
        return [addr + i for i in range(n)]  # a list: the recorder returns a uint32 array

    def write_block(self, addr, words):
        self.calls.append(("write_block", addr, np.asarray(words).tolist()))
        if addr == self.BAD:
            raise BusError(f"DECERR: block write at 0x{addr:x}", addr, "write")


def record_session(path, **meta):
    """One of every transaction, errors included; returns the inner bus and what the recorder
    answered."""
    inner = Scripted()
    got = []
    with RecordingBus(inner, path, **meta) as rec:
        got.append(rec.read(4))
        rec.write(8, -1)
        rec.write(12, 0x1_2345_6789)
        got.append(rec.read_block(16, 3))
        rec.write_block(32, np.array([[1, -2], [3, 4]], np.int64))
        rec.write_block(40, np.array([], np.uint32))
        for op, args in [("read", ()), ("write", (5,)), ("read_block", (2,)), ("write_block", ([7, 8],))]:
            with pytest.raises(BusError) as e:
                getattr(rec, op)(Scripted.BAD, *args)
            got.append((e.value.addr, e.value.op))
        got.append(rec.count)
        assert rec.spec == "the inner spec"  # attributes of the inner bus show through
        assert not rec._f.closed
    assert rec._f.closed
    return inner, got


RECORDED = [
    {"op": "read", "addr": 4, "value": 0xFFFFFFF4},
    {"op": "write", "addr": 8, "value": 0xFFFFFFFF},
    {"op": "write", "addr": 12, "value": 0x23456789},
    {"op": "read_block", "addr": 16, "n": 3, "words": [16, 17, 18]},
    {"op": "write_block", "addr": 32, "words": [1, 0xFFFFFFFE, 3, 4]},
    {"op": "write_block", "addr": 40, "words": []},
    {"op": "read", "addr": 0x8000, "error": "DECERR: read at 0x8000"},
    {"op": "write", "addr": 0x8000, "value": 5, "error": "DECERR: write at 0x8000"},
    {"op": "read_block", "addr": 0x8000, "n": 2, "error": "DECERR: block read at 0x8000"},
    {"op": "write_block", "addr": 0x8000, "words": [7, 8], "error": "DECERR: block write at 0x8000"},
]


def test_recording_format_is_exact(tmp_path):
    path = tmp_path / "deep" / "er" / "bus.jsonl"  # parents are created
    inner, got = record_session(path, spec_hash="abc", backend="fake")
    lines = path.read_text().split("\n")
    assert lines[0] == '{"format": "evoconn-bus-1", "spec_hash": "abc", "backend": "fake"}'
    assert lines[-1] == ""
    assert lines[1:-1] == [json.dumps(r, separators=(",", ":")) for r in RECORDED]
    assert lines[1] == '{"op":"read","addr":4,"value":4294967284}'
    # what the inner bus was asked: the caller's arguments unchanged
    assert inner.calls == [
        ("read", 4), ("write", 8, -1), ("write", 12, 0x1_2345_6789), ("read_block", 16, 3),
        ("write_block", 32, [[1, -2], [3, 4]]), ("write_block", 40, []),
        ("read", 0x8000), ("write", 0x8000, 5), ("read_block", 0x8000, 2), ("write_block", 0x8000, [7, 8]),
    ]
    assert got[0] == 0xFFFFFFF4 and type(got[0]) is int
    assert got[1].dtype == np.uint32 and got[1].tolist() == [16, 17, 18]
    assert got[2:6] == [(0x8000, "read"), (0x8000, "write"), (0x8000, "read"), (0x8000, "write")]
    assert got[6] == len(RECORDED)


def test_recording_close_is_idempotent_and_header_only(tmp_path):
    path = tmp_path / "bus.jsonl"
    rec = RecordingBus(Scripted(), path)
    assert rec.count == 0 and rec.path == path and rec.inner.spec == "the inner spec"
    rec.close()
    rec.close()
    assert path.read_text() == '{"format": "evoconn-bus-1"}\n'
    assert RECORD_FORMAT == "evoconn-bus-1"
    replay = ReplayBus(path)
    assert replay.meta == {"format": "evoconn-bus-1"} and replay.log == [] and replay.pos == 0
    replay.done()


def test_replay_plays_the_whole_recording_back(tmp_path):
    path = tmp_path / "bus.jsonl"
    record_session(path, spec_hash="abc")
    replay = ReplayBus(path)
    assert replay.path == path
    assert replay.meta == {"format": RECORD_FORMAT, "spec_hash": "abc"}
    assert replay.log == RECORDED
    value = replay.read(4)
    assert value == 0xFFFFFFF4 and type(value) is int
    assert replay.write(8, -1) is None
    replay.write(12, 0x1_2345_6789)
    words = replay.read_block(16, 3)
    assert words.dtype == np.uint32 and words.tolist() == [16, 17, 18]
    replay.write_block(32, np.array([[1, -2], [3, 4]]))
    replay.write_block(40, np.array([], np.uint32))
    for op, args, want in [("read", (), "read"), ("write", (5,), "write"),
                           ("read_block", (2,), "read"), ("write_block", ([7, 8],), "write")]:
        with pytest.raises(BusError, match=f"^{RECORDED[replay.pos]['error']}$") as e:
            getattr(replay, op)(0x8000, *args)
        assert (e.value.addr, e.value.op) == (0x8000, want)
        assert not isinstance(e.value, ReplayMismatch)
    assert replay.pos == len(RECORDED)
    replay.done()


def test_replay_refuses_a_diverging_session_with_its_message(tmp_path):
    path = tmp_path / "bus.jsonl"
    record_session(path)

    def at(i):
        r = ReplayBus(path)
        r.pos = i
        return r

    cases = [
        (0, lambda r: r.read(8), "transaction 0 differs: recorded read(0x4), got read(0x8)"),
        (0, lambda r: r.write(4, 1), "transaction 0 differs: recorded read(0x4), got write(0x4, 0x1)"),
        (1, lambda r: r.write(8, 0xFFFFFFFE),
         "transaction 1 differs: recorded write(0x8, 0xffffffff), got write(0x8, 0xfffffffe)"),
        (1, lambda r: r.write(0xC, -1),
         "transaction 1 differs: recorded write(0x8, 0xffffffff), got write(0xc, 0xffffffff)"),
        (3, lambda r: r.read_block(16, 4),
         "transaction 3 differs: recorded read_block(0x10, 3), got read_block(0x10, 4)"),
        (3, lambda r: r.read(16), "transaction 3 differs: recorded read_block(0x10, 3), got read(0x10)"),
        (4, lambda r: r.write_block(32, np.array([1, 2, 3, 4, 5])),
         "transaction 4 differs: recorded write_block(0x20, 4 words [0x1, 0xfffffffe, 0x3, 0x4]), "
         "got write_block(0x20, 5 words [0x1, 0x2, 0x3, 0x4, ...])"),
        (5, lambda r: r.write_block(40, [9]),
         "transaction 5 differs: recorded write_block(0x28, 0 words []), got write_block(0x28, 1 words [0x9])"),
    ]
    for i, call, msg in cases:
        r = at(i)
        with pytest.raises(ReplayMismatch) as e:
            call(r)
        assert str(e.value) == f"{path}: {msg}"
        assert r.pos == i  # a refused transaction is not consumed
        assert isinstance(e.value, CoreError) and isinstance(e.value, AssertionError)
    r = at(len(RECORDED))
    with pytest.raises(ReplayMismatch) as e:
        r.write_block(0x100, np.arange(6))
    assert str(e.value) == (f"{path}: transaction 10: the recording has ended (10 transactions), "
                            f"got write_block(0x100, 6 words [0x0, 0x1, 0x2, 0x3, ...])")
    for i, nxt in [(0, "read(0x4)"), (3, "read_block(0x10, 3)"), (9, "write_block(0x8000, 2 words [0x7, 0x8])")]:
        with pytest.raises(ReplayMismatch) as e:
            at(i).done()
        assert str(e.value) == f"{path}: replay stopped at transaction {i} of 10; next recorded: {nxt}"


def test_replay_refuses_what_is_not_a_recording(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError) as e:
        ReplayBus(empty)
    assert str(e.value) == f"{empty}: empty recording"
    other = tmp_path / "other.jsonl"
    other.write_text('{"format": "evoconn-bus-0"}\n')
    with pytest.raises(ValueError) as e:
        ReplayBus(other)
    assert str(e.value) == f"{other}: not a bus recording (format 'evoconn-bus-0')"
    other.write_text('{"spec_hash": 1}\n')
    with pytest.raises(ValueError) as e:
        ReplayBus(other)
    assert str(e.value) == f"{other}: not a bus recording (format None)"
    # blank lines between transactions are skipped
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"format": "evoconn-bus-1"}\n\n{"op":"read","addr":0,"value":7}\n  \n')
    r = ReplayBus(blank)
    assert r.log == [{"op": "read", "addr": 0, "value": 7}]
    assert r.read(0) == 7
    r.done()


def test_a_core_session_recorded_and_replayed(tmp_path):
    """RegisterCore over a recorded FakeBus, then over the replay: the same outputs and state."""
    rng = np.random.default_rng(4)
    masks = random_masks(SMALL, rng, 0.4)
    xs = [random_xq(SMALL, rng, extreme=True) for _ in range(4)]
    path = tmp_path / "bus.jsonl"

    def play(bus):
        core = RegisterCore(bus, SMALL, verify=True)
        core.load_masks(masks)
        core.reset_state(np.arange(SMALL.n_neurons))
        return [core.step(x) for x in xs], core.read_state()

    with RecordingBus(FakeBus(SMALL, busy_polls=1), path, backend="fake") as rec:
        outs, st = play(rec)
        count = rec.count
    ost = oracle_init_state(SMALL, list(range(SMALL.n_neurons)))
    for x, out in zip(xs, outs, strict=True):
        ost, want = oracle_env_step(SMALL, masks, ost, x.tolist())
        np.testing.assert_array_equal(out, np.asarray(want, np.int32))
    replay = ReplayBus(path)
    assert len(replay.log) == count and replay.meta == {"format": RECORD_FORMAT, "backend": "fake"}
    outs2, st2 = play(replay)
    replay.done()
    np.testing.assert_array_equal(np.stack(outs2), np.stack(outs))
    for k in st:
        np.testing.assert_array_equal(st2[k], st[k], err_msg=k)


# =====================================================================================
# MMIOBus over a stand-in for pynq.MMIO
# =====================================================================================

class StandInMMIO:
    """What pynq 4.0's ``MMIO`` does on a memory-mapped device (the PYNQ-Z2): the same signature,
    the same checks and errors; ``array`` is the uint32 mapping (here plain memory, the board's
    registers). Logs the calls."""

    instances: list[StandInMMIO] = []

    def __init__(self, base_addr, length=4, device=None, **kwargs):
        if base_addr < 0 or length < 0:
            raise ValueError("Base address or length cannot be negative.")
        self.base_addr = base_addr
        self.length = length
        self.array = np.zeros(length // 4, np.uint32)
        self.calls: list[tuple] = []
        StandInMMIO.instances.append(self)

    def read(self, offset=0, **kwargs):
        self.calls.append(("read", offset))
        if offset < 0:
            raise ValueError("Offset cannot be negative.")
        if offset % 4:
            raise MemoryError("Unaligned read: offset must be multiple of 4.")
        return int(self.array[offset >> 2])

    def write(self, offset, data):
        self.calls.append(("write", offset, data))
        if offset < 0:
            raise ValueError("Offset cannot be negative.")
        if offset % 4:
            raise MemoryError("Unaligned write: offset must be multiple of 4.")
        if type(data) is not int:  # bytes: a Python loop, which MMIOBus avoids
            raise ValueError("Data type must be int or bytes.")
        self.array[offset >> 2] = np.uint32(data)


@pytest.fixture
def pynq(monkeypatch):
    mod = types.ModuleType("pynq")
    mod.MMIO = StandInMMIO
    StandInMMIO.instances = []
    monkeypatch.setitem(sys.modules, "pynq", mod)
    return mod


def test_import_pynq_names_the_extra_when_pynq_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq raises ImportError
    with pytest.raises(MissingDependency) as e:
        import_pynq()
    assert str(e.value) == ("the board backend needs pynq, which is not importable here (import of pynq "
                            "halted; None in sys.modules); " + BOARD_HINT)
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert BOARD_HINT == "pip install 'evoconn[board]' on the board (a PYNQ image with pynq 4.0, numpy<2)"
    with pytest.raises(MissingDependency):
        MMIOBus(0x43C00000)
    # an existing mmio needs no pynq
    m = StandInMMIO(0, 64)
    assert MMIOBus(mmio=m).mmio is m


def test_import_pynq_returns_the_module(pynq):
    assert import_pynq() is pynq


def test_mmiobus_maps_the_range_it_is_given(pynq):
    with pytest.raises(ValueError) as e:
        MMIOBus()
    assert str(e.value) == "MMIOBus needs base_addr or an existing mmio"
    with pytest.raises(ValueError, match="^MMIOBus needs base_addr"):
        MMIOBus(length=4096)
    assert StandInMMIO.instances == []
    bus = MMIOBus(0x43C00000)
    m = StandInMMIO.instances[-1]
    assert (m.base_addr, m.length) == (0x43C00000, 1 << 20) and bus.mmio is m and bus.array is m.array
    bus = MMIOBus(0x40000000, length=4096)
    m = StandInMMIO.instances[-1]
    assert (m.base_addr, m.length, m.array.size) == (0x40000000, 4096, 1024) and bus.mmio is m
    bus = MMIOBus(0, 0x100)
    assert (StandInMMIO.instances[-1].base_addr, StandInMMIO.instances[-1].length) == (0, 0x100)
    given = StandInMMIO(0x1000, 64)
    n = len(StandInMMIO.instances)
    bus = MMIOBus(0x43C00000, 4096, mmio=given)  # base_addr ignored, nothing mapped
    assert bus.mmio is given and bus.array is given.array and len(StandInMMIO.instances) == n


def test_mmiobus_single_words(pynq):
    size = SMALL.register_map(8).size
    bus = MMIOBus(0x43C00000, size)
    m = bus.mmio
    last = size - 4
    bus.write(0, 0x12345678)
    bus.write(last, -1)  # truncated to 32 bits, passed as a Python int as pynq requires
    bus.write(8, 0x1_0000_0005)
    bus.write(12, np.uint32(0xCAFEF00D))
    bus.write(16, np.int64(-2))
    assert m.calls == [("write", 0, 0x12345678), ("write", last, 0xFFFFFFFF), ("write", 8, 5),
                       ("write", 12, 0xCAFEF00D), ("write", 16, 0xFFFFFFFE)]
    assert all(type(c[2]) is int for c in m.calls)
    assert m.array[0] == 0x12345678 and m.array[-1] == 0xFFFFFFFF and m.array[2] == 5
    m.calls.clear()
    got = [bus.read(0), bus.read(last), bus.read(8), bus.read(12), bus.read(16), bus.read(4)]
    assert got == [0x12345678, 0xFFFFFFFF, 5, 0xCAFEF00D, 0xFFFFFFFE, 0]
    assert all(type(v) is int for v in got)
    assert m.calls == [("read", a) for a in (0, last, 8, 12, 16, 4)]


def test_mmiobus_refusals_are_pynqs(pynq):
    bus = MMIOBus(0x43C00000, 256)
    for addr, err, msg in [(2, MemoryError, "Unaligned read: offset must be multiple of 4."),
                           (-4, ValueError, "Offset cannot be negative."),
                           (256, IndexError, None)]:
        with pytest.raises(err) as e:
            bus.read(addr)
        if msg:
            assert str(e.value) == msg
    for addr, err, msg in [(6, MemoryError, "Unaligned write: offset must be multiple of 4."),
                           (-4, ValueError, "Offset cannot be negative."),
                           (256, IndexError, None)]:
        with pytest.raises(err) as e:
            bus.write(addr, 1)
        if msg:
            assert str(e.value) == msg
    assert not bus.array.any()
    with pytest.raises(ValueError, match="Base address or length cannot be negative"):
        MMIOBus(-1, 256)


def test_mmiobus_blocks_are_slices_of_the_mapping(pynq):
    size = SMALL.register_map(8).size
    bus = MMIOBus(0x43C00000, size)
    m = bus.mmio
    words = np.array([1, -1, 0x1_0000_0002, 7], np.int64)
    bus.write_block(0, words)  # first word of the map
    bus.write_block(size - 12, np.array([10, 99, 12, 99, 11], np.uint32)[::2])  # non-contiguous input
    bus.write_block(64, [5, 6])
    assert m.calls == []  # no single transactions
    want = np.zeros(size // 4, np.uint32)
    want[:4] = [1, 0xFFFFFFFF, 2, 7]
    want[-3:] = [10, 12, 11]
    want[16:18] = [5, 6]
    np.testing.assert_array_equal(m.array, want)
    got = bus.read_block(size - 12, 3)  # last words of the map
    assert got.dtype == np.uint32 and got.tolist() == [10, 12, 11]
    whole = bus.read_block(0, size // 4)
    np.testing.assert_array_equal(whole, want)
    assert bus.read_block(0, 4).tolist() == [1, 0xFFFFFFFF, 2, 7]
    assert bus.read_block(4, 2).tolist() == [0xFFFFFFFF, 2]
    assert bus.read_block(64, 0).tolist() == []
    got[:] = 0  # a copy, not a view of the registers
    assert m.array[-3:].tolist() == [10, 12, 11]
    assert m.calls == []
    # refused like pynq refuses one word (negative, unaligned), and past the mapping's end, where a
    # numpy slice would read fewer words and a write would fail inside numpy
    end = re.escape(f"runs past the {size}-byte mapping (map spec.register_map(lanes).size bytes: "
                    "MMIOBus(length=...))") + "$"
    with pytest.raises(MemoryError, match=f"^block write of 2 words at 0x{size - 4:x} {end}"):
        bus.write_block(size - 4, np.array([1, 2], np.uint32))
    with pytest.raises(MemoryError, match=f"^block read of 4 words at 0x{size - 12:x} {end}"):
        bus.read_block(size - 12, 4)
    with pytest.raises(MemoryError, match="^Unaligned read: offset must be multiple of 4.$"):
        bus.read_block(66, 1)
    with pytest.raises(MemoryError, match="^Unaligned write: offset must be multiple of 4.$"):
        bus.write_block(2, np.array([1], np.uint32))
    with pytest.raises(ValueError, match="^Offset cannot be negative.$"):
        bus.read_block(-4, 1)
    np.testing.assert_array_equal(m.array, want)  # nothing refused was written


def test_register_core_over_mmiobus_equals_the_oracle(pynq):
    """The stand-in's registers are the core's (a FakeBus behind the mapping, word by word)."""

    class Registers:
        def __init__(self, fake, words):
            self.fake, self.words = fake, words

        def __len__(self):
            return self.words

        def __getitem__(self, key):
            if not isinstance(key, slice):
                return np.uint32(self.fake.read(4 * key))
            start, stop, step = key.indices(self.words)
            assert step == 1
            return self.fake.read_block(4 * start, stop - start)

        def __setitem__(self, key, value):
            if not isinstance(key, slice):
                self.fake.write(4 * key, int(value))
                return
            start, stop, step = key.indices(self.words)
            value = np.asarray(value)
            assert step == 1 and value.dtype == np.uint32 and value.size == stop - start
            self.fake.write_block(4 * start, value)

    fake = FakeBus(SMALL, busy_polls=2)
    size = fake.rmap.size

    class Mapped(StandInMMIO):
        def __init__(self, base_addr, length=4, **kw):
            super().__init__(base_addr, length, **kw)
            self.array = Registers(fake, length // 4)

    pynq.MMIO = Mapped
    bus = MMIOBus(0x43C00000, size)
    rng = np.random.default_rng(5)
    masks = random_masks(SMALL, rng, 0.3)
    core = RegisterCore(bus, SMALL, verify=True)
    core.load_masks(masks)
    v0 = rng.integers(0, SMALL.threshold, SMALL.n_neurons)
    core.reset_state(v0)
    st = oracle_init_state(SMALL, v0.tolist())
    for _ in range(5):
        x = random_xq(SMALL, rng, extreme=True)
        st, want = oracle_env_step(SMALL, masks, st, x.tolist())
        np.testing.assert_array_equal(core.step(x), np.asarray(want, np.int32))
    np.testing.assert_array_equal(core.read_state()["v"], st.v)
    assert bus.mmio.calls and all(c[0] == "read" for c in bus.mmio.calls[:3])


def test_module_exports():
    assert busmod.FakeBus is busmod.CoreModel
    assert set(busmod.__all__) == {"CoreModel", "FakeBus", "MMIOBus", "RecordingBus", "ReplayBus",
                                   "ReplayMismatch", "default_lanes"}


def test_block_words_of_any_numeric_dtype_are_recorded_as_32_bit_words(tmp_path):
    """As FakeBus and MMIOBus take them (cast to integer words): float and unsigned arrays too."""
    path = tmp_path / "bus.jsonl"
    blocks = [np.array([1.0, 2.0, 4294967295.0]), np.array([2**40 + 3, 5], np.uint64),
              np.array([True, False]), [-1, 2]]
    with RecordingBus(Scripted(), path) as rec:
        for b in blocks:
            rec.write_block(0x40, b)
    want = [[1, 2, 0xFFFFFFFF], [3, 5], [1, 0], [0xFFFFFFFF, 2]]
    replay = ReplayBus(path)
    assert [r["words"] for r in replay.log] == want
    assert all(type(w) is int for r in replay.log for w in r["words"])
    for b in blocks:
        replay.write_block(0x40, b)
    replay.done()
