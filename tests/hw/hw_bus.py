"""Test helpers: an async AXI4-Lite master for Amaranth's simulator and a register-level driver.

Everything the tests learn about the core goes through its AXI4-Lite port, as the host will.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from evoconn.spec import STATE_FIELDS, Control, Spec, Status, mask_rows, pack_rows

OKAY, SLVERR = 0b00, 0b10
TIMEOUT = 200_000  # cycles before a handshake is declared hung


class BusHang(AssertionError):
    """A handshake did not complete within :data:`TIMEOUT` cycles."""


def simulate(dut, bench, vcd: str | None = None) -> None:
    """Run ``bench(ctx)`` as an async testbench against ``dut`` on a 100 MHz clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


class AxiLiteMaster:
    """A minimal AXI4-Lite master; ``*_delay`` arguments hold a channel back for that many cycles."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut
        for name in ("awvalid", "wvalid", "bready", "arvalid", "rready"):
            ctx.set(getattr(dut, "s_axil_" + name), 0)

    def _p(self, name):
        return getattr(self.dut, "s_axil_" + name)

    async def _wait(self, name: str) -> None:
        for _ in range(TIMEOUT):
            if self.ctx.get(self._p(name)):
                return
            await self.ctx.tick()
        raise BusHang(f"s_axil_{name} never rose")

    async def write(self, addr: int, data: int, strb: int = 0xF, *, aw_delay: int = 0,
                    w_delay: int = 0, b_delay: int = 0) -> int:
        """Write one word; returns BRESP."""
        ctx = self.ctx
        ctx.set(self._p("bready"), 0)
        delay = {"aw": aw_delay, "w": w_delay}
        pending = {"aw", "w"}
        for _ in range(TIMEOUT):
            if not pending:
                break
            fire = set()
            for ch in pending:
                if delay[ch] == 0:
                    if ch == "aw":
                        ctx.set(self._p("awaddr"), addr)
                    else:
                        ctx.set(self._p("wdata"), data & 0xFFFFFFFF)
                        ctx.set(self._p("wstrb"), strb)
                    ctx.set(self._p(ch + "valid"), 1)
                    if ctx.get(self._p(ch + "ready")):
                        fire.add(ch)
            await ctx.tick()
            for ch in list(pending):
                delay[ch] = max(0, delay[ch] - 1)
                if ch in fire:
                    ctx.set(self._p(ch + "valid"), 0)
                    pending.discard(ch)
        else:
            raise BusHang(f"write to 0x{addr:x} not accepted")
        for _ in range(b_delay):
            await ctx.tick()
        ctx.set(self._p("bready"), 1)
        await self._wait("bvalid")
        resp = ctx.get(self._p("bresp"))
        await ctx.tick()
        ctx.set(self._p("bready"), 0)
        return resp

    async def read(self, addr: int, *, r_delay: int = 0) -> tuple[int, int]:
        """Read one word; returns ``(RDATA, RRESP)``."""
        ctx = self.ctx
        ctx.set(self._p("araddr"), addr)
        ctx.set(self._p("arvalid"), 1)
        await self._wait("arready")
        await ctx.tick()
        ctx.set(self._p("arvalid"), 0)
        for _ in range(r_delay):
            await ctx.tick()
        ctx.set(self._p("rready"), 1)
        await self._wait("rvalid")
        data, resp = ctx.get(self._p("rdata")), ctx.get(self._p("rresp"))
        await ctx.tick()
        ctx.set(self._p("rready"), 0)
        return data, resp


def to_signed(x: int, width: int = 32) -> int:
    x &= (1 << width) - 1
    return x - (1 << width) if x >> (width - 1) else x


class CoreDriver:
    """Register-level operations on the core, as a host would do them."""

    def __init__(self, ctx, dut):
        self.bus = AxiLiteMaster(ctx, dut)
        self.ctx = ctx
        self.spec: Spec = dut.spec
        self.rmap = dut.regmap

    def addr(self, name: str, index: int = 0) -> int:
        return self.rmap[name].offset + 4 * index

    async def write(self, name: str, data: int, index: int = 0) -> None:
        resp = await self.bus.write(self.addr(name, index), data)
        assert resp == OKAY, f"write {name}[{index}] answered {resp:#04b}"

    async def read(self, name: str, index: int = 0) -> int:
        data, resp = await self.bus.read(self.addr(name, index))
        assert resp == OKAY, f"read {name}[{index}] answered {resp:#04b}"
        return data

    async def load_masks(self, masks: dict[str, np.ndarray]) -> None:
        rows = mask_rows(self.spec, masks)
        for win, key in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out")):
            for w, word in enumerate(pack_rows(rows[key]).reshape(-1)):
                await self.write(win, int(word), w)

    async def step(self, xq) -> None:
        for i, x in enumerate(xq):
            await self.write("OBS", int(x) & 0xFFFFFFFF, i)
        await self.write("CONTROL", Control.START)
        await self.wait_done()

    async def wait_done(self) -> int:
        for _ in range(TIMEOUT):
            status = await self.read("STATUS")
            if not status & Status.BUSY:
                assert status & Status.DONE, f"idle but not DONE: STATUS={status:#x}"
                return status
        raise BusHang("the env step never finished")

    async def outputs(self) -> np.ndarray:
        return np.array([to_signed(await self.read("OUT", k)) for k in range(self.spec.act_dim)],
                        dtype=np.int64)

    async def state(self) -> dict[str, np.ndarray]:
        n = self.spec.n_neurons
        stride = len(STATE_FIELDS)
        st = {f: np.zeros(n, dtype=np.int64) for f in STATE_FIELDS}
        for j in range(n):
            for f, name in enumerate(STATE_FIELDS):
                st[name][j] = to_signed(await self.read("STATE", stride * j + f))
        words = [await self.read("SPIKE", w) for w in range(self.spec.row_words)]
        bits = np.array([(words[j // 32] >> (j % 32)) & 1 for j in range(n)], dtype=np.int64)
        st["spike"] = bits
        return st


def random_masks(spec: Spec, rng: np.random.Generator, p: float = 0.3) -> dict[str, np.ndarray]:
    return {name: rng.random(shape) < p for name, shape in spec.mask_shapes.items()}


def zero_state(spec: Spec) -> dict[str, np.ndarray]:
    n = spec.n_neurons
    return {"v": np.zeros(n, np.int64), "isyn": np.zeros(n, np.int64),
            "rate": np.zeros(n, np.int64), "spike": np.zeros(n, np.int64)}
