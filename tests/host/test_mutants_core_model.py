"""CoreModel (the fake core) register by register, written against mutmut's survivors (issue 18):
default lanes, the register file at power-up, the busy count, refusals and ERR_ADDR, blocks that go
word by word, mask bits above N, STATE words, SPIKES and its saturation, i_in's clip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evoconn.host.core_model import CoreModel, default_lanes
from evoconn.spec import Access, Control, Spec, Status, oracle_env_step, oracle_init_state, pack_rows

from ..conftest import random_masks

SMALL = Spec(n_neurons=40, obs_dim=3, act_dim=3, substeps=5)
WIDE = Spec(n_neurons=64, obs_dim=10, act_dim=2, substeps=4)  # N % 32 == 0; 10 inputs overrun i_in


def reg(m, name):
    return m.rmap.registers[name].offset


def win(m, name):
    return m.rmap.windows[name].offset


def loaded(spec=SMALL, seed=0, density=0.5, **kw):
    m = CoreModel(spec, **kw)
    masks = random_masks(spec, np.random.default_rng(seed), density)
    for name, key, rows in [("MASK_IN", "mask_in", None), ("MASK_H", "mask_h", None), ("MASK_OUT", "mask_out", "T")]:
        bits = masks[key].T if rows else masks[key]
        m.write_block(win(m, name), pack_rows(bits).ravel())
    return m, masks


def start(m):
    m.write(reg(m, "CONTROL"), Control.START)


def test_default_lanes():
    cases = [(40, 16, 8), (64, 16, 16), (48, 16, 16), (24, 16, 8), (96, 16, 16), (36, 16, 4),
             (64, 4, 4), (64, 3, 2), (64, 1, 1), (64, 17, 16), (64, 32, 32), (512, 16, 16)]
    for n, want, lanes in cases:
        assert default_lanes(Spec(n_neurons=n, obs_dim=2, act_dim=2, substeps=2), want) == lanes, (n, want)
    assert default_lanes(Spec(n_neurons=64, obs_dim=2, act_dim=2, substeps=2)) == 16
    assert default_lanes(Spec(n_neurons=40, obs_dim=2, act_dim=2, substeps=2)) == 8


def test_odd_n_has_one_lane():
    try:
        spec = Spec(n_neurons=21, obs_dim=2, act_dim=2, substeps=2)
    except ValueError:
        pytest.skip("odd N refused by the spec")
    assert default_lanes(spec) == 1 and CoreModel(spec).lanes == 1


def test_register_file_at_power_up():
    m = CoreModel(SMALL)
    want = {**m.rmap.constants(), "STATUS": 0, "CONTROL": 0, "CYCLES": 0, "SPIKES": 0, "ERR_ADDR": 0,
            "SEED0": 0, "SEED1": 0}
    assert m.regs == want and set(m.regs) == set(m.rmap.registers)
    assert m.lanes == 8 and m.busy_polls == 0 and m.reads == 0 and m.writes == 0
    got = {name: m.read(r.offset) for name, r in m.rmap.registers.items()}
    assert got == {**want, "LANES": 8}
    assert m.reads == len(want) and m.writes == 0
    # the masks of a fresh core are empty
    masks = m.masks()
    assert set(masks) == {"mask_in", "mask_h", "mask_out"}
    for k, shape in SMALL.mask_shapes.items():
        np.testing.assert_array_equal(masks[k], np.zeros((1, *shape), bool), err_msg=k)
    # lanes given, a spec hash and an ID standing in for another bitstream
    m = CoreModel(SMALL, lanes=2, spec_hash=0x12345678, core_id=0xABCD0001)
    assert m.lanes == 2 and m.cycle_model.lanes == 2
    assert m.read(reg(m, "LANES")) == 2
    assert m.read(reg(m, "SPEC_HASH")) == 0x12345678 and m.read(reg(m, "ID")) == 0xABCD0001
    assert m.regs["SPEC_HASH"] == 0x12345678 and "spec_hash" not in m.regs


def test_counters_count_transactions():
    m = CoreModel(SMALL)
    m.read(0)
    assert (m.reads, m.writes) == (1, 0)
    m.read_block(win(m, "OBS"), 3)
    m.read_block(0, 4)
    assert (m.reads, m.writes) == (3, 0)
    m.write(win(m, "OBS"), 1)
    m.write_block(win(m, "OBS"), np.arange(3))
    m.write_block(0, np.arange(2))
    assert (m.reads, m.writes) == (3, 3)


@pytest.mark.parametrize("busy_polls", [0, 1, 2, 3, 5])
def test_busy_for_busy_polls_plus_one_status_reads(busy_polls):
    m, _ = loaded(busy_polls=busy_polls)
    start(m)
    status = reg(m, "STATUS")
    seen = [m.read(status) for _ in range(busy_polls + 3)]
    busy = Status.BUSY | Status.LOADED
    assert seen == [busy] * (busy_polls + 1) + [Status.DONE | Status.LOADED] * 2


def test_default_busy_polls_is_zero():
    m, _ = loaded()
    start(m)
    status = reg(m, "STATUS")
    assert [m.read(status), m.read(status)] == [Status.BUSY | Status.LOADED, Status.DONE | Status.LOADED]


def test_block_reads_word_by_word_have_the_words_and_dtype():
    m = CoreModel(SMALL, spec_hash=0xFFFFFFFE)
    regs = m.rmap.registers
    got = m.read_block(0, 4)  # registers: not a window, so word by word
    assert got.dtype == np.uint32
    assert got.tolist() == [m.regs["ID"], m.regs["VERSION"], 0xFFFFFFFE, 0]
    one = m.read_block(reg(m, "SPEC_HASH"), 1)
    assert one.dtype == np.uint32 and one.tolist() == [0xFFFFFFFE]
    assert m.read_block(reg(m, "N_NEURONS"), 1).tolist() == [40]
    empty = m.read_block(0, 0)
    assert empty.dtype == np.uint32 and empty.tolist() == []
    assert m.regs["STATUS"] == 0
    # a block that overruns OBS: the words inside, then 0 for the refused word, flagged
    obs = m.rmap.windows["OBS"]
    m.write_block(obs.offset, np.array([1, 2, 3]))
    got = m.read_block(obs.offset, obs.depth + 1)
    assert got.dtype == np.uint32 and got.tolist() == [1, 2, 3, 0]
    assert m.regs["STATUS"] == Status.ERROR | Status.ERR_READ
    assert m.regs["ERR_ADDR"] == obs.offset + 4 * obs.depth
    assert len(regs) == 18


def test_single_word_block_writes_are_single_writes():
    m, _ = loaded()
    m.write_block(reg(m, "CONTROL"), np.array([Control.START]))  # one word to CONTROL: a START
    assert m.busy and m.regs["STATUS"] == Status.BUSY | Status.LOADED
    m = CoreModel(SMALL)
    m.write_block(win(m, "MASK_IN"), np.array([], np.uint32))  # no words: nothing written
    assert m.regs["STATUS"] == 0
    m.write_block(win(m, "MASK_IN") + 4, np.array([0xFFFFFFFF]))
    assert m.regs["STATUS"] == Status.LOADED
    assert m.read_block(win(m, "MASK_IN"), 3).tolist() == [0, 0xFF, 0]


def test_block_write_to_a_read_only_window_is_refused_word_by_word():
    m, _ = loaded()
    out = m.rmap.windows["OUT"]
    assert out.access == Access.RO
    m.write_block(out.offset, np.array([5, 6, 7]))
    assert m.regs["STATUS"] == Status.LOADED | Status.ERROR | Status.ERR_WRITE
    assert m.regs["ERR_ADDR"] == out.offset
    assert m.mem["OUT"].tolist() == [0, 0, 0]
    spike = m.rmap.windows["SPIKE"]
    m.write(reg(m, "CONTROL"), Control.CLEAR_ERROR)
    m.write_block(spike.offset, np.array([5, 6]))
    assert m.regs["STATUS"] == Status.LOADED | Status.ERROR | Status.ERR_WRITE
    assert m.regs["ERR_ADDR"] == spike.offset
    assert m.read_block(spike.offset, 2).tolist() == [0, 0]
    writable = {n for n, w in m.rmap.windows.items() if w.access != Access.RO}
    assert writable == {"MASK_IN", "MASK_H", "MASK_OUT", "OBS", "STATE", "RHO"}


def test_write_block_refuses_a_2d_array():
    m = CoreModel(SMALL)
    with pytest.raises(ValueError) as e:
        m.write_block(win(m, "OBS"), np.zeros((2, 2), np.uint32))
    assert str(e.value) == "write_block takes a 1-D array of words, got shape (2, 2)"


@pytest.mark.parametrize("access", ["read", "read_block", "write", "write_block"])
def test_busy_window_accesses_latch_their_address(access):
    m, _ = loaded(busy_polls=None)  # hangs
    start(m)
    obs = win(m, "OBS") + 4
    if access == "read":
        got = m.read(obs)
        assert got == 0 and type(got) is int
    elif access == "read_block":
        got = m.read_block(obs, 2)
        assert got.dtype == np.uint32 and got.tolist() == [0, 0]
    elif access == "write":
        m.write(obs, 9)
    else:
        m.write_block(obs, np.array([9, 9]))
    assert m.regs["STATUS"] == Status.BUSY | Status.LOADED | Status.ERROR | Status.ERR_BUSY
    assert m.regs["ERR_ADDR"] == obs
    assert m.mem["OBS"].tolist() == [0, 0, 0]


def test_control_while_busy():
    m, _ = loaded(busy_polls=None)
    start(m)
    control = reg(m, "CONTROL")
    busy = Status.BUSY | Status.LOADED
    m.write(control, 0)
    m.write(control, Control.CLEAR_ERROR)  # obeyed while busy, nothing dropped
    assert m.regs["STATUS"] == busy and m.regs["ERR_ADDR"] == 0
    for c in (Control.START, Control.RESET_STATE, Control.START | Control.RESET_STATE):
        m.write(control, c)
        assert m.regs["STATUS"] == busy | Status.ERROR | Status.ERR_BUSY, c
        assert m.regs["ERR_ADDR"] == control
        assert m._busy_left is None  # not restarted
        m.write(control, Control.CLEAR_ERROR)
        assert m.regs["STATUS"] == busy and m.regs["ERR_ADDR"] == 0


def test_mask_bits_above_n_read_back_as_zero():
    for spec, last in [(SMALL, 0xFF), (WIDE, 0xFFFFFFFF)]:
        m = CoreModel(spec)
        rw = spec.row_words
        for name in ("MASK_IN", "MASK_H", "MASK_OUT"):
            w = m.rmap.windows[name]
            m.write_block(w.offset, np.full(w.depth, 0xFFFFFFFF, np.uint32))
            row = [0xFFFFFFFF] * (rw - 1) + [last]
            assert m.read_block(w.offset, w.depth).tolist() == row * (w.depth // rw), (spec, name)
            # a single word at a row's end, and one in the middle of a row
            m.write(w.offset + 4 * (2 * rw - 1), 0xFFFFFFFF)
            assert m.read(w.offset + 4 * (2 * rw - 1)) == last
            m.write(w.offset + 4 * rw, 0x0000F00F)
            assert m.read(w.offset + 4 * rw) == (0x0000F00F if rw > 1 else 0x0000F00F & last)
        masks = m.masks()
        for k, shape in spec.mask_shapes.items():
            assert masks[k].shape == (1, *shape)


def test_state_words_at_any_index():
    m, _ = loaded()
    state = m.rmap.windows["STATE"]
    m.write(state.offset + 4 * 4, 0xFFFFFFFB)  # v of neuron 1, -5
    m.write(state.offset + 4 * 9, 7)  # isyn of neuron 2: ignored
    m.write_block(state.offset + 4 * 8, np.array([0x3FFFF, 1, 2, 3, 11]))  # v2 = -1 (18 bits), v3 = 11
    words = m.read_block(state.offset, 16).tolist()
    assert words == [0, 0, 0, 0, 0xFFFFFFFB, 0, 0, 0, 0xFFFFFFFF, 0, 0, 0, 11, 0, 0, 0]
    assert m._state["v"][0, :5].tolist() == [0, -5, -1, 11, 0]


def step_by_hand(m, xq):
    m.write_block(win(m, "OBS"), np.asarray(xq) & 0xFFFFFFFF)
    start(m)
    while m.read(reg(m, "STATUS")) & Status.BUSY:
        pass


def test_spike_window_read_first_after_a_step():
    m, masks = loaded(seed=3, density=0.6)
    x = np.array([30000, -30000, 20000])
    st = oracle_init_state(SMALL)

    for t in range(3):
        fired: list[int] = []
        st, _ = oracle_env_step(SMALL, masks, st, x.tolist(), fired)
        step_by_hand(m, x)
        spike = m.read_block(win(m, "SPIKE"), SMALL.row_words)  # the first window read
        assert spike.tolist() == pack_rows(np.asarray(st.spike, bool)[None])[0].tolist(), t
        assert m.read(reg(m, "SPIKES")) == sum(fired) and m.regs["SPIKES"] == sum(fired)
        assert "spikes" not in m.regs
    assert sum(st.spike) > 0


def test_spikes_saturate_at_the_register_width():
    m, masks = loaded(seed=3, density=0.6)
    r = m.rmap.registers["SPIKES"]
    m.rmap.registers["SPIKES"] = dataclasses.replace(r, width=4)  # a 4-bit counter: at most 15
    x = np.array([30000, -30000, 20000])
    fired: list[int] = []
    oracle_env_step(SMALL, masks, oracle_init_state(SMALL), x.tolist(), fired)
    assert sum(fired) > 16
    step_by_hand(m, x)
    assert m.regs["SPIKES"] == 15
    m2, _ = loaded(seed=3, density=0.6)
    m2.rmap.registers["SPIKES"] = dataclasses.replace(r, width=16)
    step_by_hand(m2, x)
    assert m2.regs["SPIKES"] == sum(fired)


def test_i_in_is_the_clipped_input_current_and_reset_zeroes_it():
    for spec, seed in [(SMALL, 1), (WIDE, 2)]:
        m, masks = loaded(spec, seed=seed, density=0.5)
        lo, hi = spec.obs_limits()
        d = spec.obs_dim
        x = np.where(np.arange(d) % 2, lo, hi)
        step_by_hand(m, x)
        m_in = masks["mask_in"].astype(np.int64)
        raw = x @ (m_in[:d] - m_in[d:])
        slo, shi = spec.state_limits()
        state = m.read_block(win(m, "STATE"), 4 * spec.n_neurons).view(np.int32).astype(np.int64).reshape(-1, 4)
        np.testing.assert_array_equal(state[:, 3], np.clip(raw, slo, shi))
        if spec is WIDE:
            assert (raw > shi).any() and (raw < slo).any()  # the clip is exercised
        m.write(reg(m, "CONTROL"), Control.RESET_STATE)
        assert not m.read_block(win(m, "STATE"), 4 * spec.n_neurons).any()
        assert m.read_block(win(m, "SPIKE"), spec.row_words).tolist() == [0] * spec.row_words
