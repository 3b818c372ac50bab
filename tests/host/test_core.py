"""RegisterCore on the fake bus: identity checks, masks, steps, state, faults; equal to the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from evoconn.host.bus import FakeBus
from evoconn.host.core import (
    Core,
    CoreFault,
    CoreTimeout,
    IdentityError,
    RegisterCore,
    VerifyError,
)
from evoconn.spec import CORE_ID, Spec, Status, oracle_env_step, oracle_init_state

from ..conftest import random_masks, random_xq

SMALL = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5)


def make(spec=SMALL, **kw):
    bus = FakeBus(spec, **{k: kw.pop(k) for k in ("busy_polls", "spec_hash", "core_id", "lanes") if k in kw})
    return bus, RegisterCore(bus, spec, **kw)


def test_registercore_is_a_core():
    _, core = make()
    assert isinstance(core, Core)


@pytest.mark.parametrize("busy_polls", [0, 3])
def test_steps_equal_oracle_with_reset_in_the_middle(busy_polls):
    rng = np.random.default_rng(1)
    bus, core = make(busy_polls=busy_polls, verify=True)
    masks = random_masks(SMALL, rng, 0.3)
    core.load_masks(masks)
    st = oracle_init_state(SMALL)
    core.reset_state()
    for t in range(12):
        if t == 6:  # reset mid-episode with a membrane
            v0 = rng.integers(0, SMALL.threshold, SMALL.n_neurons)
            core.reset_state(v0)
            st = oracle_init_state(SMALL, v0.tolist())
        x = random_xq(SMALL, rng, extreme=True)
        out = core.step(x)
        st, want = oracle_env_step(SMALL, masks, st, x.tolist())
        np.testing.assert_array_equal(out, np.asarray(want, np.int32))
        assert out.dtype == np.int32
    s = core.read_state()
    np.testing.assert_array_equal(s["v"], st.v)
    np.testing.assert_array_equal(s["isyn"], st.isyn)
    np.testing.assert_array_equal(s["rate"], st.rate)
    np.testing.assert_array_equal(s["spike"], np.asarray(st.spike, bool))
    assert s["status"] & Status.DONE and s["status"] & Status.LOADED
    assert s["spikes"] == bus.regs["SPIKES"] and s["cycles"] > 0


def test_cycles_follow_the_cycle_model():
    rng = np.random.default_rng(2)
    bus, core = make(read_cycles=True)
    masks = random_masks(SMALL, rng, 0.5)
    core.load_masks(masks)
    core.reset_state(rng.integers(0, 2 * SMALL.threshold, SMALL.n_neurons))
    st = oracle_init_state(SMALL, core.read_state()["v"].tolist())
    total = 0
    for _ in range(4):
        x = random_xq(SMALL, rng)
        prev = sum(st.spike)
        fired: list[int] = []
        st, _ = oracle_env_step(SMALL, masks, st, x.tolist(), fired)
        core.step(x)
        total += bus.cycle_model.env_step_cycles(prev, fired)
    assert core.stats.cycles == total


def test_mask_upload_is_block_writes():
    bus, core = make(Spec(n_neurons=64, obs_dim=5, act_dim=3, substeps=2))
    before = bus.writes
    core.load_masks(random_masks(core.spec, np.random.default_rng(0)))
    assert bus.writes - before == 3  # one block per mask window


def test_verify_catches_a_stuck_bit():
    class StuckBit(FakeBus):
        def read_block(self, addr, n):
            words = super().read_block(addr, n).copy()
            if addr == self.rmap.windows["MASK_H"].offset:
                words[5] ^= 1 << 3
            return words

    spec = SMALL
    core = RegisterCore(StuckBit(spec), spec, verify=True)
    with pytest.raises(VerifyError, match=r"MASK_H .* first at word 5 \(row 2, word 1"):
        core.load_masks(random_masks(spec, np.random.default_rng(0)))


def test_identity_checks():
    with pytest.raises(IdentityError, match="ID reads 0xdeadbeef"):
        make(core_id=0xDEADBEEF)
    other = Spec(n_neurons=48, obs_dim=3, act_dim=2, substeps=5)
    with pytest.raises(IdentityError) as e:
        RegisterCore(FakeBus(other), SMALL)
    msg = str(e.value)
    assert f"0x{other.hash32:08x}" in msg and f"0x{SMALL.hash32:08x}" in msg
    assert "n_neurons: core 48 vs expected 40" in msg and "act_dim: core 2 vs expected 3" in msg
    assert "obs_dim" not in msg
    arith = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5, state_width=20)
    with pytest.raises(IdentityError, match="sizes agree, so the arithmetic differs"):
        RegisterCore(FakeBus(arith), SMALL)
    # spec=None adopts the core's sizes when its hash is the default arithmetic's
    assert RegisterCore(FakeBus(other)).spec == other
    with pytest.raises(IdentityError, match="not the default arithmetic"):
        RegisterCore(FakeBus(arith))


def test_timeout_reports_status_and_cycles_then_aborts_and_the_next_episode_is_exact():
    bus, core = make(busy_polls=None, timeout=0.05)  # a core that never finishes
    rng = np.random.default_rng(0)
    masks = random_masks(SMALL, rng)
    core.load_masks(masks)
    core.reset_state()
    with pytest.raises(CoreTimeout, match=r"STATUS = BUSY\|LOADED \(0x9\), CYCLES = 0\. Aborted") as e:
        core.step(np.zeros(SMALL.obs_dim, np.int32))
    assert e.value.aborted and e.value.status == Status.BUSY | Status.LOADED and e.value.cycles == 0
    assert core.status() == Status.LOADED | Status.ABORTED  # idle, no error, no DONE
    # the core is usable: the next episode equals the oracle
    bus.busy_polls = 2
    core.reset_state()
    st = oracle_init_state(SMALL)
    for _ in range(5):
        x = random_xq(SMALL, rng, extreme=True)
        st, want = oracle_env_step(SMALL, masks, st, x.tolist())
        np.testing.assert_array_equal(core.step(x), np.asarray(want, np.int32))
    assert core.status() == Status.LOADED | Status.DONE  # START cleared ABORTED


def test_a_host_paused_past_the_deadline_still_sees_the_core_finish():
    """The read that decides a timeout comes after the deadline: a host descheduled between two
    polls (a loaded machine) must not report a core that finished meanwhile as hung."""
    import time

    bus, core = make(busy_polls=0, timeout=0.05)  # BUSY on the first poll, DONE on the next
    rng = np.random.default_rng(1)
    masks = random_masks(SMALL, rng)
    core.load_masks(masks)
    core.reset_state()
    status = core._status
    read = bus.read
    paused = []

    def paused_read(addr):
        value = read(addr)
        if addr == status and value & Status.BUSY and not paused:
            paused.append(value)
            time.sleep(0.2)  # paused past the deadline right after seeing BUSY
        return value

    bus.read = paused_read
    x = random_xq(SMALL, rng)
    _, want = oracle_env_step(SMALL, masks, oracle_init_state(SMALL), x.tolist())
    np.testing.assert_array_equal(core.step(x), np.asarray(want, np.int32))
    assert paused and core.stats.polls == 2


def test_accesses_while_busy_are_dropped_and_reported():
    bus, core = make(busy_polls=None, timeout=0.05)
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    bus.write(bus.rmap.registers["CONTROL"].offset, 1)  # START; never finishes
    out = bus.rmap.windows["OUT"].offset
    assert bus.read(out) == 0  # a window read answers 0 at once
    assert bus.regs["ERR_ADDR"] == out
    # a mask write while busy is dropped and flagged; the fault names the flags and ERR_ADDR
    with pytest.raises(CoreFault, match=f"ERR_BUSY.*first at address 0x{out:x}") as e:
        core.load_masks(random_masks(SMALL, np.random.default_rng(1)))
    assert e.value.status & Status.ERR_BUSY
    assert core.abort() == Status.LOADED | Status.ABORTED | Status.ERROR | Status.ERR_BUSY
    core.clear_error()
    assert core.status() == Status.LOADED | Status.ABORTED and bus.regs["ERR_ADDR"] == 0


def test_start_with_nothing_loaded():
    _, core = make()
    with pytest.raises(CoreFault, match="ERR_NOT_LOADED.*no masks loaded") as e:
        core.step(np.zeros(SMALL.obs_dim, np.int32))
    assert e.value.status & Status.ERROR
    core.clear_error()
    assert not core.status() & Status.ERROR


def test_refused_accesses_answer_and_are_reported():
    """No bus error: a refused read answers 0, a refused write is dropped, STATUS says which and
    ERR_ADDR keeps the first address until CLEAR_ERROR; the host's next check raises CoreFault."""
    bus, core = make()
    out = bus.rmap.windows["OUT"].offset
    cases = [("write", out, Status.ERR_WRITE), ("write", 0, Status.ERR_WRITE),
             ("read", 0xFC, Status.ERR_READ), ("read", 2, Status.ERR_READ)]
    for op, addr, bit in cases:
        before = bus.mem["OUT"].copy()
        assert (bus.write(addr, 1) if op == "write" else bus.read(addr)) in (None, 0)
        assert bus.regs["STATUS"] == Status.ERROR | bit and bus.regs["ERR_ADDR"] == addr, (op, addr)
        assert bus.regs["ID"] == CORE_ID
        np.testing.assert_array_equal(bus.mem["OUT"], before)
        bus.read(0xFC)  # a second error keeps the first address
        assert bus.regs["ERR_ADDR"] == addr
        core.clear_error()
        assert bus.regs["STATUS"] == 0 and bus.regs["ERR_ADDR"] == 0
    # a block is a sequence of words: the ones inside OBS land, the first word past it is refused
    obs = bus.rmap.windows["OBS"]
    bus.write_block(obs.offset, np.arange(1, obs.depth + 2, dtype=np.uint32))
    np.testing.assert_array_equal(bus.read_block(obs.offset, obs.depth), np.arange(1, obs.depth + 1))
    assert bus.regs["STATUS"] == Status.ERROR | Status.ERR_WRITE
    assert bus.regs["ERR_ADDR"] == obs.offset + 4 * obs.depth
    with pytest.raises(CoreFault, match=f"ERR_WRITE.*dropped, first at address 0x{obs.offset + 4 * obs.depth:x}"):
        core.load_masks(random_masks(SMALL, np.random.default_rng(0)))


def test_host_side_argument_checks():
    _, core = make()
    with pytest.raises(ValueError, match=r"mask_h has shape \(8, 8\), this core needs \(40, 40\)"):
        core.load_masks({"mask_in": np.zeros((6, 40), bool), "mask_h": np.zeros((8, 8), bool),
                         "mask_out": np.zeros((40, 3), bool)})
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    with pytest.raises(TypeError, match="quantize_obs"):
        core.step(np.zeros(3))
    lo, hi = SMALL.obs_limits()
    with pytest.raises(ValueError, match=r"xq must lie in"):
        core.step(np.array([hi + 1, 0, 0]))
    with pytest.raises(ValueError, match="v0 must have shape"):
        core.reset_state(np.zeros(3, int))


def test_obs_and_state_words_sign_extend():
    bus, core = make()
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    lo, _ = SMALL.obs_limits()
    core.step(np.array([lo, -1, 5]))
    obs = bus.rmap.windows["OBS"].offset
    assert [bus.read(obs + 4 * i) for i in range(3)] == [lo & 0xFFFFFFFF, 0xFFFFFFFF, 5]
    v0 = np.full(SMALL.n_neurons, -5)
    core.reset_state(v0)
    np.testing.assert_array_equal(core.read_state()["v"], v0)
    assert bus.read(bus.rmap.windows["STATE"].offset) == (-5) & 0xFFFFFFFF
    assert bus.read(0) == CORE_ID


def test_state_words_other_than_v_are_accepted_and_ignored():
    """As the RTL does (hw/core.py): in STATE only v changes; the other words answer OKAY, so v0 goes
    as one block write over the whole window."""
    bus, core = make()
    core.load_masks(random_masks(SMALL, np.random.default_rng(0)))
    core.step(np.array([300, -200, 100]))
    before = core.read_state()
    assert np.abs(before["isyn"]).max() + np.abs(before["i_in"]).max() > 0
    base = bus.rmap.windows["STATE"].offset
    bus.write_block(base, np.full(4 * SMALL.n_neurons, 7, np.uint32))
    after = core.read_state()
    np.testing.assert_array_equal(after["v"], np.full(SMALL.n_neurons, 7))
    for k in ("isyn", "rate", "i_in"):
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    writes = bus.writes
    core.reset_state(np.arange(SMALL.n_neurons))
    assert bus.writes - writes == 2  # RESET_STATE and one block write of v0
    np.testing.assert_array_equal(core.read_state()["v"], np.arange(SMALL.n_neurons))
