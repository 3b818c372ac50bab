"""The RTL simulation backend: the host's own code on the exported Verilog, under cocotb.

:class:`RtlSession` starts the simulator (through :func:`evoconn.sim.runner.run_cocotb`, the one
caller of ``cocotb_tools.runner``) on the cocotb module :mod:`evoconn.sim.host_bridge`. Inside the
simulator's Python process that module builds ``RegisterCore(SyncAxilBus(AxilBus(...)))``, the
same :class:`~evoconn.host.core.RegisterCore` the board runs over ``MMIOBus``, and serves this
session: :meth:`RtlSession.call` sends ``fn`` (an importable function) with its arguments, and
``fn(core, *args, **kwargs)`` runs there, environment and all, returning its result here. One
message per job, never one per bus transaction::

    with RtlSession(spec) as sim:
        pop = sim.call(score_population, partial(make_env, "Pendulum-v1"), members, seed=0)

A session keeps one simulator (and the core's state) across calls, so a training run pays the
simulator's start once. Imports the standard library and numpy only; cocotb and the simulator are
looked for when a session starts, with the extra to install if missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

import numpy as np

from evoconn.host.core import CoreError, MissingDependency
from evoconn.spec import Spec

__all__ = ["SIM_HINT", "RtlSession", "check_sim_available", "rtl_sample_trace", "rtl_trace"]

SIM_HINT = "pip install 'evoconn[sim]' (cocotb, cocotbext-axi) and Icarus Verilog (make sysdeps)"
#: The extra that brings each module the backend needs (amaranth exports the Verilog).
EXTRAS = {"cocotb": "sim", "cocotb_tools": "sim", "cocotbext.axi": "sim", "amaranth": "hw"}
TEST_MODULE = "evoconn.sim.host_bridge"
TESTCASE = "host_session"


def check_sim_available(sim: str = "icarus") -> None:
    """Raise :class:`MissingDependency` naming what to install if the RTL backend cannot run here."""
    for mod, extra in EXTRAS.items():
        try:
            found = importlib.util.find_spec(mod) is not None
        except ImportError:
            found = False
        if not found:
            raise MissingDependency(f"the rtl backend needs the Python module {mod!r}, which is not "
                                    f"installed; pip install 'evoconn[{extra}]'" +
                                    (" (cocotb, cocotbext-axi) and Icarus Verilog (make sysdeps)"
                                     if extra == "sim" else " (amaranth, to export the Verilog)"))
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise MissingDependency(f"the rtl backend needs Icarus Verilog (iverilog) on PATH; {SIM_HINT}")


def default_lanes(spec: Spec) -> int:
    from evoconn.host.bus import default_lanes as lanes_for

    return lanes_for(spec)


class RtlSession:
    """One simulator running the core, serving calls of host code (see the module doc).

    Parameters
    ----------
    spec:
        The spec to build the core for; the core's SPEC_HASH is checked against it.
    lanes:
        The core's lanes (default: as the fake core, up to 16 dividing N). Each (spec, lanes) has
        its own build folder.
    sim:
        ``icarus`` (default) or ``verilator``.
    pauses:
        Probability of AXI channel pauses and idle cycles (bus backpressure); 0: full speed.
    seed:
        Seed of the pause pattern.
    record:
        Record every bus transaction of the session to this file (JSON lines,
        :class:`~evoconn.host.bus.RecordingBus`), written by the simulator's process.
    verify:
        The core reads every mask window back after loading.
    timeout:
        Wall-clock seconds :class:`RegisterCore` waits for DONE (simulation is slow; generous).
    start_timeout:
        Seconds to wait for the simulator (and a first build of the Verilog) to connect.
    fault:
        Test only: build the core with this deliberate fault (:data:`evoconn.hw.core.FAULTS`).
    gate:
        Run the post-synthesis netlist instead of the exported RTL (``"ecp5"``:
        :data:`evoconn.sim.gate.GATES`; needs Yosys). Slow: for small cores.
    """

    def __init__(self, spec: Spec, lanes: int | None = None, *, sim: str = "icarus", pauses: float = 0.0,
                 seed: int = 0, record: str | os.PathLike | None = None, verify: bool = False,
                 timeout: float = 60.0, start_timeout: float = 600.0, fault: str | None = None,
                 gate: str | None = None):
        self.spec = spec
        self.fault = fault
        self.gate = gate
        self.lanes = default_lanes(spec) if lanes is None else int(lanes)
        self.sim = sim
        self.pauses = float(pauses)
        self.seed = int(seed)
        self.record = None if record is None else Path(record).resolve()
        self.verify = verify
        self.timeout = float(timeout)
        self.start_timeout = float(start_timeout)
        self.calls = 0
        self.info: dict[str, Any] = {}  #: the last call's sim_cycles, wall_s, bus reads/writes
        self.start_s = 0.0  #: seconds from start() to the core answering (build, simulator start)
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self._run_result: Any = None
        self._run_error: BaseException | None = None
        self._tmp: Path | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> RtlSession:
        check_sim_available(self.sim)
        from evoconn.sim import runner

        t0 = time.perf_counter()
        self._tmp = Path(tempfile.mkdtemp(prefix="evoconn-rtl-"))
        address = str(self._tmp / "session.sock")
        authkey = secrets.token_bytes(16)
        listener = Listener(address, "AF_UNIX", authkey=authkey)
        cfg = {"address": address, "authkey": authkey.hex(), "spec": self.spec.to_dict(), "sim": self.sim,
               "pauses": self.pauses, "seed": self.seed, "timeout": self.timeout, "verify": self.verify,
               "record": str(self.record) if self.record else None}
        self.log_file = self._tmp / "sim.log"
        accepted = threading.Event()
        poked = threading.Event()

        def simulate() -> None:
            try:
                self._run_result = runner.run_cocotb(
                    self.spec, self.lanes, sim=self.sim, fault=self.fault, testcase=TESTCASE,
                    test_module=TEST_MODULE,
                    extra_env={"EVOCONN_HOST_SESSION": json.dumps(cfg)}, seed=self.seed,
                    log_file=self.log_file, gate=self.gate)
            except BaseException as e:  # a build failure: reported by start() or close()
                self._run_error = e
            finally:
                if not accepted.is_set():  # the simulator never connected: unblock accept()
                    _poke(address, authkey, poked)

        self._thread = threading.Thread(target=simulate, name="evoconn-rtl-sim", daemon=True)
        self._thread.start()
        timer = threading.Timer(self.start_timeout, lambda: poked.is_set() or _poke(address, authkey, poked))
        timer.start()
        try:
            conn = listener.accept()
        finally:
            timer.cancel()
            listener.close()
        if poked.is_set():
            conn.close()
            self._thread.join(timeout=5)
            raise CoreError(self._failure("the simulator ended before the core answered"))
        accepted.set()
        self._conn = conn
        reply = self._recv("starting the core")
        if reply[0] != "ready":
            self._raise(reply)
        self.lanes = int(reply[1]["lanes"])
        self.start_s = time.perf_counter() - t0
        return self

    def __enter__(self) -> RtlSession:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close(check=exc[0] is None)

    def close(self, check: bool = True) -> None:
        """Tell the simulator to finish; with ``check``, raise if its cocotb test did not pass."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("close",))
            self._conn.close()
            self._conn = None
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
            failed = self._run_error is not None or (self._run_result is not None and not self._run_result.passed)
            if check and failed:
                raise CoreError(self._failure("the simulator's host session failed"))
        if self._tmp is not None and check:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # --- calls --------------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(core, *args, **kwargs)`` inside the simulator; its result (pickled) comes back here.

        ``fn`` and the arguments must pickle (module-level functions, ``functools.partial`` of
        them, numpy arrays, dataclasses). An exception raised there is raised here again.
        """
        if self._conn is None:
            raise CoreError("RtlSession.call outside a started session (use 'with RtlSession(...)')")
        self._conn.send(("call", fn, args, kwargs))
        reply = self._recv(f"running {getattr(fn, '__name__', fn)!r}")
        if reply[0] != "ok":
            self._raise(reply)
        self.calls += 1
        self.info = reply[2]
        return reply[1]

    def _recv(self, doing: str) -> tuple:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._conn = None
            if self._thread is not None:
                self._thread.join(timeout=60)
            raise CoreError(self._failure(f"the simulator ended while {doing}")) from None

    def _raise(self, reply: tuple) -> None:
        _, exc, text = reply
        if isinstance(exc, BaseException):
            raise exc
        raise CoreError(f"in the simulator:\n{text}")

    def _failure(self, what: str) -> str:
        tail = ""
        if self._run_error is not None:
            tail += f"\n{type(self._run_error).__name__}: {self._run_error}"
        log = getattr(self, "log_file", None)
        if log is not None and log.is_file():
            lines = log.read_text(errors="replace").splitlines()[-30:]
            tail += f"\nlast lines of {log}:\n" + "\n".join(lines)
        return f"{what} (spec hash 0x{self.spec.hash32:08x}, lanes {self.lanes}, {self.sim}){tail}"


def _poke(address: str, authkey: bytes, poked: threading.Event) -> None:
    poked.set()
    with contextlib.suppress(OSError):
        Client(address, "AF_UNIX", authkey=authkey).close()


# =====================================================================================
# Jobs: importable functions that run inside the simulator with the core as first argument
# =====================================================================================


def rtl_trace(core: Any, masks: dict[str, np.ndarray], xq_seq: np.ndarray, v0: list[np.ndarray],
              reset_at: dict[int, int] | None = None) -> dict[str, Any]:
    """Load ``masks``, reset to ``v0[0]``, step ``xq_seq``; before step t in ``reset_at`` reset to
    ``v0[reset_at[t]]``. Returns the (T, a) outputs, the final state and the core's stats."""
    core.load_masks(masks)
    core.reset_state(v0[0])
    outs = []
    for t, x in enumerate(np.asarray(xq_seq)):
        if reset_at and t in reset_at:
            core.reset_state(v0[reset_at[t]])
        outs.append(core.step(x))
    return {"out": np.stack(outs), "state": core.read_state(), "stats": core.stats.as_dict()}


def rtl_sample_trace(core: Any, rho: dict[str, np.ndarray], keys: np.ndarray,
                     xq_seq: np.ndarray) -> list[dict[str, Any]]:
    """Load ``rho`` once; for each member key: :meth:`~evoconn.host.core.RegisterCore.sample`, read
    the masks back and the state, then step ``xq_seq``. Returns per key the masks, the state after
    the fill, the (T, a) outputs, the final state and the stats of that member."""
    core.load_rho(rho)
    res = []
    for key in np.asarray(keys):
        core.stats.reset()
        core.sample(key)
        filled = {"masks": core.read_masks(), "state0": core.read_state()}
        outs = np.stack([core.step(x) for x in np.asarray(xq_seq)])
        res.append({**filled, "out": outs, "state": core.read_state(), "stats": core.stats.as_dict()})
    return res


def with_stats(fn: Callable[..., Any], core: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``fn(core, ...)`` and the core's :class:`~evoconn.host.core.CoreStats` of that call."""
    core.stats.reset()
    result = fn(core, *args, **kwargs)
    return result, core.stats.as_dict()

