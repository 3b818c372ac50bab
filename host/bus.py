"""Register buses: a recorder, a replayer, and the board's MMIO; and ``FakeBus``, the in-memory core.

``FakeBus`` is :class:`evoconn.host.core_model.CoreModel`, the core's behaviour model, under the
name the ``fake`` backend and the tests know it by.

All of them implement :class:`evoconn.host.core.Bus`. Imports numpy and the standard library only;
:class:`MMIOBus` imports ``pynq`` when it is constructed.

**Bus errors.** An evoconn core (version 1.1) never answers SLVERR: a refused access (unaligned,
unmapped, a write to a read-only register or window, a window access while busy) answers OKAY and
is reported in STATUS and ERR_ADDR (the board-safe responses of :mod:`evoconn.spec.protocol`), since
on a Zynq an SLVERR on the GP port is an external abort that the kernel turns into SIGBUS. A bus
here that sees an error response all the same (an interconnect's DECERR, say) raises
:class:`~evoconn.host.core.BusError` with the address and the operation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from evoconn.host.core import BusError, CoreError, MissingDependency
from evoconn.host.core_model import CoreModel, default_lanes

__all__ = ["CoreModel", "FakeBus", "MMIOBus", "RecordingBus", "ReplayBus", "ReplayMismatch", "default_lanes"]


#: The core's behaviour model under its first name (the ``fake`` backend, recordings, tests).
FakeBus = CoreModel


# =====================================================================================
# Recording and replay
# =====================================================================================

RECORD_FORMAT = "evoconn-bus-1"


def _words_list(words: Any) -> list[int]:
    return [int(w) for w in np.asarray(words, dtype=np.int64).ravel() & 0xFFFFFFFF]


class RecordingBus:
    """Pass every transaction to ``inner`` and append it to ``path`` as one JSON line.

    The first line is a header ``{"format": "evoconn-bus-1", ...meta}``. Transactions are
    ``{"op": "read"|"write"|"read_block"|"write_block", "addr": int, ...}`` with ``value``,
    ``words`` or ``n``; a transaction that raised :class:`BusError` records ``"error"``.
    """

    def __init__(self, inner: Any, path: str | os.PathLike, **meta: Any):
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w")  # noqa: SIM115 - closed by close()/__exit__
        self._f.write(json.dumps({"format": RECORD_FORMAT, **meta}) + "\n")
        self.count = 0

    def _log(self, rec: dict[str, Any]) -> None:
        self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.count += 1

    def _do(self, rec: dict[str, Any], fn, *args):
        try:
            result = fn(*args)
        except BusError as e:
            rec["error"] = str(e)
            self._log(rec)
            raise
        return result

    def read(self, addr: int) -> int:
        rec: dict[str, Any] = {"op": "read", "addr": addr}
        value = int(self._do(rec, self.inner.read, addr))
        rec["value"] = value
        self._log(rec)
        return value

    def write(self, addr: int, value: int) -> None:
        rec = {"op": "write", "addr": addr, "value": int(value) & 0xFFFFFFFF}
        self._do(rec, self.inner.write, addr, value)
        self._log(rec)

    def read_block(self, addr: int, n: int) -> np.ndarray:
        rec: dict[str, Any] = {"op": "read_block", "addr": addr, "n": int(n)}
        words = np.asarray(self._do(rec, self.inner.read_block, addr, n), dtype=np.uint32)
        rec["words"] = _words_list(words)
        self._log(rec)
        return words

    def write_block(self, addr: int, words: np.ndarray) -> None:
        rec = {"op": "write_block", "addr": addr, "words": _words_list(words)}
        self._do(rec, self.inner.write_block, addr, words)
        self._log(rec)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> RecordingBus:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # spec, lanes, ... of the inner bus
        return getattr(self.inner, name)


class ReplayMismatch(CoreError, AssertionError):
    """A replayed session asked for a transaction other than the recorded one."""


def _show(rec: dict[str, Any]) -> str:
    op, addr = rec["op"], rec["addr"]
    if op == "write":
        return f"write(0x{addr:x}, 0x{rec['value']:x})"
    if op == "write_block":
        w = rec["words"]
        head = ", ".join(f"0x{x:x}" for x in w[:4]) + (", ..." if len(w) > 4 else "")
        return f"write_block(0x{addr:x}, {len(w)} words [{head}])"
    if op == "read_block":
        return f"read_block(0x{addr:x}, {rec['n']})"
    return f"read(0x{addr:x})"


class ReplayBus:
    """Play a :class:`RecordingBus` file back: each call must match the next recorded transaction
    (operation, address, written data, length), and returns what was read then. The first
    difference raises :class:`ReplayMismatch` naming the transaction index and both sides."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        lines = self.path.read_text().splitlines()
        if not lines:
            raise ValueError(f"{self.path}: empty recording")
        self.meta = json.loads(lines[0])
        if self.meta.get("format") != RECORD_FORMAT:
            raise ValueError(f"{self.path}: not a bus recording (format {self.meta.get('format')!r})")
        self.log = [json.loads(x) for x in lines[1:] if x.strip()]
        self.pos = 0

    def _next(self, got: dict[str, Any]) -> dict[str, Any]:
        i = self.pos
        if i >= len(self.log):
            raise ReplayMismatch(f"{self.path}: transaction {i}: the recording has ended "
                                 f"({len(self.log)} transactions), got {_show(got)}")
        want = self.log[i]
        # what the host chose (operation, address, data written, length) must match; what was
        # read is the recording's answer
        if any(want.get(k) != v for k, v in got.items()):
            raise ReplayMismatch(f"{self.path}: transaction {i} differs: recorded {_show(want)}, "
                                 f"got {_show(got)}")
        self.pos += 1
        if "error" in want:
            raise BusError(want["error"], want["addr"], "write" if "write" in want["op"] else "read")
        return want

    def read(self, addr: int) -> int:
        return int(self._next({"op": "read", "addr": addr})["value"])

    def write(self, addr: int, value: int) -> None:
        self._next({"op": "write", "addr": addr, "value": int(value) & 0xFFFFFFFF})

    def read_block(self, addr: int, n: int) -> np.ndarray:
        rec = self._next({"op": "read_block", "addr": addr, "n": int(n)})
        return np.asarray(rec["words"], dtype=np.uint32)

    def write_block(self, addr: int, words: np.ndarray) -> None:
        self._next({"op": "write_block", "addr": addr, "words": _words_list(words)})

    def done(self) -> None:
        """Raise :class:`ReplayMismatch` if recorded transactions were not replayed."""
        if self.pos != len(self.log):
            raise ReplayMismatch(f"{self.path}: replay stopped at transaction {self.pos} of "
                                 f"{len(self.log)}; next recorded: {_show(self.log[self.pos])}")


# =====================================================================================
# The board
# =====================================================================================

BOARD_HINT = "pip install 'evoconn[board]' on the board (a PYNQ image with pynq 4.0, numpy<2)"


def import_pynq():
    """``pynq``, or :class:`MissingDependency` saying how to get it."""
    try:
        import pynq
    except ImportError as e:
        raise MissingDependency(f"the board backend needs pynq, which is not importable here "
                                f"({e}); {BOARD_HINT}") from None
    return pynq


class MMIOBus:
    """The core's AXI4-Lite registers through ``pynq.MMIO``.

    Single accesses are ``MMIO.read``/``MMIO.write``; block transfers are one numpy slice
    assignment or copy through ``MMIO.array``, the uint32 view pynq maps over the registers (on a
    Zynq, a memcpy into the uncached mapping, which the interconnect splits into 32-bit AXI4-Lite
    writes). ``pynq.MMIO.write(offset, bytes)`` is avoided: pynq 4.0 implements it as a Python loop
    over the words (pynq/mmio.py, write_mm).

    Parameters
    ----------
    base_addr:
        The core's physical base address (from the overlay's .hwh: ``ip_dict[name]['phys_addr']``).
    length:
        Bytes to map when ``base_addr`` is given; default ``1 << 20`` (1 MiB, a fixed size: it holds
        the register map at N = 256 for hopper's and walker2d's sizes, RHO window included since core
        1.2, not humanoid's, nor N = 512). Pass ``spec.register_map(lanes).size`` for a larger core,
        or use ``mmio``.
    mmio:
        An existing ``pynq.MMIO`` (e.g. ``overlay.evoconn_core.mmio``); then ``base_addr`` is
        ignored.
    """

    def __init__(self, base_addr: int | None = None, length: int | None = None, mmio: Any = None):
        if mmio is None:
            pynq = import_pynq()
            if base_addr is None:
                raise ValueError("MMIOBus needs base_addr or an existing mmio")
            mmio = pynq.MMIO(base_addr, length if length is not None else 1 << 20)
        self.mmio = mmio
        self.array = mmio.array

    def read(self, addr: int) -> int:
        return int(self.mmio.read(addr))

    def write(self, addr: int, value: int) -> None:
        self.mmio.write(addr, int(value) & 0xFFFFFFFF)

    def _words(self, addr: int, n: int, op: str) -> slice:
        """The slice of ``array`` for ``n`` words at byte offset ``addr``, refused the way
        ``pynq.MMIO.read``/``write`` refuse one word (negative, unaligned), and past the mapping's
        end (a numpy slice would silently read fewer words there)."""
        if addr < 0:
            raise ValueError("Offset cannot be negative.")
        if addr % 4:
            raise MemoryError(f"Unaligned {op}: offset must be multiple of 4.")
        i = addr >> 2
        if i + n > len(self.array):
            raise MemoryError(f"block {op} of {n} words at 0x{addr:x} runs past the {4 * len(self.array)}-byte "
                              "mapping (map spec.register_map(lanes).size bytes: MMIOBus(length=...))")
        return slice(i, i + n)

    def read_block(self, addr: int, n: int) -> np.ndarray:
        return np.array(self.array[self._words(addr, n, "read")], dtype=np.uint32)

    def write_block(self, addr: int, words: np.ndarray) -> None:
        words = np.ascontiguousarray(words, dtype=np.uint32)
        self.array[self._words(addr, words.size, "write")] = words
