"""cocotb module: the host's own :class:`~evoconn.host.core.RegisterCore`, inside the simulator.

Glasgow's habit: the same host code runs in the simulator and on the board. The host code is
synchronous, so it runs in a thread made by :func:`cocotb.task.bridge`, and :class:`SyncAxilBus` gives it
a plain :class:`~evoconn.host.core.Bus` whose methods run :class:`~evoconn.sim.bus.AxilBus`
coroutines through :func:`cocotb.task.resume` (the simulator advances while the host thread waits).

The simulator is one end of a session (:class:`evoconn.host.rtl.RtlSession` is the other): the test
connects to the address in ``EVOCONN_HOST_SESSION`` (JSON: ``address``, ``authkey`` hex, ``spec``,
``pauses``, ``seed``, ``timeout``, ``verify``, ``record``), builds ``RegisterCore(SyncAxilBus(...))``
once, and then serves calls: each request is a pickled ``(fn, args, kwargs)`` and runs
``fn(core, *args, **kwargs)`` here, in the simulator's Python process (a whole rollout, a whole
population), so the host side sends one message per job, not one per bus transaction. Run by
:mod:`evoconn.sim.runner` (never import cocotb_tools here).
"""

from __future__ import annotations

import json
import os
import pickle
import time
import traceback
from multiprocessing.connection import Client
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles

from evoconn.host.bus import RecordingBus
from evoconn.host.core import RegisterCore
from evoconn.spec import Spec

from .bus import AxilBus

__all__ = ["SyncAxilBus", "host_session"]

CLOCK_NS = 10
SESSION_ENV = "EVOCONN_HOST_SESSION"


class SyncAxilBus:
    """:class:`evoconn.host.core.Bus` over :class:`AxilBus`, for code in a :func:`cocotb.task.bridge` thread.

    Each method blocks the calling thread until the AXI4-Lite transaction has completed in the
    simulation; block transfers stay one multi-word operation.
    """

    def __init__(self, axil: AxilBus, lanes: int | None = None):
        self.axil = axil
        self.lanes = lanes
        self._read = resume(axil.read)
        self._write = resume(axil.write)
        self._read_block = resume(axil.read_block)
        self._write_block = resume(axil.write_block)

    def read(self, addr: int) -> int:
        return int(self._read(addr))

    def write(self, addr: int, value: int) -> None:
        self._write(addr, int(value))

    def read_block(self, addr: int, n: int) -> np.ndarray:
        return self._read_block(addr, int(n))

    def write_block(self, addr: int, words: np.ndarray) -> None:
        self._write_block(addr, np.asarray(words))


def _sim_ns() -> int:
    async def now() -> int:
        return int(cocotb.simtime.get_sim_time(unit="ns"))

    return resume(now)()


def _reply_error(e: BaseException) -> tuple:
    text = "".join(traceback.format_exception(e))
    try:
        pickle.loads(pickle.dumps(e))  # custom __init__ signatures do not unpickle
        return ("error", e, text)
    except Exception:  # an exception that does not pickle goes back as its text
        return ("error", None, text)


def _serve(axil: AxilBus, cfg: dict[str, Any]) -> None:
    """The host's side, in the bridge thread: connect, build the core, run calls until told to stop."""
    conn = Client(cfg["address"], "AF_UNIX", authkey=bytes.fromhex(cfg["authkey"]))
    bus: Any = SyncAxilBus(axil)
    try:
        spec = Spec.from_dict(cfg["spec"])
        if cfg.get("record"):
            bus = RecordingBus(bus, cfg["record"], spec_hash=spec.hash, backend="rtl", sim=cfg.get("sim"))
        try:
            core = RegisterCore(bus, spec, verify=bool(cfg.get("verify")), timeout=float(cfg["timeout"]))
            bus.lanes = core.lanes
            conn.send(("ready", {"lanes": core.lanes, "sim_ns": _sim_ns()}))
        except BaseException as e:
            conn.send(_reply_error(e))
            return
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                break
            _, fn, args, kwargs = msg
            ns0, t0 = _sim_ns(), time.perf_counter()
            try:
                result = fn(core, *args, **kwargs)
            except Exception as e:
                reply = _reply_error(e)
            else:
                info = {"sim_cycles": (_sim_ns() - ns0) // CLOCK_NS, "wall_s": time.perf_counter() - t0,
                        "bus_reads": axil.reads, "bus_writes": axil.writes}
                reply = ("ok", result, info)
            try:
                conn.send(reply)
            except Exception as e:  # the result did not pickle: say so instead of hanging the host
                conn.send(_reply_error(TypeError(f"the result of {fn!r} cannot go back to the host: {e}")))
    finally:
        if isinstance(bus, RecordingBus):
            bus.close()
        conn.close()


@cocotb.test()
async def host_session(dut):
    """Reset the core, then serve the host's session (see the module doc) until it closes."""
    cfg = json.loads(os.environ[SESSION_ENV])
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    axil = AxilBus(dut, dut.clk, dut.rst, pauses=cfg.get("pauses", 0.0), idle=cfg.get("pauses", 0.0),
                   seed=cfg.get("seed", 0))
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    await bridge(_serve)(axil, cfg)
