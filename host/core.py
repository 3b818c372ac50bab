"""The one host interface to an evoconn core, and its implementation over any register bus.

:class:`Core` is what the rollout loop and population scoring are written against. Every backend
implements it: :class:`RegisterCore` once for every bus (the board's MMIO, the RTL simulation's
AXI4-Lite master, the in-memory core model :class:`~evoconn.host.core_model.CoreModel`), and
:class:`~evoconn.host.jax_core.JaxCore` directly on the JAX integer model (the reference).

:class:`RegisterCore` follows :meth:`evoconn.spec.Spec.register_map` and nothing else: it checks
ID, VERSION and SPEC_HASH before anything else, streams packed masks with block writes, writes the
observation, starts one env step, polls STATUS for DONE with a timeout and reads the outputs.
A core that does not finish in time is stopped with CONTROL.ABORT, which leaves it idle and
usable (:class:`CoreTimeout` says so, with the STATUS and CYCLES it read first); a refused access
is reported by the core in STATUS and ERR_ADDR, never by a bus error (the board-safe responses of
:mod:`evoconn.spec.protocol`), and surfaces as :class:`CoreFault` at the next STATUS check.

Imports numpy and the standard library only (board-safe).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Protocol, runtime_checkable

import numpy as np

from evoconn.spec import (
    STATE_FIELDS,
    Control,
    IdentityMismatch,
    Spec,
    Status,
    identify,
    mask_rows,
    pack_rows,
    unpack_rows,
)
from evoconn.spec.prng import rho_words

__all__ = [
    "Bus",
    "BusError",
    "Core",
    "CoreError",
    "CoreFault",
    "CoreStats",
    "CoreTimeout",
    "IdentityError",
    "MissingDependency",
    "RegisterCore",
    "VerifyError",
    "check_key",
    "check_masks",
    "check_xq",
    "sign_extend",
]


# =====================================================================================
# Errors
# =====================================================================================


class CoreError(RuntimeError):
    """Anything that went wrong talking to a core. Subclasses say what."""


class IdentityError(CoreError):
    """The core at this address is not an evoconn core, or not the one for this spec."""


class CoreTimeout(CoreError):
    """The core did not raise DONE in time. The message gives STATUS and CYCLES as read at the
    timeout, and whether CONTROL.ABORT then returned the core to idle (``aborted``; its neuron
    state is then zero, masks and OBS kept). ``status`` and ``cycles`` hold the raw values."""

    def __init__(self, message: str, status: int = 0, cycles: int = 0, aborted: bool = False):
        super().__init__(message)
        self.status = status
        self.cycles = cycles
        self.aborted = aborted

    def __reduce__(self):  # pickles (the RTL session sends exceptions back to the host)
        return (type(self), (str(self), self.status, self.cycles, self.aborted))


class CoreFault(CoreError):
    """The core set its ERROR bit. ``status`` holds the decoded :class:`~evoconn.spec.Status`."""

    def __init__(self, message: str, status: Status):
        super().__init__(message)
        self.status = status


class BusError(CoreError):
    """The bus answered an error response (SLVERR, DECERR). An evoconn core (version 1.1) never
    does: it reports a refused access in STATUS and ERR_ADDR (:mod:`evoconn.spec.protocol`); an
    interconnect may, for an address outside the core's range. ``addr`` is the byte address,
    ``op`` 'read' or 'write'."""

    def __init__(self, message: str, addr: int, op: str):
        super().__init__(message)
        self.addr = addr
        self.op = op


class VerifyError(CoreError):
    """Words read back from a mask window differ from the words written."""


class MissingDependency(CoreError, ImportError):
    """A backend's heavy dependency (jax, pynq, cocotb) is not installed; names the extra."""


def decode_status(value: int) -> str:
    """``'BUSY|ERROR|ERR_BUSY (0x105)'``: the set STATUS flags by name, and the raw value."""
    names = [f.name for f in Status if value & f.value]
    unknown = value & ~sum(f.value for f in Status)
    if unknown:
        names.append(f"unknown bits 0x{unknown:x}")
    return f"{'|'.join(names) or 'none'} (0x{value:x})"


# =====================================================================================
# The two protocols
# =====================================================================================


@runtime_checkable
class Bus(Protocol):
    """32-bit register access at byte addresses relative to the core's base.

    A bus that sees SLVERR raises :class:`BusError`. Block transfers move ``n`` consecutive words
    and must not be implemented as a Python loop of single transactions where the transport
    offers better (the board's MMIO view, one AXI burst in simulation).
    """

    def read(self, addr: int) -> int: ...

    def write(self, addr: int, value: int) -> None: ...

    def write_block(self, addr: int, words: np.ndarray) -> None: ...

    def read_block(self, addr: int, n: int) -> np.ndarray: ...


@runtime_checkable
class Core(Protocol):
    """One network on one core: load its masks, reset, step, and look inside.

    Integers only: observations come in quantized (:meth:`Spec.quantize_obs`) and outputs go out
    as the core's int32 sums (:meth:`Spec.action_from_output` makes actions). State carries
    across :meth:`step` calls until :meth:`reset_state`.
    """

    spec: Spec

    def load_masks(self, masks: dict[str, np.ndarray]) -> None:
        """Load one member: ``mask_in`` (2d, N), ``mask_h`` (N, N), ``mask_out`` (N, a) bool."""

    def reset_state(self, v0: np.ndarray | None = None) -> None:
        """Zero v, I_syn, rate and spikes; then set the membrane to ``v0`` (N,) ints if given."""

    def step(self, xq: np.ndarray) -> np.ndarray:
        """One env step on the quantized observation ``xq`` (d,); returns the (a,) int32 sums."""

    def run(self, xq_seq: np.ndarray) -> np.ndarray:
        """:meth:`step` over ``xq_seq`` (T, d); returns (T, a) int32."""

    def read_state(self) -> dict[str, Any]:
        """The neuron state for debugging: ``v, isyn, rate, i_in`` int32 (N,), ``spike`` bool (N,),
        and ``spikes`` (fired during the last env step)."""

    def load_rho(self, rho: dict[str, np.ndarray]) -> None:
        """Load a generation's connection probabilities (``spec.mask_shapes``, in [0, 1), each
        quantized to RHO_BITS: :func:`evoconn.spec.prng.rho_words`) for :meth:`sample`."""

    def sample(self, key: Any) -> None:
        """Load one member from its key (two uint32 words) and the loaded rho: its masks
        (:func:`evoconn.spec.prng.masks_from_rho_words`), the state zeroed and v set to
        :func:`evoconn.spec.prng.initial_membrane`; on the board, the core does it itself."""


# =====================================================================================
# Checks shared by every backend
# =====================================================================================


def check_masks(spec: Spec, masks: dict[str, Any]) -> dict[str, np.ndarray]:
    """The three masks as bool arrays, checked against ``spec.mask_shapes`` (names what is wrong)."""
    if not isinstance(masks, dict):
        raise TypeError(f"masks must be a dict of mask_in/mask_h/mask_out, got {type(masks).__name__}")
    out = {}
    for k, shape in spec.mask_shapes.items():
        if k not in masks:
            raise ValueError(f"masks lack {k!r} (have {sorted(masks)})")
        arr = np.asarray(masks[k])
        if arr.shape != shape:
            raise ValueError(f"{k} has shape {arr.shape}, this core needs {shape} "
                             f"(N={spec.n_neurons}, d={spec.obs_dim}, a={spec.act_dim})")
        if arr.dtype != np.bool_:
            if not np.isin(arr, (0, 1)).all():
                raise ValueError(f"{k} must be boolean (or 0/1), got values outside {{0, 1}}")
            arr = arr.astype(bool)
        out[k] = arr
    return out


def _int_vector(name: str, value: Any, n: int, limits: tuple[int, int], what: str, hint: str) -> np.ndarray:
    """``value`` as int64 (n,), refusing other shapes, non-integer dtypes and values outside ``limits``."""
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers ({hint}), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    lo, hi = limits
    if arr.min() < lo or arr.max() > hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}] ({what}), got values in [{arr.min()}, {arr.max()}]")
    return arr


def check_key(key: Any) -> np.ndarray:
    """A member key: two integers in [0, 2**32) (``evoconn.spec.prng.member_keys`` rows), as uint32."""
    k = np.asarray(key)
    if k.shape != (2,) or k.dtype.kind not in "iu":
        raise ValueError(f"a member key is two integers (k0, k1), got {k.dtype} array of shape {k.shape}")
    if int(k.min()) < 0 or int(k.max()) > 0xFFFFFFFF:
        raise ValueError(f"a member key's words lie in [0, 2**32), got {k.tolist()}")
    return k.astype(np.uint32)


def check_xq(spec: Spec, xq: Any) -> np.ndarray:
    """A quantized observation as int64 (d,), refusing floats and values outside obs_width."""
    return _int_vector("xq", xq, spec.obs_dim, spec.obs_limits(), f"obs_width={spec.obs_width}",
                       "use spec.quantize_obs")


def check_v0(spec: Spec, v0: Any) -> np.ndarray:
    """An initial membrane as int64 (N,), inside the state width."""
    return _int_vector("v0", v0, spec.n_neurons, spec.state_limits(), f"state_width={spec.state_width}",
                       "in state units")


def sign_extend(words: Any, width: int) -> np.ndarray:
    """The low ``width`` bits of 32-bit words as signed int64 (works whether the core sign- or
    zero-extends its narrower fields into the 32-bit word)."""
    w = np.asarray(words, dtype=np.int64) & ((1 << width) - 1)
    return np.where(w >= (1 << (width - 1)), w - (1 << width), w)


def to_words(values: Any) -> np.ndarray:
    """Signed ints as their 32-bit two's complement words (uint32)."""
    return (np.asarray(values, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)


# =====================================================================================
# Throughput accounting (FINN driver_base's throughput_test, per stage)
# =====================================================================================

STAGES = ("mask_upload", "obs_write", "compute_wait", "output_read", "state_io", "rho_upload", "sample")


@dataclasses.dataclass
class CoreStats:
    """Seconds per driver stage, transaction and byte counts, env steps, mask loads and fills."""

    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    bytes_to_core: int = 0
    bytes_from_core: int = 0
    transactions: int = 0
    steps: int = 0
    mask_loads: int = 0
    rho_loads: int = 0
    samples: int = 0  #: members loaded by CONTROL.SAMPLE (seeds on the bus)
    polls: int = 0
    cycles: int = 0  #: CYCLES summed over steps, when the core is asked to read it

    def reset(self) -> None:
        fresh = CoreStats()
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# =====================================================================================
# RegisterCore
# =====================================================================================

class RegisterCore:
    """:class:`Core` in terms of a :class:`Bus` and the spec's register map.

    Parameters
    ----------
    bus:
        Any :class:`Bus`.
    spec:
        The spec the caller expects (e.g. the artifact's). The core's SPEC_HASH must equal its
        hash, or the constructor raises :class:`IdentityError` naming both hashes and the sizes
        that differ. ``None`` adopts the core's sizes with the default arithmetic, still checked
        against SPEC_HASH.
    verify:
        Read every mask window back after loading and compare (raises :class:`VerifyError`).
    timeout:
        Seconds to wait for DONE after START before :class:`CoreTimeout`.
    read_cycles:
        Read CYCLES after every step into ``stats.cycles`` (one more bus read per step).
    clear_errors:
        Clear a stale ERROR left by an earlier session when attaching (one CONTROL write).
    """

    def __init__(self, bus: Bus, spec: Spec | None = None, verify: bool = False, timeout: float = 1.0,
                 read_cycles: bool = False, clear_errors: bool = True):
        self.bus = bus
        self.verify = verify
        self.timeout = float(timeout)
        self.read_cycles = read_cycles
        self.stats = CoreStats()
        # ID, VERSION, SPEC_HASH, the sizes and LANES, at the offsets every spec shares
        try:
            found = identify(bus.read, spec)
        except IdentityMismatch as e:
            raise IdentityError(str(e)) from None
        spec, self.lanes = found.spec, found.lanes
        self.spec = spec
        self.rmap = spec.register_map(self.lanes)
        r = self.rmap.registers
        w = self.rmap.windows
        self._status = r["STATUS"].offset
        self._control = r["CONTROL"].offset
        self._cycles = r["CYCLES"].offset
        self._err_addr = r["ERR_ADDR"].offset
        self._spikes = r["SPIKES"].offset
        self._seed = (r["SEED0"].offset, r["SEED1"].offset)
        self._win = {name: w[name] for name in w}
        self._mask_windows = (("mask_in", w["MASK_IN"]), ("mask_h", w["MASK_H"]), ("mask_out", w["MASK_OUT"]))
        self._out_width = w["OUT"].width
        self.loaded = False
        self.rho_loaded = False
        if clear_errors and bus.read(self._status) & Status.ERROR:
            self._write(self._control, int(Control.CLEAR_ERROR))

    # --- bus helpers with accounting ------------------------------------------------------
    def _write(self, addr: int, value: int) -> None:
        self.bus.write(addr, value)
        self.stats.transactions += 1
        self.stats.bytes_to_core += 4

    def _read(self, addr: int) -> int:
        self.stats.transactions += 1
        self.stats.bytes_from_core += 4
        return self.bus.read(addr)

    def _write_block(self, addr: int, words: np.ndarray) -> None:
        self.bus.write_block(addr, words)
        self.stats.transactions += 1
        self.stats.bytes_to_core += 4 * len(words)

    def _read_block(self, addr: int, n: int) -> np.ndarray:
        self.stats.transactions += 1
        self.stats.bytes_from_core += 4 * n
        return self.bus.read_block(addr, n)

    # --- status ---------------------------------------------------------------------------
    def status(self) -> Status:
        """The decoded STATUS register."""
        return Status(self._read(self._status))

    def clear_error(self) -> None:
        self._write(self._control, int(Control.CLEAR_ERROR))

    def abort(self) -> Status:
        """CONTROL.ABORT: stop an env step in progress and zero the neuron state (masks and OBS
        are kept). The core answers the write once it is idle again; returns STATUS read then."""
        self._write(self._control, int(Control.ABORT))
        return Status(self._read(self._status))

    def _fault(self, value: int, during: str) -> CoreFault:
        st = Status(value)
        why = []
        if st & Status.ERR_BUSY:
            why.append("a window access, START, RESET_STATE or SAMPLE arrived while the core was busy "
                       "and was dropped (a read answered 0)")
        if st & Status.ERR_NOT_LOADED:
            why.append("START with no masks loaded since reset; nothing ran")
        if st & Status.ERR_READ:
            why.append("a read of an unaligned or unmapped address answered 0")
        if st & Status.ERR_WRITE:
            why.append("a write to an unaligned, unmapped or read-only address was dropped")
        where = f", first at address 0x{self._read(self._err_addr):x} (ERR_ADDR)"
        msg = (f"core reported ERROR during {during}: STATUS = {decode_status(value)}"
               + (f": {'; '.join(why)}" if why else "") + where + ". Call clear_error() to go on.")
        return CoreFault(msg, st)

    def _check_idle(self, during: str) -> None:
        value = self._read(self._status)
        if value & Status.ERROR:
            raise self._fault(value, during)
        if value & Status.BUSY:
            raise CoreError(f"core is busy before {during}: STATUS = {decode_status(value)}")

    # --- Core -----------------------------------------------------------------------------
    def load_masks(self, masks: dict[str, np.ndarray]) -> None:
        t0 = time.perf_counter()
        masks = check_masks(self.spec, masks)
        rows = mask_rows(self.spec, masks)
        packed = {k: pack_rows(rows[k]).ravel() for k, _ in self._mask_windows}
        for key, win in self._mask_windows:
            self._write_block(win.offset, packed[key])
        self._check_idle("mask upload")  # a dropped mask write shows up as ERR_BUSY
        if self.verify:
            for key, win in self._mask_windows:
                back = np.asarray(self._read_block(win.offset, win.depth), dtype=np.uint32)
                bad = np.flatnonzero(back != packed[key])
                if bad.size:
                    i = int(bad[0])
                    rw = self.spec.row_words
                    raise VerifyError(
                        f"{win.name} read back differs in {bad.size} of {win.depth} words; first at "
                        f"word {i} (row {i // rw}, word {i % rw} of the row, address "
                        f"0x{win.offset + 4 * i:x}): wrote 0x{int(packed[key][i]):08x}, "
                        f"read 0x{int(back[i]):08x}")
        self.loaded = True
        self.stats.mask_loads += 1
        self.stats.seconds["mask_upload"] += time.perf_counter() - t0

    def reset_state(self, v0: np.ndarray | None = None) -> None:
        t0 = time.perf_counter()
        self._write(self._control, int(Control.RESET_STATE))
        if v0 is not None:
            v0 = check_v0(self.spec, v0)
            # One block write of the whole STATE window: v in every neuron's first word, zeros in
            # the read-only isyn/rate/i_in words (the core ignores writes there; RESET_STATE just
            # zeroed them anyway). One burst instead of N single writes.
            block = np.zeros((self.spec.n_neurons, len(STATE_FIELDS)), dtype=np.int64)
            block[:, STATE_FIELDS.index("v")] = v0
            self._write_block(self._win["STATE"].offset, to_words(block.ravel()))
        self.stats.seconds["state_io"] += time.perf_counter() - t0

    def step(self, xq: np.ndarray) -> np.ndarray:
        st = self.stats
        t0 = time.perf_counter()
        xq = check_xq(self.spec, xq)
        self._write_block(self._win["OBS"].offset, to_words(xq))
        t1 = time.perf_counter()
        self._write(self._control, int(Control.START))
        self._wait(t1, f"env step {st.steps}", Status.DONE, "START")
        t2 = time.perf_counter()
        words = self._read_block(self._win["OUT"].offset, self.spec.act_dim)
        out = sign_extend(words, self._out_width).astype(np.int32)
        if self.read_cycles:
            st.cycles += self._read(self._cycles)
        t3 = time.perf_counter()
        st.seconds["obs_write"] += t1 - t0
        st.seconds["compute_wait"] += t2 - t1
        st.seconds["output_read"] += t3 - t2
        st.steps += 1
        return out

    def _wait(self, t_start: float, during: str, until: Status, command: str) -> None:
        """Poll STATUS until the core is idle with ``until`` set (DONE after START; idle alone after
        SAMPLE: ``Status(0)``), raising :class:`CoreFault` on ERROR and :class:`CoreTimeout` after
        ``timeout`` seconds from ``t_start``."""
        deadline = t_start + self.timeout
        while True:
            # the clock is read before STATUS, so the read that decides a timeout comes after the
            # deadline: a host paused past it (a loaded machine) still sees a core that finished
            expired = time.perf_counter() > deadline
            value = self._read(self._status)
            self.stats.polls += 1
            if value & Status.ERROR:
                raise self._fault(value, during)
            if value & until == until and not value & Status.BUSY:
                return
            if expired:
                raise self._timed_out(value, command, "raise DONE" if until else "finish the fill")

    def load_rho(self, rho: dict[str, np.ndarray]) -> None:
        t0 = time.perf_counter()
        words = rho_words(self.spec, rho)
        self._write_block(self._win["RHO"].offset, words)
        self._check_idle("rho upload")
        if self.verify:
            back = np.asarray(self._read_block(self._win["RHO"].offset, words.size), np.uint32)
            bad = np.flatnonzero(back != words)
            if bad.size:
                i = int(bad[0])
                raise VerifyError(f"RHO read back differs in {bad.size} of {words.size} words; first at word "
                                  f"{i} (address 0x{self._win['RHO'].offset + 4 * i:x}): wrote {int(words[i])}, "
                                  f"read {int(back[i])}")
        self.rho_loaded = True
        self.stats.rho_loads += 1
        self.stats.seconds["rho_upload"] += time.perf_counter() - t0

    def sample(self, key: Any) -> None:
        """SEED0, SEED1, CONTROL.SAMPLE (3 writes, 12 bytes), then STATUS until the fill is done."""
        if not self.rho_loaded:
            raise CoreError("sample() before load_rho(): the core's RHO window holds no probabilities "
                            "from this host")
        t0 = time.perf_counter()
        k = check_key(key)
        self._write(self._seed[0], int(k[0]))
        self._write(self._seed[1], int(k[1]))
        self._write(self._control, int(Control.SAMPLE))
        self._wait(t0, f"the fill of member key ({int(k[0])}, {int(k[1])})", Status(0), "SAMPLE")
        self.loaded = True
        self.stats.samples += 1
        self.stats.seconds["sample"] += time.perf_counter() - t0

    def _timed_out(self, value: int, command: str = "START", what: str = "raise DONE") -> CoreTimeout:
        """Read CYCLES, ABORT the step, and say what was seen and what the core is now."""
        st = self.stats
        cycles = self._read(self._cycles)
        head = (f"core did not {what} within {self.timeout:g} s of {command} (env step {st.steps}, "
                f"{st.polls} polls): STATUS = {decode_status(value)}, CYCLES = {cycles}")
        after = int(self.abort())
        if not after & Status.BUSY:
            return CoreTimeout(
                f"{head}. Aborted (CONTROL.ABORT): the core is idle with its neuron state zeroed, "
                f"STATUS = {decode_status(after)}; reset_state() and go on.", value, cycles, True)
        return CoreTimeout(
            f"{head}. CONTROL.ABORT did not return it to idle (STATUS = {decode_status(after)}): is "
            "the clock running and the core out of reset?", value, cycles, False)

    def run(self, xq_seq: np.ndarray) -> np.ndarray:
        xq_seq = np.asarray(xq_seq)
        return np.stack([self.step(x) for x in xq_seq]) if len(xq_seq) else np.zeros(
            (0, self.spec.act_dim), np.int32)

    def read_state(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        spec = self.spec
        win = self._win["STATE"]
        words = self._read_block(win.offset, win.depth).reshape(spec.n_neurons, len(STATE_FIELDS))
        state: dict[str, Any] = {}
        for i, name in enumerate(STATE_FIELDS):
            width = spec.rate_width if name == "rate" else spec.state_width
            state[name] = sign_extend(words[:, i], width).astype(np.int32)
        spike_words = self._read_block(self._win["SPIKE"].offset, spec.row_words)
        state["spike"] = unpack_rows(np.asarray(spike_words, np.uint32)[None, :], spec.n_neurons)[0]
        state["spikes"] = self._read(self._spikes)
        state["cycles"] = self._read(self._cycles)
        state["status"] = Status(self._read(self._status))
        self.stats.seconds["state_io"] += time.perf_counter() - t0
        return state

    def read_masks(self) -> dict[str, np.ndarray]:
        """The masks the core holds, read back through the mask windows, in the paper's orientation
        (``mask_out`` (N, a)): what :meth:`load_masks` wrote or :meth:`sample` filled."""
        s = self.spec
        rows = {}
        for key, win in self._mask_windows:
            words = np.asarray(self._read_block(win.offset, win.depth), np.uint32).reshape(-1, s.row_words)
            rows[key] = unpack_rows(words, s.n_neurons)
        return {"mask_in": rows["mask_in"], "mask_h": rows["mask_h"], "mask_out": rows["mask_out"].T}

    def __repr__(self) -> str:
        s = self.spec
        return (f"RegisterCore(N={s.n_neurons}, d={s.obs_dim}, a={s.act_dim}, K={s.substeps}, "
                f"lanes={self.lanes}, hash=0x{s.hash32:08x}, bus={type(self.bus).__name__})")
