"""``AxilBus``: the core's register bus as async methods over cocotbext-axi's ``AxiLiteMaster``.

The same four operations as :class:`evoconn.host.core.Bus` (``read``, ``write``, ``read_block``,
``write_block``), awaited, so a host-side :class:`~evoconn.host.core.RegisterCore` can drive the RTL
under cocotb through a thin synchronous shim. A non-OKAY response (SLVERR, DECERR) raises
:class:`evoconn.host.core.BusError`, as every other bus does.

Block transfers go out as one multi-word AXI4-Lite operation: the master issues the word
transactions back to back (AW/W and AR pipelined), not one Python round trip per word.

With ``pauses``, every channel gets a random pause generator (AW, W, AR stall the master's valid;
B and R stall its ready: backpressure on the core's responses) and each operation may be preceded
by a few idle cycles.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from collections.abc import Iterator

import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from evoconn.host.core import BusError

__all__ = ["AxilBus", "random_pauses"]


def random_pauses(rng: random.Random, p: float) -> Iterator[bool]:
    """An endless stream of pause flags, each set with probability ``p``, in bursts of 1-3 cycles."""
    while True:
        if rng.random() < p:
            yield from itertools.repeat(True, rng.randint(1, 3))
        else:
            yield False


class AxilBus:
    """Async 32-bit register access to an AXI4-Lite target at byte addresses.

    Parameters
    ----------
    dut:
        The cocotb handle of the toplevel; its ports ``<prefix>_awaddr`` ... are the target.
    clock, reset:
        The clock and (active-high) reset handles.
    prefix:
        Port prefix of the target, ``s_axil`` for the evoconn core.
    pauses:
        Probability of a pause on each channel each cycle (0: none, the master at full speed).
    idle:
        Probability of 1-4 idle cycles before each operation.
    seed:
        Seed of the pause and idle patterns (the run is reproducible).
    """

    def __init__(self, dut, clock, reset=None, *, prefix: str = "s_axil", pauses: float = 0.0,
                 idle: float = 0.0, seed: int = 0):
        self.clock = clock
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix), clock, reset)
        # one INFO line per transaction costs more than the simulation; EVOCONN_SIM_BUSLOG=1 shows them
        level = logging.INFO if os.environ.get("EVOCONN_SIM_BUSLOG") else logging.WARNING
        for log in (self.master.write_if.log, self.master.read_if.log):
            log.setLevel(level)
        self.rng = random.Random(seed)
        self.idle = idle
        self.reads = 0
        self.writes = 0
        self.pauses = pauses
        if pauses > 0:
            for ch in self.channels():
                ch.set_pause_generator(random_pauses(random.Random(self.rng.random()), pauses))

    def channels(self) -> list:
        """The five channel endpoints (aw, w, b, ar, r) of the master."""
        w, r = self.master.write_if, self.master.read_if
        return [w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel]

    def hold(self, channel: str, held: bool) -> None:
        """Hold one channel (``aw``, ``w``, ``b``, ``ar``, ``r``: valid or ready low) until released;
        released, it gets a fresh random pause pattern again (or none, without ``pauses``)."""
        ch = self.channels()[("aw", "w", "b", "ar", "r").index(channel)]
        if held:
            ch.set_pause_generator(itertools.repeat(True))
        elif self.pauses > 0:
            ch.set_pause_generator(random_pauses(random.Random(self.rng.random()), self.pauses))
        else:
            ch.clear_pause_generator()
            ch.pause = False

    async def _maybe_idle(self) -> None:
        if self.idle and self.rng.random() < self.idle:
            await ClockCycles(self.clock, self.rng.randint(1, 4))

    async def read(self, addr: int) -> int:
        """One 32-bit word (unsigned)."""
        return int((await self.read_block(addr, 1))[0])

    async def write(self, addr: int, value: int) -> None:
        """One 32-bit word (``value`` taken modulo 2**32, so negative ints write their two's complement)."""
        await self.write_block(addr, np.asarray([value & 0xFFFFFFFF], dtype=np.uint32))

    async def read_block(self, addr: int, n: int) -> np.ndarray:
        """``n`` consecutive words from ``addr`` as uint32."""
        await self._maybe_idle()
        resp = await self.master.read(addr, 4 * n)
        self.reads += n
        if resp.resp != AxiResp.OKAY:
            raise BusError(f"read of {n} word(s) at 0x{addr:x} answered {resp.resp.name}", addr, "read")
        return np.frombuffer(bytes(resp.data), dtype="<u4").astype(np.uint32)

    async def write_block(self, addr: int, words) -> None:
        """Consecutive words from ``addr``."""
        words = np.asarray(words)
        data = (words.astype(np.int64) & 0xFFFFFFFF).astype("<u4").tobytes()
        await self._maybe_idle()
        resp = await self.master.write(addr, data)
        self.writes += len(words)
        if resp.resp != AxiResp.OKAY:
            raise BusError(f"write of {len(words)} word(s) at 0x{addr:x} answered {resp.resp.name}",
                           addr, "write")
