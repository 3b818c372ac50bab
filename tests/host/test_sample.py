"""The host side of CONTROL.SAMPLE: ``RegisterCore.load_rho`` / ``sample`` over the core model.

The RTL does the same under cocotb (tests/hw/test_core_sample.py, tests/host/test_rtl.py); here the
protocol's edges, the bytes on the bus and the errors a user meets. numpy only (board-safe).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evoconn.host.bus import FakeBus
from evoconn.host.core import CoreError, CoreFault, CoreTimeout, RegisterCore, check_key
from evoconn.spec import Control, CycleModel, Spec, Status
from evoconn.spec.prng import (
    RHO_BITS,
    initial_membrane,
    masks_from_rho_words,
    member_keys,
    rho_layout,
    rho_words,
    sample_masks,
    seed_key,
)

SPEC = Spec(n_neurons=16, obs_dim=3, act_dim=2, substeps=4)


def _rho(spec: Spec, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(1e-3, 1 - 1e-3, sh) for k, sh in spec.mask_shapes.items()}


def test_rho_words_layout_and_refusals():
    rho = _rho(SPEC)
    words = rho_words(SPEC, rho)
    lay = rho_layout(SPEC)
    assert lay["depth"] == words.size == SPEC.register_map(4).windows["RHO"].depth
    assert list(lay)[:3] == ["mask_h", "mask_in", "mask_out"]  # stream order
    j = 5 * SPEC.act_dim + 1  # mask_out[5, 1], row-major in the paper's orientation
    assert words[lay["mask_out"] + j] == np.rint(np.float32(rho["mask_out"][5, 1]) * np.float32(4096))
    # the regeneration from the words is the trainer's sampling rule on the float rho
    key = member_keys(seed_key(1), 1)[0]
    got, want = masks_from_rho_words(SPEC, words, key), sample_masks(rho, key)
    for k in want:
        assert_array_equal(got[k], want[k], err_msg=k)
    with pytest.raises(ValueError, match="clip rho to"):
        rho_words(SPEC, {**rho, "mask_h": np.ones(SPEC.mask_shapes["mask_h"])})
    with pytest.raises(ValueError, match="shape"):
        rho_words(SPEC, {**rho, "mask_in": rho["mask_in"][:-1]})
    with pytest.raises(ValueError, match="missing"):
        rho_words(SPEC, {"mask_h": rho["mask_h"]})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rho_words(SPEC, {**rho, "mask_out": -rho["mask_out"]})


@pytest.mark.parametrize("bad", [[1, 2, 3], [-1, 0], [0, 1 << 32], [0.5, 1.0], "ab"])
def test_check_key_refuses(bad):
    with pytest.raises(ValueError, match="key"):
        check_key(bad)


@pytest.mark.parametrize("busy_polls", [0, 3])
def test_sample_over_the_core_model(busy_polls):
    """12 bytes on the bus per member after rho; the fill equals the regeneration; the member runs."""
    bus = FakeBus(SPEC, lanes=4, busy_polls=busy_polls)
    core = RegisterCore(bus, SPEC)
    with pytest.raises(CoreError, match="load_rho"):
        core.sample([1, 2])
    rho = _rho(SPEC, 1)
    core.load_rho(rho)
    assert core.stats.bytes_to_core == 4 * rho_layout(SPEC)["depth"]
    words = rho_words(SPEC, rho)
    for key in member_keys(seed_key(7), 3):
        core.stats.reset()
        core.sample(key)
        assert core.stats.bytes_to_core == 12 and core.stats.samples == 1
        assert core.stats.polls == busy_polls + 2  # BUSY|SAMPLING busy_polls + 1 times, then idle
        masks = core.read_masks()
        want = masks_from_rho_words(SPEC, words, key)
        for k in want:
            assert_array_equal(masks[k], want[k], err_msg=k)
        st = core.read_state()
        assert_array_equal(st["v"], initial_membrane(key, SPEC.n_neurons, SPEC.state_frac))
        assert st["cycles"] == CycleModel(SPEC, 4).sample_cycles() and st["spikes"] == 0
        out = core.step(np.array([100, -200, 300]))
        assert out.shape == (SPEC.act_dim,)


def test_core_model_sample_rules():
    """SAMPLING with BUSY while filling; SAMPLE while busy and START in the same write are refused
    (ERR_BUSY); the seeds read back; RHO keeps b bits; ABORT ends a fill with ABORTED."""
    bus = FakeBus(SPEC, lanes=4, busy_polls=2)
    rmap = bus.rmap
    ctl, st = rmap["CONTROL"].offset, rmap["STATUS"].offset
    bus.write(rmap["RHO"].offset, 0xFFFFF123)
    assert bus.read(rmap["RHO"].offset) == 0x123 == 0xFFFFF123 & ((1 << RHO_BITS) - 1)
    bus.write(rmap["SEED0"].offset, 0xDEADBEEF)
    bus.write(rmap["SEED1"].offset, 5)
    assert (bus.read(rmap["SEED0"].offset), bus.read(rmap["SEED1"].offset)) == (0xDEADBEEF, 5)
    bus.write(ctl, Control.SAMPLE | Control.START)
    s = bus.read(st)
    assert s & Status.BUSY and s & Status.SAMPLING and s & Status.LOADED and s & Status.ERR_BUSY
    assert bus.read(rmap["ERR_ADDR"].offset) == ctl
    bus.write(ctl, Control.CLEAR_ERROR)
    bus.write(ctl, Control.SAMPLE)  # while busy
    assert bus.read(st) & Status.ERR_BUSY
    bus.write(ctl, Control.ABORT)
    s = bus.read(st)
    assert s & Status.ABORTED and not s & (Status.BUSY | Status.SAMPLING), hex(s)


def test_sample_fault_and_timeout_messages():
    bus = FakeBus(SPEC, lanes=4, busy_polls=None)  # a fill that never ends
    core = RegisterCore(bus, SPEC, timeout=0.05)
    core.load_rho(_rho(SPEC))
    with pytest.raises(CoreTimeout, match="did not finish the fill within 0.05 s of SAMPLE"):
        core.sample([1, 2])
    assert not core.status() & Status.BUSY  # aborted
    core.clear_error()
    bus.busy_polls = 0
    bus.write(bus.rmap["CONTROL"].offset, Control.CLEAR_ERROR)
    bus.write(bus.rmap["RHO"].offset + 4 * 10**6, 0)  # unmapped: ERROR|ERR_WRITE
    with pytest.raises(CoreFault, match="during the fill of member key"):
        core.sample([3, 4])
