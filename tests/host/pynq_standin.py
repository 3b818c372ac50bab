"""Run under the board env (.venv-board: pynq, numpy<2): our MMIOBus through pynq's own MMIO.

pynq's lowest replaceable layer is its ``Device``: ``pynq.MMIO`` asks the active device to
``mmap`` the core's address range when the device is MEMORY_MAPPED, as the PYNQ-Z2's embedded
device is (there, a numpy view of /dev/mem). The stand-in device maps a numpy array whose element
reads and writes are the core's registers (a FakeBus), so every call MMIOBus makes is pynq's own
``MMIO.__init__``, ``MMIO.read`` and ``MMIO.write`` and numpy slice copies into ``MMIO.array``.

Prints one JSON line with what it checked; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pynq

from evoconn.host.bus import FakeBus, MMIOBus
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec, numpy_env_step

BASE = 0x43C00000
result: dict = {"pynq": pynq.__version__, "numpy": np.__version__}

# 1. Without a board, pynq refuses: no devices.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        pynq.MMIO(BASE, 0x1000)
    except RuntimeError as e:
        result["no_board"] = str(e)


class RegisterArray(np.ndarray):
    """A uint32 array whose element and slice accesses go to a bus (the stand-in's memory map)."""

    def __new__(cls, bus, words: int):
        obj = np.zeros(words, np.uint32).view(cls)
        obj.bus = bus
        obj.slice_writes = 0
        obj.word_writes = 0
        return obj

    def __array_finalize__(self, obj):
        self.bus = getattr(obj, "bus", None)

    def _span(self, key):
        start, stop, step = key.indices(len(self))
        assert step == 1, "the host only makes contiguous accesses"
        return start, stop - start

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, n = self._span(key)
            return self.bus.read_block(4 * start, n)
        return np.uint32(self.bus.read(4 * int(key)))

    def __setitem__(self, key, value):
        if isinstance(key, slice):
            start, n = self._span(key)
            words = np.asarray(value, np.uint32).ravel()
            assert words.size == n
            self.slice_writes += 1
            self.bus.write_block(4 * start, words)
        else:
            self.word_writes += 1
            self.bus.write(4 * int(key), int(value))


class CoreStandIn(pynq.Device):
    """A memory-mapped device whose only IP is an evoconn core (a FakeBus) at BASE."""

    def __init__(self, fake: FakeBus):
        super().__init__("evoconn-standin")
        self.capabilities = {"MEMORY_MAPPED": True}
        self.fake = fake
        self.maps: list[RegisterArray] = []

    def mmap(self, base_addr, length):
        assert base_addr == BASE, hex(base_addr)
        arr = RegisterArray(self.fake, length // 4)
        self.maps.append(arr)
        return arr


spec = Spec(n_neurons=64, obs_dim=5, act_dim=3, substeps=33)
fake = FakeBus(spec, busy_polls=2)
dev = CoreStandIn(fake)
pynq.Device.active_device = dev

bus = MMIOBus(BASE, spec.register_map(16).size)
assert isinstance(bus.mmio, pynq.MMIO)
core = RegisterCore(bus, spec, verify=True)
rng = np.random.default_rng(0)
masks = {k: rng.random(s) < 0.5 for k, s in spec.mask_shapes.items()}
v0 = rng.integers(0, spec.threshold, spec.n_neurons)
core.load_masks(masks)
core.reset_state(v0)
state = {"v": v0[None], **{k: np.zeros((1, spec.n_neurons), np.int64) for k in ("isyn", "rate", "spike")}}
lo, hi = spec.obs_limits()
for _ in range(8):
    xq = rng.integers(lo, hi + 1, spec.obs_dim)
    out = core.step(xq)
    state, want, _ = numpy_env_step(spec, {k: v[None] for k, v in masks.items()}, state, xq[None])
    np.testing.assert_array_equal(out, want[0].astype(np.int32))
st = core.read_state()
np.testing.assert_array_equal(st["v"], state["v"][0])
arr = dev.maps[0]
result.update(steps=8, slice_writes=arr.slice_writes, word_writes=arr.word_writes,
              fake_writes=fake.writes, ok=True)
print(json.dumps(result))
sys.exit(0)
