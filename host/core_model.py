"""The core's behaviour model: the board's core as an in-memory register file.

:class:`CoreModel` is the contract the RTL is held to, in Python: every register, window, STATUS bit
and SLVERR of :class:`~evoconn.spec.RegisterMap`, with the arithmetic of
:func:`evoconn.spec.numpy_env_step` and the timing of :class:`~evoconn.spec.CycleModel`. It is a
:class:`~evoconn.host.core.Bus`, so :class:`~evoconn.host.core.RegisterCore` drives it as it drives
the board (the CLI's ``--backend fake``). ``evoconn.host.bus.FakeBus`` is the same class.

Imports numpy and the standard library only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evoconn.host.core import sign_extend
from evoconn.spec import (
    ERROR_CAUSES,
    STATE_FIELDS,
    AccessError,
    Control,
    CycleModel,
    Register,
    Spec,
    Status,
    Window,
    access,
    mask_rows,
    numpy_env_step,
    pack_rows,
    unpack_rows,
)
from evoconn.spec.prng import RHO_BITS, initial_membrane, masks_from_rho_words

__all__ = ["CoreModel", "default_lanes"]


def default_lanes(spec: Spec, want: int = 16) -> int:
    """The largest power of two up to ``want`` that divides N (16 for every N the paper uses)."""
    lanes = 1
    while lanes * 2 <= want and spec.n_neurons % (lanes * 2) == 0:
        lanes *= 2
    return lanes


class CoreModel:
    """The core's behaviour model: an in-memory register file that behaves like the board's core,
    per the spec's map and protocol (``FakeBus`` is its first name).

    Semantics (the contract the RTL is held to):

    - ID, VERSION, SPEC_HASH, the size registers and LANES read their constants; CONTROL reads 0.
    - Mask windows store N bits per row; bits above N in a row's last word read back as 0.
      Writing any mask word sets STATUS.LOADED (until a hardware reset, i.e. a new CoreModel).
    - OBS stores ``obs_width`` bits per word and reads back sign-extended to 32 bits.
    - STATE: neuron j's words 4j..4j+3 are v, isyn, rate, i_in, read sign-extended. Only v is
      writable (truncated to ``state_width``); writes to the other three words are accepted and
      ignored, so the host may write the whole window in one burst.
    - CONTROL: CLEAR_ERROR clears ERROR, ERR_BUSY and ERR_NOT_LOADED first; then RESET_STATE zeroes
      v, isyn, rate, i_in and spikes (masks and OBS are kept); then START runs one env step.
      START with nothing loaded sets ERROR|ERR_NOT_LOADED and runs nothing.
    - Busy: after START the core is BUSY for ``busy_polls + 1`` reads of STATUS (0: BUSY once, DONE
      on the next read; ``None``: forever, a hung core, as the RTL's ``fault='hang'``). While busy, a window
      read answers 0 and a window write, START or RESET_STATE is dropped; each sets
      ERROR|ERR_BUSY. CYCLES and SPIKES keep their previous values until the step finishes. START
      clears DONE and ABORTED.
    - CONTROL.ABORT (CLEAR_ERROR in the same write is obeyed first, the other bits are ignored):
      a step in progress is dropped (ABORTED set, DONE clear, OUT/CYCLES/SPIKES as before it),
      then the state is zeroed as by RESET_STATE; the core is idle. An aborted fill sets ABORTED
      too; the masks it was writing are undefined on the core (partly written), kept here.
    - SEED0 and SEED1 are plain read-write registers; RHO stores the low RHO_BITS bits of a word.
    - CONTROL.SAMPLE (core 1.2): zero the state as RESET_STATE, then fill the masks from RHO and
      the key (SEED0, SEED1) by :func:`evoconn.spec.prng.masks_from_rho_words` and v by
      :func:`~evoconn.spec.prng.initial_membrane`. LOADED is set at once; the core is BUSY and
      SAMPLING for ``busy_polls + 1`` STATUS reads, then idle with CYCLES =
      :meth:`~evoconn.spec.CycleModel.sample_cycles` and SPIKES = 0 (DONE and ABORTED as they were).
      START in the same write is dropped with ERROR|ERR_BUSY.
    - CYCLES comes from :class:`~evoconn.spec.CycleModel` with this bus's lanes, SPIKES is the
      number of spikes fired over the K sub-steps.
    - Every access answers (no bus error: the board-safe responses of :mod:`evoconn.spec.protocol`).
      One the spec's access rules refuse (:func:`evoconn.spec.access`, word by word: unaligned,
      unmapped, a write to a read-only register or window) sets ERROR|ERR_READ (the read answers
      0) or ERROR|ERR_WRITE (the write is dropped). The first error since CLEAR_ERROR latches its
      byte address in ERR_ADDR. A block is a sequence of single words, as on the board's MMIO.

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
        self.regs.update(STATUS=0, CONTROL=0, CYCLES=0, SPIKES=0, ERR_ADDR=0, SEED0=0, SEED1=0)
        self.mem = {name: np.zeros(w.depth, dtype=np.int64) for name, w in self.rmap.windows.items()}
        self._n = spec.n_neurons
        self._row_mask = self._row_bit_mask()
        self._state = {k: np.zeros((1, self._n), np.int64) for k in ("v", "isyn", "rate", "spike")}
        self._i_in = np.zeros(self._n, np.int64)
        self._masks_cache: dict[str, np.ndarray] | None = None
        self._pending: dict[str, Any] | None = None
        self._busy_left: int | None = 0
        self.reads = 0
        self.writes = 0

    def _row_bit_mask(self) -> np.ndarray:
        rw, n = self.spec.row_words, self._n
        m = np.full(rw, 0xFFFFFFFF, dtype=np.int64)
        if n % 32:
            m[-1] = (1 << (n % 32)) - 1
        return m

    # --- decode: the spec's access rules (evoconn.spec.access); a refusal is reported ----------
    def _decode(self, addr: int, op: str, n: int = 1) -> tuple[Register | Window, int] | None:
        """The target, or ``None`` after flagging ERR_READ/ERR_WRITE for a refused single word."""
        try:
            return access(self.rmap, addr, op, n)
        except AccessError:
            if n == 1:
                self._flag(Status.ERR_READ if op == "read" else Status.ERR_WRITE, addr)
            return None

    # --- status ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self.regs["STATUS"] & Status.BUSY)

    def _flag(self, bits: Status, addr: int) -> None:
        if not self.regs["STATUS"] & Status.ERROR:  # the first error since CLEAR_ERROR
            self.regs["ERR_ADDR"] = addr & 0xFFFFFFFF
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
        return self._read_word(addr)

    def _read_word(self, addr: int) -> int:
        hit = self._decode(addr, "read")
        if hit is None:
            return 0
        target, idx = hit
        if isinstance(target, Register):
            if target.name == "STATUS":
                value = self.regs["STATUS"]
                self._tick_status()
                return value
            return self.regs[target.name] & 0xFFFFFFFF  # every register is in regs
        return int(self._read_window(target, idx, 1, addr)[0])

    def read_block(self, addr: int, n: int) -> np.ndarray:
        self.reads += 1
        hit = self._decode(addr, "read", n) if n > 1 else None
        if hit is None:  # one word, or a block the rules refuse somewhere: word by word
            return np.array([self._read_word(addr + 4 * i) for i in range(n)], dtype=np.uint32)
        target, idx = hit
        return self._read_window(target, idx, n, addr)

    def write(self, addr: int, value: int) -> None:
        self.writes += 1
        self._write_word(addr, value)

    def _write_word(self, addr: int, value: int) -> None:
        hit = self._decode(addr, "write")  # refused: unaligned, unmapped, or read-only
        if hit is None:
            return
        target, idx = hit
        value = int(value) & 0xFFFFFFFF
        if isinstance(target, Register):  # CONTROL, SEED0 and SEED1 are the writable registers
            if target.name == "CONTROL":
                self._control(value, addr)
            else:
                self.regs[target.name] = value
            return
        self._write_window(target, idx, np.array([value], dtype=np.int64), addr)

    def write_block(self, addr: int, words: np.ndarray) -> None:
        self.writes += 1
        words = np.asarray(words)
        if words.ndim != 1:
            raise ValueError(f"write_block takes a 1-D array of words, got shape {words.shape}")
        hit = self._decode(addr, "write", words.size) if words.size > 1 else None
        if hit is None:  # one word, or a block the rules refuse somewhere: word by word
            for i, w in enumerate(words):
                self._write_word(addr + 4 * i, int(w))
            return
        target, idx = hit
        self._write_window(target, idx, words.astype(np.int64) & 0xFFFFFFFF, addr)

    # --- windows --------------------------------------------------------------------------
    def _read_window(self, w: Window, idx: int, n: int, addr: int) -> np.ndarray:
        if self.busy:  # answers 0 at once, reported
            self._flag(Status.ERR_BUSY, addr)
            return np.zeros(n, dtype=np.uint32)
        if w.name == "STATE":
            self._sync_state_window()
        if w.name == "SPIKE":
            spikes = self._state["spike"][0].astype(bool)
            self.mem["SPIKE"][:] = pack_rows(spikes[None, :])[0]
        vals = self.mem[w.name][idx:idx + n]
        return (vals & 0xFFFFFFFF).astype(np.uint32)

    def _write_window(self, w: Window, idx: int, words: np.ndarray, addr: int) -> None:
        if self.busy:
            self._flag(Status.ERR_BUSY, addr)
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
        elif w.name == "RHO":
            self.mem["RHO"][idx:idx + n] = words & ((1 << RHO_BITS) - 1)
        else:  # STATE: the other windows (OUT, SPIKE) are read-only, refused before
            stride = len(STATE_FIELDS)
            pos = np.arange(idx, idx + n)
            is_v = pos % stride == STATE_FIELDS.index("v")
            if is_v.any():
                v = sign_extend(words[is_v], self.spec.state_width)
                self._state["v"][0, pos[is_v] // stride] = v

    def _sync_state_window(self) -> None:
        s = self._state
        block = np.stack([s["v"][0], s["isyn"][0], s["rate"][0], self._i_in], axis=1)
        self.mem["STATE"][:] = block.ravel() & 0xFFFFFFFF

    # --- control --------------------------------------------------------------------------
    def _control(self, value: int, addr: int) -> None:
        c = Control(value & int(sum(Control)))
        if c & Control.CLEAR_ERROR:
            self.regs["STATUS"] &= ~int(Status.ERROR | ERROR_CAUSES)
            self.regs["ERR_ADDR"] = 0
        if c & Control.ABORT:
            if self.busy:  # the step (or fill) is dropped: OUT, CYCLES and SPIKES keep what they held
                self._pending = None
                self.regs["STATUS"] = ((self.regs["STATUS"] & ~int(Status.BUSY | Status.DONE | Status.SAMPLING))
                                       | int(Status.ABORTED))
            self._zero_state()
            return
        if c & (Control.START | Control.RESET_STATE | Control.SAMPLE) and self.busy:
            self._flag(Status.ERR_BUSY, addr)
            return
        if c & Control.SAMPLE:
            self._sample()
            if c & Control.START:  # START meets the fill it starts
                self._flag(Status.ERR_BUSY, addr)
            return
        if c & Control.RESET_STATE:
            self._zero_state()
        if c & Control.START:
            if not self.regs["STATUS"] & Status.LOADED:
                self._flag(Status.ERR_NOT_LOADED, addr)
                return
            self._start()

    def _zero_state(self) -> None:
        for k in self._state:
            self._state[k][:] = 0
        self._i_in[:] = 0

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
        self.regs["STATUS"] = (self.regs["STATUS"] | int(Status.BUSY)) & ~int(Status.DONE | Status.ABORTED)
        self._busy_left = self.busy_polls

    def _sample(self) -> None:
        s = self.spec
        self._zero_state()
        key = np.array([self.regs["SEED0"], self.regs["SEED1"]], np.uint32)
        masks = masks_from_rho_words(s, self.mem["RHO"], key)
        rows = mask_rows(s, masks)
        self._pending = {
            "fill": {win: pack_rows(rows[k]).ravel().astype(np.int64)
                     for win, k in (("MASK_IN", "mask_in"), ("MASK_H", "mask_h"), ("MASK_OUT", "mask_out"))},
            "v": initial_membrane(key, s.n_neurons, s.state_frac),
            "cycles": self.cycle_model.sample_cycles(),
        }
        self.regs["STATUS"] |= int(Status.BUSY | Status.SAMPLING | Status.LOADED)
        self._busy_left = self.busy_polls

    def _finish(self) -> None:
        p = self._pending
        assert p is not None
        if "fill" in p:
            for win, words in p["fill"].items():
                self.mem[win][:] = words
            self._masks_cache = None
            self._state["v"][0] = p["v"]
            self.regs["CYCLES"] = p["cycles"]
            self.regs["SPIKES"] = 0
            self._pending = None
            self.regs["STATUS"] &= ~int(Status.BUSY | Status.SAMPLING)
            return
        self._state = p["state"]
        self._i_in = p["i_in"]
        self.mem["OUT"][:] = p["out"] & 0xFFFFFFFF
        self.regs["CYCLES"] = p["cycles"]
        self.regs["SPIKES"] = p["spikes"]
        self._pending = None
        self.regs["STATUS"] = (self.regs["STATUS"] & ~int(Status.BUSY)) | int(Status.DONE)
