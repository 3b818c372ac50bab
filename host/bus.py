"""Register buses: an in-memory fake core, a recorder, a replayer, and the board's MMIO.

All of them implement :class:`evoconn.host.core.Bus`. Imports numpy and the standard library only;
:class:`MMIOBus` imports ``pynq`` when it is constructed.

**Bus errors.** The core answers SLVERR to a read of an address that is neither a register nor
inside a window, and to a write to such an address or to a read-only one
(:class:`~evoconn.spec.RegisterMap`). Every bus here surfaces SLVERR as
:class:`~evoconn.host.core.BusError` with the address and the operation. (On a Zynq, an SLVERR on
the GP port is an external abort that the kernel turns into SIGBUS: the board cannot raise it
politely, which is one more reason the host checks addresses against the map before it writes.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from evoconn.host.core import BusError, CoreError, MissingDependency, sign_extend

from evoconn.spec import (
    STATE_FIELDS,
    Access,
    Control,
    CycleModel,
    Register,
    Spec,
    Status,
    Window,
    numpy_env_step,
    pack_rows,
    unpack_rows,
)

__all__ = ["FakeBus", "MMIOBus", "RecordingBus", "ReplayBus", "ReplayMismatch", "default_lanes"]


def default_lanes(spec: Spec, want: int = 16) -> int:
    """The largest power of two up to ``want`` that divides N (16 for every N the paper uses)."""
    lanes = 1
    while lanes * 2 <= want and spec.n_neurons % (lanes * 2) == 0:
        lanes *= 2
    return lanes


# =====================================================================================
# FakeBus: the board's core, in memory
# =====================================================================================


class FakeBus:
    """An in-memory register file that behaves like the board's core, per the spec's map.

    Semantics (the contract the RTL is held to):

    - ID, VERSION, SPEC_HASH, the size registers and LANES read their constants; CONTROL reads 0.
    - Mask windows store N bits per row; bits above N in a row's last word read back as 0.
      Writing any mask word sets STATUS.LOADED (until a hardware reset, i.e. a new FakeBus).
    - OBS stores ``obs_width`` bits per word and reads back sign-extended to 32 bits.
    - STATE: neuron j's words 4j..4j+3 are v, isyn, rate, i_in, read sign-extended. Only v is
      writable (truncated to ``state_width``); writes to the other three words are accepted and
      ignored, so the host may write the whole window in one burst.
    - CONTROL: CLEAR_ERROR clears ERROR, ERR_BUSY and ERR_NOT_LOADED first; then RESET_STATE zeroes
      v, isyn, rate, i_in and spikes (masks and OBS are kept); then START runs one env step.
      START with nothing loaded sets ERROR|ERR_NOT_LOADED and runs nothing.
    - Busy: after START the core is BUSY for ``busy_polls`` reads of STATUS (0: DONE on the first
      read; ``None``: forever, a hung core). Any write to a window, and START or RESET_STATE, while
      busy is dropped and sets ERROR|ERR_BUSY. OUT, STATE, SPIKE, CYCLES and SPIKES keep their
      previous values until the step finishes. START clears DONE.
    - CYCLES comes from :class:`~evoconn.spec.CycleModel` with this bus's lanes, SPIKES is the
      number of spikes fired over the K sub-steps.
    - SLVERR (:class:`BusError`) for unaligned or unmapped addresses and for writes to read-only
      registers or windows (OUT, SPIKE).

    The arithmetic is :func:`evoconn.spec.numpy_env_step`, bit-exact with the oracle.
    """

    def __init__(self, spec: Spec, lanes: int | None = None, busy_polls: int | None = 0,
                 spec_hash: int | None = None, core_id: int | None = None):
        self.spec = spec
        self.lanes = default_lanes(spec) if lanes is None else lanes
        self.cycle_model = CycleModel(spec, lanes=self.lanes)
        self.rmap = spec.register_map(self.lanes)
        self.busy_polls = busy_polls
        self.regs = self.rmap.constants()
        if spec_hash is not None:  # to stand in for a bitstream built for another spec
            self.regs["SPEC_HASH"] = spec_hash
        if core_id is not None:
            self.regs["ID"] = core_id
        self.regs.update(STATUS=0, CONTROL=0, CYCLES=0, SPIKES=0)
        self.mem = {name: np.zeros(w.depth, dtype=np.int64) for name, w in self.rmap.windows.items()}
        self._n = spec.n_neurons
        self._row_mask = self._row_bit_mask()
        self._state = {k: np.zeros((1, self._n), np.int64) for k in ("v", "isyn", "rate", "spike")}
        self._i_in = np.zeros(self._n, np.int64)
        self._masks_cache: dict[str, np.ndarray] | None = None
        self._pending: dict[str, Any] | None = None
        self._busy_left: int | None = 0
        # Address decode, once: offset -> register; windows checked by range.
        self._reg_at: dict[int, Register] = {r.offset: r for r in self.rmap.registers.values()}
        self._windows: list[Window] = list(self.rmap.windows.values())
        self.reads = 0
        self.writes = 0

    def _row_bit_mask(self) -> np.ndarray:
        rw, n = self.spec.row_words, self._n
        m = np.full(rw, 0xFFFFFFFF, dtype=np.int64)
        if n % 32:
            m[-1] = (1 << (n % 32)) - 1
        return m

    # --- decode ---------------------------------------------------------------------------
    def _decode(self, addr: int, op: str) -> tuple[Register | Window, int]:
        if addr % 4 == 0:
            r = self._reg_at.get(addr)
            if r is not None:
                return r, 0
            for w in self._windows:
                if w.offset <= addr < w.offset + w.size:
                    return w, (addr - w.offset) // 4
        raise BusError(f"SLVERR: {op} at unmapped address 0x{addr:x}", addr, op)

    def _decode_block(self, addr: int, n: int, op: str) -> tuple[Window | Register, int]:
        target, idx = self._decode(addr, op)
        if n == 1:
            return target, idx
        if not isinstance(target, Window) or idx + n > target.depth:
            end = addr + 4 * (n - 1)
            self._decode(end, op)  # SLVERR on the first unmapped word, if any
            raise BusError(f"SLVERR: block {op} of {n} words at 0x{addr:x} crosses the end of "
                           f"{target.name}", addr, op)
        return target, idx

    # --- status ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self.regs["STATUS"] & Status.BUSY)

    def _flag(self, bits: Status) -> None:
        self.regs["STATUS"] |= int(Status.ERROR | bits)

    def _tick_status(self) -> None:
        """A STATUS read: the only clock the fake has."""
        if not self.busy:
            return
        if self._busy_left is None:
            return
        if self._busy_left > 0:
            self._busy_left -= 1
            return
        self._finish()

    # --- Bus ------------------------------------------------------------------------------
    def read(self, addr: int) -> int:
        self.reads += 1
        target, idx = self._decode(addr, "read")
        if isinstance(target, Register):
            if target.name == "STATUS":
                value = self.regs["STATUS"]
                self._tick_status()
                return value
            return self.regs.get(target.name, 0) & 0xFFFFFFFF
        return int(self._read_window(target, idx, 1)[0])

    def read_block(self, addr: int, n: int) -> np.ndarray:
        self.reads += 1
        if n == 1:
            return np.array([self.read(addr)], dtype=np.uint32)
        target, idx = self._decode_block(addr, n, "read")
        return self._read_window(target, idx, n)

    def write(self, addr: int, value: int) -> None:
        self.writes += 1
        target, idx = self._decode(addr, "write")
        value = int(value) & 0xFFFFFFFF
        if target.access == Access.RO:
            raise BusError(f"SLVERR: write to read-only {target.name} at 0x{addr:x}", addr, "write")
        if isinstance(target, Register):  # CONTROL is the only writable register
            self._control(value)
            return
        self._write_window(target, idx, np.array([value], dtype=np.int64))

    def write_block(self, addr: int, words: np.ndarray) -> None:
        self.writes += 1
        words = np.asarray(words)
        if words.ndim != 1:
            raise ValueError(f"write_block takes a 1-D array of words, got shape {words.shape}")
        if words.size == 1:
            self.write(addr, int(words[0]))
            return
        target, idx = self._decode_block(addr, words.size, "write")
        if target.access == Access.RO:
            raise BusError(f"SLVERR: write to read-only {target.name} at 0x{addr:x}", addr, "write")
        self._write_window(target, idx, words.astype(np.int64) & 0xFFFFFFFF)

    # --- windows --------------------------------------------------------------------------
    def _read_window(self, w: Window, idx: int, n: int) -> np.ndarray:
        if w.name == "STATE":
            self._sync_state_window()
        if w.name == "SPIKE":
            spikes = self._state["spike"][0].astype(bool)
            self.mem["SPIKE"][:] = pack_rows(spikes[None, :])[0]
        vals = self.mem[w.name][idx:idx + n]
        return (vals & 0xFFFFFFFF).astype(np.uint32)

    def _write_window(self, w: Window, idx: int, words: np.ndarray) -> None:
        if self.busy:
            self._flag(Status.ERR_BUSY)
            return
        n = words.size
        if w.name.startswith("MASK_"):
            rw = self.spec.row_words
            cols = (np.arange(idx, idx + n) % rw)
            self.mem[w.name][idx:idx + n] = words & self._row_mask[cols]
            self.regs["STATUS"] |= int(Status.LOADED)
            self._masks_cache = None
        elif w.name == "OBS":
            self.mem["OBS"][idx:idx + n] = sign_extend(words, self.spec.obs_width) & 0xFFFFFFFF
        elif w.name == "STATE":
            stride = len(STATE_FIELDS)
            pos = np.arange(idx, idx + n)
            is_v = pos % stride == STATE_FIELDS.index("v")
            if is_v.any():
                v = sign_extend(words[is_v], self.spec.state_width)
                self._state["v"][0, pos[is_v] // stride] = v
        else:  # pragma: no cover - RO windows are refused before
            raise AssertionError(w.name)

    def _sync_state_window(self) -> None:
        s = self._state
        block = np.stack([s["v"][0], s["isyn"][0], s["rate"][0], self._i_in], axis=1)
        self.mem["STATE"][:] = block.ravel() & 0xFFFFFFFF

    # --- control --------------------------------------------------------------------------
    def _control(self, value: int) -> None:
        c = Control(value & int(Control.START | Control.RESET_STATE | Control.CLEAR_ERROR))
        if c & Control.CLEAR_ERROR:
            self.regs["STATUS"] &= ~int(Status.ERROR | Status.ERR_BUSY | Status.ERR_NOT_LOADED)
        if c & (Control.START | Control.RESET_STATE) and self.busy:
            self._flag(Status.ERR_BUSY)
            return
        if c & Control.RESET_STATE:
            for k in self._state:
                self._state[k][:] = 0
            self._i_in[:] = 0
        if c & Control.START:
            if not self.regs["STATUS"] & Status.LOADED:
                self._flag(Status.ERR_NOT_LOADED)
                return
            self._start()

    def masks(self) -> dict[str, np.ndarray]:
        """The masks the windows hold, in the paper's orientation, (1, ...) batch of one."""
        if self._masks_cache is None:
            s, n = self.spec, self._n
            rw = s.row_words

            def rows(name: str, r: int) -> np.ndarray:
                words = (self.mem[name] & 0xFFFFFFFF).astype(np.uint32).reshape(r, rw)
                return unpack_rows(words, n)

            self._masks_cache = {
                "mask_in": rows("MASK_IN", s.n_inputs)[None],
                "mask_h": rows("MASK_H", n)[None],
                "mask_out": rows("MASK_OUT", s.act_dim).T[None],
            }
        return self._masks_cache

    def _start(self) -> None:
        s = self.spec
        xq = sign_extend(self.mem["OBS"], s.obs_width)[None, :]
        masks = self.masks()
        prev_spikes = int(self._state["spike"].sum())
        new, out, fired = numpy_env_step(s, masks, self._state, xq)
        m_in = masks["mask_in"][0].astype(np.int64)
        i_in = np.clip(xq[0] @ (m_in[: s.obs_dim] - m_in[s.obs_dim:]), *s.state_limits())
        fired = [int(f) for f in fired[0]]
        self._pending = {
            "state": {k: np.asarray(v, np.int64) for k, v in new.items()},
            "out": out[0],
            "i_in": i_in,
            "cycles": self.cycle_model.env_step_cycles(prev_spikes, fired),
            # SPIKES is a counter of the register's width that saturates, as in the RTL
            "spikes": min(sum(fired), (1 << self.rmap.registers["SPIKES"].width) - 1),
        }
        self.regs["STATUS"] = (self.regs["STATUS"] | int(Status.BUSY)) & ~int(Status.DONE)
        self._busy_left = self.busy_polls

    def _finish(self) -> None:
        p = self._pending
        assert p is not None
        self._state = p["state"]
        self._i_in = p["i_in"]
        self.mem["OUT"][:] = p["out"] & 0xFFFFFFFF
        self.regs["CYCLES"] = p["cycles"]
        self.regs["SPIKES"] = p["spikes"]
        self._pending = None
        self.regs["STATUS"] = (self.regs["STATUS"] & ~int(Status.BUSY)) | int(Status.DONE)


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

BOARD_HINT = "pip install 'evoconn[board]' on the board (PYNQ 3.x image, numpy<2)"


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
    writes). ``pynq.MMIO.write(offset, bytes)`` is avoided: pynq 3 implements it as a Python loop.

    Parameters
    ----------
    base_addr:
        The core's physical base address (from the overlay's .hwh: ``ip_dict[name]['phys_addr']``).
    length:
        Bytes to map; default: the register map's size for the spec read back from the core.
    mmio:
        An existing ``pynq.MMIO`` (e.g. ``overlay.evoconn_core.mmio``); then ``base_addr`` is
        ignored.
    """

    def __init__(self, base_addr: int | None = None, length: int | None = None, mmio: Any = None):
        if mmio is None:
            pynq = import_pynq()
            if base_addr is None:
                raise ValueError("MMIOBus needs base_addr or an existing mmio")
            mmio = pynq.MMIO(base_addr, length if length is not None else 1 << 16)
        self.mmio = mmio
        self.array = mmio.array

    def read(self, addr: int) -> int:
        return int(self.mmio.read(addr))

    def write(self, addr: int, value: int) -> None:
        self.mmio.write(addr, int(value) & 0xFFFFFFFF)

    def read_block(self, addr: int, n: int) -> np.ndarray:
        i = addr >> 2
        return np.array(self.array[i:i + n], dtype=np.uint32)

    def write_block(self, addr: int, words: np.ndarray) -> None:
        i = addr >> 2
        words = np.ascontiguousarray(words, dtype=np.uint32)
        self.array[i:i + words.size] = words
