"""RegisterCore's exact behaviour, as the mutation run of host/core.py asks (issue 18).

Register traffic is compared whole against a recording (every read with the value it answered,
every write and block with its words, in order); the stage timings run on a fake clock that ticks
1 s per read, so they are exact; every refusal is matched with its whole message. Numpy-only.
"""

from __future__ import annotations

import pickle
import types

import numpy as np
import pytest

import evoconn.host.core as core_mod
from evoconn.host.bus import FakeBus
from evoconn.host.core import (
    STAGES,
    BusError,
    CoreError,
    CoreFault,
    CoreStats,
    CoreTimeout,
    IdentityError,
    MissingDependency,
    RegisterCore,
    VerifyError,
    check_masks,
    check_v0,
    check_xq,
    decode_status,
    sign_extend,
    to_words,
)
from evoconn.spec import (
    IdentityMismatch,
    Spec,
    Status,
    identify,
    mask_rows,
    oracle_env_step,
    oracle_init_state,
    pack_rows,
)

from ..conftest import random_masks, random_xq

SMALL = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5)
# SMALL's map (lanes 8): registers and windows at these byte offsets
STATUS, CONTROL, CYCLES, SPIKES, ERR_ADDR = 12, 16, 44, 48, 56
MASK_IN, MASK_H, MASK_OUT, OBS, OUT, STATE, SPIKE = 256, 512, 1024, 1056, 1072, 2048, 3072
LOADED, BUSY, DONE, ERROR, ABORTED = (int(Status.LOADED), int(Status.BUSY), int(Status.DONE),
                                      int(Status.ERROR), int(Status.ABORTED))


class Rec:
    """A bus that passes everything to ``inner`` and logs it whole."""

    def __init__(self, inner):
        self.inner = inner
        self.log: list[tuple] = []

    def read(self, addr):
        value = int(self.inner.read(addr))
        self.log.append(("r", addr, value))
        return value

    def write(self, addr, value):
        self.log.append(("w", addr, int(value)))
        self.inner.write(addr, value)

    def write_block(self, addr, words):
        self.log.append(("wb", addr, [int(w) for w in words]))
        self.inner.write_block(addr, words)

    def read_block(self, addr, n):
        self.log.append(("rb", addr, n))
        return self.inner.read_block(addr, n)

    def take(self):
        out, self.log = self.log, []
        return out


@pytest.fixture
def clock(monkeypatch):
    """core.py's clock: 0, 1, 2, ... seconds, one tick per call."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(core_mod, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))


def ident_log(spec=SMALL, **kw):
    r = Rec(FakeBus(spec, **kw))
    identify(r.read, spec)
    return r.log


def attach(spec=SMALL, inner=None, **kw):
    inner = FakeBus(spec) if inner is None else inner
    rec = Rec(inner)
    core = RegisterCore(rec, spec, **kw)
    return inner, rec, core


def packed(spec, masks):
    rows = mask_rows(spec, masks)
    return {k: [int(w) for w in pack_rows(rows[k]).ravel()] for k in ("mask_in", "mask_h", "mask_out")}


# =====================================================================================
# attaching
# =====================================================================================


def test_attach_reads_identity_then_status_only():
    inner, rec, core = attach(verify=True, timeout=2, read_cycles=True)
    assert rec.log == ident_log() + [("r", STATUS, 0)]
    assert core.stats.as_dict() == CoreStats().as_dict()  # the attach reads are not counted
    assert core.spec == SMALL and core.lanes == inner.lanes == 8
    want = SMALL.register_map(8)
    assert core.rmap.registers == want.registers and core.rmap.windows == want.windows
    assert core.verify is True and core.read_cycles is True and core.loaded is False
    assert core.timeout == 2.0 and type(core.timeout) is float
    assert core.bus is rec


def test_attach_clears_a_stale_error_once_and_only_an_error():
    inner = FakeBus(SMALL)
    inner.read(0xFC)  # a refused read: ERROR|ERR_READ, left by an earlier session
    stale = int(Status.ERROR | Status.ERR_READ)
    _, rec, core = attach(inner=inner)
    assert rec.log == ident_log() + [("r", STATUS, stale), ("w", CONTROL, 4)]
    assert inner.regs["STATUS"] == 0 and inner.regs["ERR_ADDR"] == 0
    assert core.stats.transactions == 1 and core.stats.bytes_to_core == 4 and core.stats.bytes_from_core == 0
    # clear_errors=False: STATUS is not even read
    inner = FakeBus(SMALL)
    inner.read(0xFC)
    _, rec, _ = attach(inner=inner, clear_errors=False)
    assert rec.log == ident_log() and inner.regs["STATUS"] == stale
    # status bits other than ERROR are left alone
    inner = FakeBus(SMALL)
    inner.write(MASK_IN, 1)
    _, rec, _ = attach(inner=inner)
    assert rec.log == ident_log() + [("r", STATUS, LOADED)]


def test_spec_none_adopts_the_cores_spec():
    other = Spec(n_neurons=48, obs_dim=3, act_dim=2, substeps=5)
    rec = Rec(FakeBus(other))
    core = RegisterCore(rec, None)
    assert core.spec == other and core.lanes == FakeBus(other).lanes
    assert rec.log == ident_log(other) + [("r", STATUS, 0)]


def test_identity_error_is_the_mismatch_message_without_context():
    other = Spec(n_neurons=48, obs_dim=3, act_dim=2, substeps=5)
    with pytest.raises(IdentityMismatch) as want:
        identify(FakeBus(other).read, SMALL)
    with pytest.raises(IdentityError) as e:
        RegisterCore(FakeBus(other), SMALL)
    assert str(e.value) == str(want.value) and str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_repr():
    _, _, core = attach()
    assert repr(core) == "RegisterCore(N=40, d=3, a=3, K=5, lanes=8, hash=0x34be6c69, bus=Rec)"


# =====================================================================================
# masks
# =====================================================================================


def test_load_masks_traffic_stats_and_time(clock):
    masks = random_masks(SMALL, np.random.default_rng(3), 0.4)
    words = packed(SMALL, masks)
    inner, rec, core = attach(verify=True)
    rec.take()
    core.load_masks(masks)
    assert rec.take() == [("wb", MASK_IN, words["mask_in"]), ("wb", MASK_H, words["mask_h"]),
                          ("wb", MASK_OUT, words["mask_out"]), ("r", STATUS, LOADED),
                          ("rb", MASK_IN, 12), ("rb", MASK_H, 80), ("rb", MASK_OUT, 6)]
    assert [len(words[k]) for k in words] == [12, 80, 6]
    s = core.stats
    assert (s.transactions, s.bytes_to_core, s.bytes_from_core, s.mask_loads) == (7, 4 * 98, 4 + 4 * 98, 1)
    assert s.seconds == {"mask_upload": 1.0, "obs_write": 0.0, "compute_wait": 0.0, "output_read": 0.0,
                         "state_io": 0.0, "rho_upload": 0.0, "sample": 0.0}
    assert core.loaded is True
    core.verify = False
    core.load_masks(masks)
    assert rec.take() == [("wb", MASK_IN, words["mask_in"]), ("wb", MASK_H, words["mask_h"]),
                          ("wb", MASK_OUT, words["mask_out"]), ("r", STATUS, LOADED)]
    assert (s.transactions, s.mask_loads, s.seconds["mask_upload"]) == (11, 2, 2.0)
    for k, w in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out")):
        assert inner.mem[k].tolist() == words[w]


def test_verify_error_names_the_last_window_count_row_word_and_address():
    masks = random_masks(SMALL, np.random.default_rng(4), 0.5)
    words = packed(SMALL, masks)["mask_out"]

    class Flips(FakeBus):
        """Read-back of the window at ``at`` with bits flipped: {word index: bit}."""

        def __init__(self, spec, at, flips):
            super().__init__(spec)
            self.at, self.flips = at, flips

        def read_block(self, addr, n):
            out = np.asarray(super().read_block(addr, n)).copy()
            if addr == self.at:
                for i, bit in self.flips.items():
                    out[i] ^= 1 << bit
            return out

    _, _, core = attach(inner=Flips(SMALL, MASK_OUT, {3: 0, 5: 7}), verify=True)
    with pytest.raises(VerifyError) as e:
        core.load_masks(masks)
    assert str(e.value) == (
        f"MASK_OUT read back differs in 2 of 6 words; first at word 3 (row 1, word 1 of the row, "
        f"address 0x40c): wrote 0x{words[3]:08x}, read 0x{words[3] ^ 1:08x}")
    assert core.loaded is False and core.stats.mask_loads == 0

    words = packed(SMALL, masks)["mask_in"]
    _, _, core = attach(inner=Flips(SMALL, MASK_IN, {0: 31}), verify=True)
    with pytest.raises(VerifyError) as e:
        core.load_masks(masks)
    assert str(e.value) == (
        f"MASK_IN read back differs in 1 of 12 words; first at word 0 (row 0, word 0 of the row, "
        f"address 0x100): wrote 0x{words[0]:08x}, read 0x{words[0] ^ (1 << 31):08x}")


def test_check_masks_refusals_and_conversion():
    ok = random_masks(SMALL, np.random.default_rng(5))
    with pytest.raises(TypeError) as e:
        check_masks(SMALL, [ok["mask_in"]])
    assert str(e.value) == "masks must be a dict of mask_in/mask_h/mask_out, got list"
    with pytest.raises(ValueError) as e:
        check_masks(SMALL, {"mask_out": ok["mask_out"], "mask_in": ok["mask_in"]})
    assert str(e.value) == "masks lack 'mask_h' (have ['mask_in', 'mask_out'])"
    with pytest.raises(ValueError) as e:
        check_masks(SMALL, {**ok, "mask_out": np.zeros((40, 2), bool)})
    assert str(e.value) == "mask_out has shape (40, 2), this core needs (40, 3) (N=40, d=3, a=3)"
    for bad in (2, -1):
        m = ok["mask_in"].astype(np.int64)
        m[-1, -1] = bad
        with pytest.raises(ValueError) as e:
            check_masks(SMALL, {**ok, "mask_in": m})
        assert str(e.value) == "mask_in must be boolean (or 0/1), got values outside {0, 1}"
    ints = {k: v.astype(np.uint8) for k, v in ok.items()}
    out = check_masks(SMALL, {**ints, "extra": 1})
    assert list(out) == ["mask_in", "mask_h", "mask_out"]
    for k in out:
        assert out[k].dtype == np.bool_
        np.testing.assert_array_equal(out[k], ok[k])
    out = check_masks(SMALL, ok)
    assert all(out[k] is ok[k] for k in ok)  # bool arrays pass as they are


# =====================================================================================
# state
# =====================================================================================


def test_reset_state_traffic_with_and_without_v0(clock):
    _, rec, core = attach()
    rec.take()
    core.reset_state()
    assert rec.take() == [("w", CONTROL, 2)]
    assert (core.stats.transactions, core.stats.bytes_to_core, core.stats.seconds["state_io"]) == (1, 4, 1.0)
    lo, hi = SMALL.state_limits()
    v0 = np.arange(SMALL.n_neurons) - 20
    v0[0], v0[-1] = lo, hi
    core.reset_state(v0)
    block = []
    for v in v0:
        block += [int(v) & 0xFFFFFFFF, 0, 0, 0]
    assert rec.take() == [("w", CONTROL, 2), ("wb", STATE, block)]
    s = core.stats
    assert (s.transactions, s.bytes_to_core, s.bytes_from_core, s.seconds["state_io"]) == (3, 8 + 640, 0, 2.0)
    np.testing.assert_array_equal(core.read_state()["v"], v0)


def test_read_state_traffic_and_field_widths(clock):
    spec = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5, rate_width=20)  # v etc. 18 bits, rate 20
    rng = np.random.default_rng(6)
    state_words = rng.integers(0, 2**32, 160, dtype=np.uint64).astype(np.uint32)
    state_words[:4] = [0x20000, 0x1FFFF, 0x80000, 0xFFFFFFFF]
    state_words[4:8] = [0x1FFFF, 0x20000, 0x7FFFF, 0x3FFFF]
    spike_words = np.array([1, 1 << 7], np.uint32)  # neurons 0 and 39 (the last)

    class Crafted(FakeBus):
        def read_block(self, addr, n):
            if addr == STATE:
                return state_words.copy()
            if addr == SPIKE:
                return spike_words.copy()
            return super().read_block(addr, n)

    inner = Crafted(spec)
    inner.regs["SPIKES"], inner.regs["CYCLES"] = 7, 1234
    _, rec, core = attach(spec, inner=inner)
    rec.take()
    st = core.read_state()
    assert rec.take() == [("rb", STATE, 160), ("rb", SPIKE, 2), ("r", SPIKES, 7), ("r", CYCLES, 1234),
                          ("r", STATUS, 0)]
    assert list(st) == ["v", "isyn", "rate", "i_in", "spike", "spikes", "cycles", "status"]

    def sx(w, width):
        w = int(w) & ((1 << width) - 1)
        return w - (1 << width) if w >> (width - 1) else w

    words = state_words.reshape(40, 4)
    for i, (name, width) in enumerate((("v", 18), ("isyn", 18), ("rate", 20), ("i_in", 18))):
        assert st[name].dtype == np.int32, name
        assert st[name].tolist() == [sx(w, width) for w in words[:, i]], name
    assert st["v"][:2].tolist() == [-131072, 131071] and st["rate"][:2].tolist() == [-524288, 524287]
    assert st["isyn"][:2].tolist() == [131071, -131072] and st["i_in"][:2].tolist() == [-1, -1]
    assert st["spike"].dtype == np.bool_ and np.flatnonzero(st["spike"]).tolist() == [0, 39]
    assert (st["spikes"], st["cycles"]) == (7, 1234)
    assert st["status"] == Status(0) and isinstance(st["status"], Status)
    s = core.stats
    assert (s.transactions, s.bytes_from_core, s.bytes_to_core, s.seconds["state_io"]) == (5, 4 * 165, 0, 1.0)
    core.read_state()  # ticks 2 and 3: the stage time adds up
    assert (s.transactions, s.seconds["state_io"]) == (10, 2.0)


def test_check_v0_and_check_xq_refusals_and_boundaries():
    lo, hi = SMALL.state_limits()
    for bad, msg in ((np.zeros(3, int), "v0 must have shape (40,), got (3,)"),
                     (np.zeros((40, 1), int), "v0 must have shape (40,), got (40, 1)")):
        with pytest.raises(ValueError) as e:
            check_v0(SMALL, bad)
        assert str(e.value) == msg
    with pytest.raises(TypeError) as e:
        check_v0(SMALL, np.zeros(40))
    assert str(e.value) == "v0 must be integers (in state units), got dtype float64"
    for edge, got in ((lo - 1, f"[{lo - 1}, {hi}]"), (hi + 1, f"[{lo}, {hi + 1}]")):
        v = np.zeros(40, np.int64)
        v[0], v[1] = lo, hi
        v[-1] = edge
        with pytest.raises(ValueError) as e:
            check_v0(SMALL, v)
        assert str(e.value) == f"v0 must lie in [{lo}, {hi}] (state_width=18), got values in {got}"
    v = np.full(40, lo, np.int32)
    v[-1] = hi
    out = check_v0(SMALL, v)
    assert out.dtype == np.int64 and out.tolist() == v.tolist()
    olo, ohi = SMALL.obs_limits()
    with pytest.raises(ValueError) as e:
        check_xq(SMALL, np.zeros(4, int))
    assert str(e.value) == "xq must have shape (3,), got (4,)"
    with pytest.raises(TypeError) as e:
        check_xq(SMALL, np.zeros(3, np.float32))
    assert str(e.value) == "xq must be integers (use spec.quantize_obs), got dtype float32"
    with pytest.raises(ValueError) as e:
        check_xq(SMALL, [olo - 1, 5, 0])
    assert str(e.value) == f"xq must lie in [{olo}, {ohi}] (obs_width=16), got values in [{olo - 1}, 5]"
    with pytest.raises(ValueError) as e:
        check_xq(SMALL, [0, 5, ohi + 1])
    assert str(e.value) == f"xq must lie in [{olo}, {ohi}] (obs_width=16), got values in [0, {ohi + 1}]"
    out = check_xq(SMALL, np.array([olo, ohi, 0], np.int16))
    assert out.dtype == np.int64 and out.tolist() == [olo, ohi, 0]


def test_sign_extend_and_to_words_at_their_limits():
    got = sign_extend([0, 1, 127, 128, 255, 256, 0x17F, 0xFFFFFF80], 8)
    assert got.dtype == np.int64 and got.tolist() == [0, 1, 127, -128, -1, 0, 127, -128]
    assert sign_extend([0x7FFFFFFF, 0x80000000, 0xFFFFFFFF], 32).tolist() == [2**31 - 1, -(2**31), -1]
    assert sign_extend([1, 2, 3], 2).tolist() == [1, -2, -1]
    w = to_words([-1, 0, 2**31 - 1, -(2**31), 2**32 + 5, -(2**32) - 1])
    assert w.dtype == np.uint32 and w.tolist() == [0xFFFFFFFF, 0, 0x7FFFFFFF, 0x80000000, 5, 0xFFFFFFFF]
    for dt in (np.int8, np.int16, np.int32):  # narrow signed arrays too
        w = to_words(np.array([-1, 5, -128], dt))
        assert w.dtype == np.uint32 and w.tolist() == [0xFFFFFFFF, 5, 0xFFFFFF80], dt


# =====================================================================================
# steps
# =====================================================================================


def test_step_traffic_stats_and_time(clock):
    rng = np.random.default_rng(7)
    masks = random_masks(SMALL, rng, 0.4)
    inner = FakeBus(SMALL, busy_polls=1)
    _, rec, core = attach(inner=inner, read_cycles=True, timeout=100)
    core.load_masks(masks)
    core.reset_state()
    base = core.stats.as_dict()
    rec.take()
    st = oracle_init_state(SMALL)
    cycles = 0
    for n in range(2):
        x = random_xq(SMALL, rng, extreme=True)
        x[0] = SMALL.obs_limits()[0]
        out = core.step(x)
        st, want = oracle_env_step(SMALL, masks, st, x.tolist())
        assert out.dtype == np.int32 and out.tolist() == list(want)
        log = rec.take()
        assert log[:-1] == [("wb", OBS, [int(v) & 0xFFFFFFFF for v in x]), ("w", CONTROL, 1),
                            ("r", STATUS, BUSY | LOADED), ("r", STATUS, BUSY | LOADED),
                            ("r", STATUS, DONE | LOADED), ("rb", OUT, 3)]
        assert log[-1] == ("r", CYCLES, inner.regs["CYCLES"]) and inner.regs["CYCLES"] > 0
        cycles += inner.regs["CYCLES"]
        s = core.stats
        assert (s.steps, s.polls, s.cycles) == (n + 1, 3 * (n + 1), cycles)
        assert s.transactions - base["transactions"] == 7 * (n + 1)
        assert s.bytes_to_core - base["bytes_to_core"] == 16 * (n + 1)
        assert s.bytes_from_core - base["bytes_from_core"] == 28 * (n + 1)
        # ticks: t0, t1, one per poll (3), t2, t3
        assert {k: s.seconds[k] for k in ("obs_write", "compute_wait", "output_read")} == {
            "obs_write": 1.0 * (n + 1), "compute_wait": 4.0 * (n + 1), "output_read": 1.0 * (n + 1)}
    # without read_cycles CYCLES is not read
    core.read_cycles = False
    core.step(np.zeros(3, np.int64))
    assert rec.take()[-1] == ("rb", OUT, 3) and core.stats.cycles == cycles


def test_done_with_busy_still_set_is_not_done():
    class DoneBusy(FakeBus):  # DONE shows a poll early, BUSY still up
        def read(self, addr):
            value = super().read(addr)
            return value | DONE if addr == STATUS and value & BUSY else value

    rng = np.random.default_rng(8)
    masks = random_masks(SMALL, rng)
    _, rec, core = attach(inner=DoneBusy(SMALL, busy_polls=2), timeout=100)
    core.load_masks(masks)
    rec.take()
    x = random_xq(SMALL, rng)
    _, want = oracle_env_step(SMALL, masks, oracle_init_state(SMALL), x.tolist())
    assert core.step(x).tolist() == list(want)
    assert [e for e in rec.log if e[1] == STATUS] == [("r", STATUS, 11)] * 3 + [("r", STATUS, DONE | LOADED)]
    assert core.stats.polls == 4


def test_step_fault_names_the_step():
    _, _, core = attach()
    with pytest.raises(CoreFault) as e:
        core.step(np.zeros(3, np.int64))
    assert str(e.value) == (
        "core reported ERROR during env step 0: STATUS = ERROR|ERR_NOT_LOADED (0x204): START with no "
        "masks loaded since reset; nothing ran, first at address 0x10 (ERR_ADDR). Call clear_error() to go on.")
    assert e.value.status == Status.ERROR | Status.ERR_NOT_LOADED and core.stats.steps == 0
    core.clear_error()
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    core.step(np.zeros(3, np.int64))
    core.bus.inner.read(0xFC)  # a stale refused read, seen at the next step's first poll
    with pytest.raises(CoreFault, match=r"^core reported ERROR during env step 1: ") as e:
        core.step(np.zeros(3, np.int64))


def test_run_stacks_steps_and_an_empty_run_touches_nothing():
    rng = np.random.default_rng(9)
    masks = random_masks(SMALL, rng)
    _, rec, core = attach()
    core.load_masks(masks)
    rec.take()
    out = core.run(np.zeros((0, 3), np.int64))
    assert out.shape == (0, 3) and out.dtype == np.int32 and rec.log == []
    xs = np.stack([random_xq(SMALL, rng, extreme=True) for _ in range(3)])
    st, want = oracle_init_state(SMALL), []
    for x in xs:
        st, y = oracle_env_step(SMALL, masks, st, x.tolist())
        want.append(list(y))
    out = core.run(xs.tolist())
    assert out.dtype == np.int32 and out.tolist() == want and core.stats.steps == 3


# =====================================================================================
# timeouts, aborts, faults
# =====================================================================================


def test_timeout_polls_to_the_deadline_reads_cycles_and_aborts(clock):
    rng = np.random.default_rng(10)
    inner = FakeBus(SMALL, busy_polls=0)
    _, rec, core = attach(inner=inner, timeout=2)
    core.load_masks(random_masks(SMALL, rng))
    core.step(random_xq(SMALL, rng))  # 2 polls; CYCLES keeps this step's count
    cycles = inner.regs["CYCLES"]
    assert cycles > 0
    inner.busy_polls = None  # hangs from now on
    rec.take()
    with pytest.raises(CoreTimeout) as e:
        core.step(np.zeros(3, np.int64))
    # t1 = 1 + deadline 2 = 3: the polls at ticks 2 and 3 are in time, the one at 4 is not
    assert rec.log[2:] == [("r", STATUS, BUSY | LOADED)] * 3 + [
        ("r", CYCLES, cycles), ("w", CONTROL, 8), ("r", STATUS, LOADED | ABORTED)]
    assert str(e.value) == (
        f"core did not raise DONE within 2 s of START (env step 1, 5 polls): STATUS = BUSY|LOADED (0x9), "
        f"CYCLES = {cycles}. Aborted (CONTROL.ABORT): the core is idle with its neuron state zeroed, "
        "STATUS = LOADED|ABORTED (0x18); reset_state() and go on.")
    assert (e.value.status, e.value.cycles, e.value.aborted) == (9, cycles, True)
    assert core.stats.steps == 1 and core.stats.polls == 5
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is CoreTimeout and str(back) == str(e.value)
    assert (back.status, back.cycles, back.aborted) == (9, cycles, True)


def test_timeout_that_abort_does_not_end(clock):
    class Deaf(FakeBus):  # ignores ABORT: stays busy
        def write(self, addr, value):
            if not (addr == CONTROL and value == 8):
                super().write(addr, value)

    inner = Deaf(SMALL, busy_polls=0)
    _, rec, core = attach(inner=inner, timeout=100)
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    core.step(np.full(3, 100, np.int64))  # 2 polls
    cycles = inner.regs["CYCLES"]
    assert cycles > 0
    inner.busy_polls, core.timeout = None, 0.5  # the first poll is already late
    with pytest.raises(CoreTimeout) as e:
        core.step(np.zeros(3, np.int64))
    assert str(e.value) == (
        f"core did not raise DONE within 0.5 s of START (env step 1, 3 polls): STATUS = BUSY|LOADED (0x9), "
        f"CYCLES = {cycles}. CONTROL.ABORT did not return it to idle (STATUS = BUSY|LOADED (0x9)): is the "
        "clock running and the core out of reset?")
    assert (e.value.status, e.value.cycles, e.value.aborted) == (9, cycles, False)


def test_a_start_that_never_lands_times_out_instead_of_reading_stale_outputs(clock):
    class NoStart(FakeBus):  # drops START: STATUS stays LOADED, neither BUSY nor DONE
        def write(self, addr, value):
            if not (addr == CONTROL and value == 1):
                super().write(addr, value)

    _, rec, core = attach(inner=NoStart(SMALL), timeout=2)
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    rec.take()
    with pytest.raises(CoreTimeout) as e:
        core.step(np.zeros(3, np.int64))
    assert [x for x in rec.log if x[0] == "r"] == [("r", STATUS, LOADED)] * 3 + [
        ("r", CYCLES, 0), ("r", STATUS, LOADED)]
    assert (e.value.status, e.value.aborted) == (LOADED, True) and core.stats.steps == 0


def test_defaults_no_verify_no_cycles_one_second():
    rec = Rec(FakeBus(SMALL))
    core = RegisterCore(rec, SMALL)
    assert (core.verify, core.read_cycles, core.timeout) == (False, False, 1.0)
    rec.take()
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    assert [x[0] for x in rec.take()] == ["wb", "wb", "wb", "r"]
    core.step(np.zeros(3, np.int64))
    assert rec.take()[-1] == ("rb", OUT, 3) and core.stats.cycles == 0


def test_verify_compares_word_values_whatever_integer_type_the_bus_answers():
    """A bus may answer block reads as int32 (bit 31 set reads negative): still the same words."""
    masks = random_masks(SMALL, np.random.default_rng(11))
    masks["mask_in"][:, 31] = True  # bit 31 of every mask_in row's first word

    class Signed(FakeBus):
        def read_block(self, addr, n):
            return np.asarray(super().read_block(addr, n)).astype(np.uint32).view(np.int32)

    _, _, core = attach(inner=Signed(SMALL), verify=True)
    core.load_masks(masks)
    assert core.loaded is True


def test_abort_clear_error_and_status_traffic():
    inner, rec, core = attach()
    inner.read(0xFC)
    rec.take()
    assert core.status() == Status.ERROR | Status.ERR_READ and isinstance(core.status(), Status)
    core.clear_error()
    a = core.abort()
    assert isinstance(a, Status) and a == Status(0)  # idle: nothing to abort
    assert rec.take() == [("r", STATUS, 0x404), ("r", STATUS, 0x404), ("w", CONTROL, 4), ("w", CONTROL, 8),
                          ("r", STATUS, 0)]
    s = core.stats
    assert (s.transactions, s.bytes_to_core, s.bytes_from_core) == (5, 8, 12)


class Scripted(FakeBus):
    """STATUS reads answer ``script`` first (then the model)."""

    script: list[int] = []

    def read(self, addr):
        if addr == STATUS and self.script:
            return self.script.pop(0)
        return super().read(addr)


@pytest.mark.parametrize(("value", "why"), [
    (ERROR, ""),
    (ERROR | 0x100, ": a window access, START, RESET_STATE or SAMPLE arrived while the core was busy "
                    "and was dropped (a read answered 0)"),
    (ERROR | 0x200, ": START with no masks loaded since reset; nothing ran"),
    (ERROR | 0x400, ": a read of an unaligned or unmapped address answered 0"),
    (ERROR | 0x800, ": a write to an unaligned, unmapped or read-only address was dropped"),
    (ERROR | BUSY | 0xF00, ": a window access, START, RESET_STATE or SAMPLE arrived while the core was busy "
                           "and was dropped (a read answered 0); START with no masks loaded since reset; nothing ran; "
                           "a read of an unaligned or unmapped address answered 0; a write to an unaligned, "
                           "unmapped or read-only address was dropped"),
])
def test_fault_messages_name_every_cause(value, why):
    inner = Scripted(SMALL)
    _, rec, core = attach(inner=inner)
    inner.regs["ERR_ADDR"] = 0x1234
    inner.script = [value]
    rec.take()
    with pytest.raises(CoreFault) as e:
        core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    assert str(e.value) == (f"core reported ERROR during mask upload: STATUS = {decode_status(value)}{why}, "
                            "first at address 0x1234 (ERR_ADDR). Call clear_error() to go on.")
    assert e.value.status == Status(value) and isinstance(e.value.status, Status)
    assert rec.log[-2:] == [("r", STATUS, value), ("r", ERR_ADDR, 0x1234)]
    assert core.loaded is False


def test_busy_before_mask_upload_is_a_core_error():
    inner = Scripted(SMALL)
    _, _, core = attach(inner=inner)
    inner.script = [BUSY | LOADED]
    with pytest.raises(CoreError) as e:
        core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    assert type(e.value) is CoreError
    assert str(e.value) == "core is busy before mask upload: STATUS = BUSY|LOADED (0x9)"


def test_decode_status():
    assert decode_status(0) == "none (0x0)"
    assert decode_status(0x105) == "BUSY|ERROR|ERR_BUSY (0x105)"
    assert decode_status(0x20) == "SAMPLING (0x20)"
    assert decode_status(0x40) == "unknown bits 0x40 (0x40)"
    assert decode_status(0xF1F) == ("BUSY|DONE|ERROR|LOADED|ABORTED|ERR_BUSY|ERR_NOT_LOADED|ERR_READ|ERR_WRITE "
                                    "(0xf1f)")
    assert decode_status(0x1000 | 0x40 | 2) == "DONE|unknown bits 0x1040 (0x1042)"


# =====================================================================================
# errors and stats
# =====================================================================================


def test_error_classes():
    e = BusError("no", 0x10, "read")
    assert (str(e), e.addr, e.op) == ("no", 0x10, "read") and isinstance(e, CoreError)
    t = CoreTimeout("late")
    assert (str(t), t.status, t.cycles, t.aborted) == ("late", 0, 0, False)
    f = CoreFault("bad", Status.ERROR)
    assert (str(f), f.status) == ("bad", Status.ERROR)
    assert issubclass(MissingDependency, ImportError) and issubclass(MissingDependency, CoreError)
    assert issubclass(CoreError, RuntimeError) and issubclass(IdentityError, CoreError)
    assert issubclass(VerifyError, CoreError) and issubclass(CoreFault, CoreError)


def test_core_stats_defaults_reset_and_as_dict():
    fresh = {"seconds": dict.fromkeys(STAGES, 0.0), "bytes_to_core": 0, "bytes_from_core": 0,
             "transactions": 0, "steps": 0, "mask_loads": 0, "rho_loads": 0, "samples": 0, "polls": 0,
             "cycles": 0}
    assert STAGES == ("mask_upload", "obs_write", "compute_wait", "output_read", "state_io", "rho_upload", "sample")
    a, b = CoreStats(), CoreStats()
    assert a.as_dict() == fresh and a.seconds is not b.seconds
    a.seconds["obs_write"] = 3.0
    a.bytes_to_core, a.bytes_from_core, a.transactions, a.steps = 1, 2, 3, 4
    a.mask_loads, a.polls, a.cycles, a.rho_loads, a.samples = 5, 6, 7, 8, 9
    assert b.as_dict() == fresh
    assert a.as_dict() == {**fresh, "seconds": {**fresh["seconds"], "obs_write": 3.0}, "bytes_to_core": 1,
                           "bytes_from_core": 2, "transactions": 3, "steps": 4, "mask_loads": 5, "polls": 6,
                           "cycles": 7, "rho_loads": 8, "samples": 9}
    old = a.seconds
    a.reset()
    assert a.as_dict() == fresh and a.seconds is not old and old["obs_write"] == 3.0
