"""The register protocol, described once: what an address answers, and how a host knows the core.

Three rules that every driver and every model of the core follow:

- **Access** (:func:`access`): what ``n`` consecutive words at a byte address hit, for a read or
  a write. An unaligned or unmapped address, a block that runs past the end of its window, and a
  write to a read-only register or window are refused, here :class:`AccessError` with the
  message that names the refusal. The in-memory core model
  (:class:`evoconn.host.core_model.CoreModel`) decodes with it, and the RTL's address decoder
  (:mod:`evoconn.hw.decode`) is generated from the same list of regions (:func:`regions`: offset,
  words, aligned span and the access rule of every register and window).
- **Board-safe responses** (core version 1.1). On a Zynq an AXI SLVERR on the GP port reaches the
  ARM as an external abort (SIGBUS in Python), and an AXI read that is never answered stalls the
  processor for good. So the core never answers SLVERR and never holds a response:

  * every read and write answers OKAY within :func:`response_bound` clock cycles of its address
    (and, for a write, its data) being accepted, whatever the address and whatever the core is
    doing, provided the master is ready for the response;
  * a refused access (the access rules above, word by word: a block is a sequence of single
    words) sets STATUS.ERROR with ERR_READ (the read answers 0) or ERR_WRITE (the write is
    dropped);
  * while BUSY, a window read answers 0 at once, and a window write, START or RESET_STATE is
    dropped; each sets ERROR | ERR_BUSY. Registers read their live values at any time;
  * the byte address of the first access that sets ERROR after a CLEAR_ERROR (or a hardware
    reset) is latched in ERR_ADDR (CONTROL's own offset for START/RESET_STATE while busy or START
    with nothing loaded); later errors add their cause bits but keep ERR_ADDR. If a read and a
    write set ERROR in the same clock cycle, the write's address is the one latched.
    CLEAR_ERROR clears ERROR, the cause bits and ERR_ADDR;
  * CONTROL.ABORT, at any time, stops an env step (or a clear) in progress and then zeroes the
    neuron state as RESET_STATE does (masks and OBS kept); its write response comes when the core
    is idle again, within :func:`response_bound`. An aborted step sets STATUS.ABORTED and leaves
    DONE clear; OUT, CYCLES and SPIKES hold whatever the step had reached. CLEAR_ERROR in the same
    write is obeyed first; the other bits are ignored.

  A host therefore detects every mistake by reading STATUS (as :class:`RegisterCore` does after
  every upload and every step) and gets out of a core that never finishes with ABORT.
- **Identity** (:func:`identity_check`): before anything else a host reads ID, VERSION,
  SPEC_HASH, the sizes and LANES, at offsets that are the same for every spec
  (:data:`~evoconn.spec.regmap.REGISTER_OFFSETS`), and checks them against the spec it expects.
  The check is written without I/O, as a generator that names each register to read and is sent
  its value, so that the synchronous host (:class:`evoconn.host.core.RegisterCore` over any bus)
  and the asynchronous cocotb testbench drive the same reads in the same order, and see the same
  messages (:class:`IdentityMismatch`). :func:`identify` drives it over a plain ``read(addr)``,
  :func:`identify_async` over an awaitable one.

Imports nothing beyond the rest of the spec package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Generator

from evoconn.spec.regmap import REGISTER_OFFSETS, Access, Register, RegisterMap, Window
from evoconn.spec.sizes import CORE_ID, CORE_VERSION, Spec

__all__ = [
    "READ_LATENCY",
    "SIZE_REGISTERS",
    "WRITE_LATENCY",
    "AccessError",
    "Identity",
    "IdentityMismatch",
    "Region",
    "access",
    "identify",
    "identify_async",
    "identity_check",
    "region_at",
    "regions",
    "response_bound",
]


# =====================================================================================
# Access: decode of an address with the access rules
# =====================================================================================


class AccessError(ValueError):
    """The core answers SLVERR. ``addr`` is the byte address it names, ``op`` 'read' or 'write'."""

    def __init__(self, message: str, addr: int, op: str):
        super().__init__(message)
        self.addr = addr
        self.op = op


@dataclasses.dataclass(frozen=True)
class Region:
    """One mapped region of the address space, as the decoder sees it: ``words`` aligned words
    from byte ``offset``, inside an aligned ``span`` of bytes (a power of two; 4 for a register),
    and the access rule: which operations it refuses and why."""

    target: Register | Window
    offset: int
    words: int
    span: int

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def is_window(self) -> bool:
        return isinstance(self.target, Window)

    def refusal(self, op: str) -> str | None:
        """Why ``op`` (``'read'`` or ``'write'``) on this region is refused, or ``None``."""
        if op == "write" and self.target.access == Access.RO:
            return f"write to read-only {self.name}"
        return None

    def index(self, addr: int) -> int | None:
        """The word index of byte address ``addr`` in this region, or ``None`` if it misses."""
        if addr % 4 or not self.offset <= addr < self.offset + self.span:
            return None
        idx = (addr - self.offset) // 4
        return idx if idx < self.words else None


def regions(rmap: RegisterMap) -> tuple[Region, ...]:
    """Every mapped region of ``rmap``, registers first (in :data:`REGISTER_OFFSETS` order), then
    the windows in address order. Everything that decodes an address derives from this list:
    :func:`access` (and so the core's behaviour model) and the RTL's address decoder
    (:mod:`evoconn.hw.decode`), which builds one comparator per region from these fields."""
    return (*(Region(r, r.offset, 1, 4) for r in rmap.registers.values()),
            *(Region(w, w.offset, w.depth, w.span) for w in rmap.windows.values()))


def region_at(rmap: RegisterMap, addr: int) -> tuple[Region, int] | None:
    """``(region, word index)`` that byte address ``addr`` hits, or ``None``: unaligned, or in no
    region (between regions, or past a window's last word inside its span)."""
    for region in regions(rmap):
        idx = region.index(addr)
        if idx is not None:
            return region, idx
    return None


def _decode(rmap: RegisterMap, addr: int, op: str) -> tuple[Region, int]:
    hit = region_at(rmap, addr)
    if hit is None:
        raise AccessError(f"SLVERR: {op} at unmapped address 0x{addr:x}", addr, op)
    return hit


def access(rmap: RegisterMap, addr: int, op: str, n: int = 1) -> tuple[Register | Window, int]:
    """``(register or window, word index)`` that ``n`` words at byte address ``addr`` address.

    ``op`` is ``'read'`` or ``'write'``. Raises :class:`AccessError`, checking in this order: the
    first word's address is unaligned or unmapped; a block (``n > 1``) is not inside one window
    (the first unmapped word is named if its last word is unmapped, else the window it overruns);
    a write goes to a read-only register or window.
    """
    region, idx = _decode(rmap, addr, op)
    if n != 1 and (not region.is_window or idx + n > region.words):
        end = addr + 4 * (n - 1)
        _decode(rmap, end, op)  # SLVERR on the first unmapped word, if any
        raise AccessError(f"SLVERR: block {op} of {n} words at 0x{addr:x} crosses the end of "
                          f"{region.name}", addr, op)
    why = region.refusal(op)
    if why is not None:
        raise AccessError(f"SLVERR: {why} at 0x{addr:x}", addr, op)
    return region.target, idx


# =====================================================================================
# Board-safe responses: how long any access may take
# =====================================================================================

#: Clock edges from the AR handshake to the first edge after which RVALID is high, for every read
#: (busy or not, mapped or not, refused or not).
READ_LATENCY = 2
#: Clock edges from the handshake of a write's address and data (the later one) to the first edge
#: after which BVALID is high, for every write but RESET_STATE and ABORT.
WRITE_LATENCY = 1


def response_bound(spec: Spec, lanes: int) -> int:
    """The most clock edges any access takes, counted as for :data:`READ_LATENCY`, with the
    master ready for the response (RREADY/BREADY high): a RESET_STATE or ABORT write holds its
    response while the core clears the state, ``N / lanes`` cycles, and one cycle to enter the
    clear, then answers as any write; a read takes :data:`READ_LATENCY`, any other write
    :data:`WRITE_LATENCY`. At 100 MHz the largest core (N = 4096, lanes = 1) answers within 41 us."""
    return max(READ_LATENCY, spec.n_neurons // lanes + WRITE_LATENCY + 1)


# =====================================================================================
# Identity: ID, VERSION, SPEC_HASH and the sizes, against the spec the host expects
# =====================================================================================

#: The size registers a host reads, in this order, and the :class:`Spec` field each one holds.
SIZE_REGISTERS: dict[str, str] = {"N_NEURONS": "n_neurons", "N_EXC": "n_exc", "OBS_DIM": "obs_dim",
                                  "ACT_DIM": "act_dim", "SUBSTEPS": "substeps"}


class IdentityMismatch(ValueError):
    """The core is not an evoconn core, has another register map, or runs another spec."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """What the identity check found: the core's spec (the expected one, or the one its sizes
    make with the default arithmetic), and the raw ID, VERSION, SPEC_HASH and LANES it read."""

    spec: Spec
    lanes: int
    core_id: int
    version: int
    spec_hash: int


def identity_check(expect: Spec | None) -> Generator[str, int, Identity]:
    """The identity check, without I/O: yields the name of each register to read (the offsets are
    :data:`~evoconn.spec.regmap.REGISTER_OFFSETS`) and must be sent its value; returns an
    :class:`Identity` or raises :class:`IdentityMismatch` as soon as a value settles it.

    Reads ID (must be ``CORE_ID``), VERSION (its major must be ``CORE_VERSION``'s), SPEC_HASH, the
    :data:`SIZE_REGISTERS` and LANES. ``expect`` is the spec the host expects: SPEC_HASH must equal
    its hash; the message names the sizes that differ. ``None`` adopts the core's sizes with the
    default arithmetic, still checked against SPEC_HASH.
    """
    ident = yield "ID"
    if ident != CORE_ID:
        raise IdentityMismatch(
            f"no evoconn core here: ID reads 0x{ident:08x}, expected 0x{CORE_ID:08x} ('EVOC'); "
            "is the overlay loaded and the base address right?")
    version = yield "VERSION"
    if version >> 16 != CORE_VERSION >> 16:
        raise IdentityMismatch(
            f"core VERSION {version >> 16}.{version & 0xFFFF} has another register map than this "
            f"host ({CORE_VERSION >> 16}.{CORE_VERSION & 0xFFFF}); rebuild the bitstream or update "
            "evoconn")
    core_hash = yield "SPEC_HASH"
    sizes: dict[str, int] = {}
    for reg, field in SIZE_REGISTERS.items():
        sizes[field] = yield reg
    lanes = yield "LANES"
    if expect is None:
        try:
            spec = Spec(**sizes)
        except ValueError as e:
            raise IdentityMismatch(f"the core reports sizes {sizes} that make no valid spec: {e}") from None
        if spec.hash32 != core_hash:
            raise IdentityMismatch(
                f"core SPEC_HASH 0x{core_hash:08x} is not the default arithmetic for its sizes "
                f"{sizes} (that would be 0x{spec.hash32:08x}); pass the artifact's spec")
    else:
        spec = expect
        if spec.hash32 != core_hash:
            mine = {f: getattr(spec, f) for f in SIZE_REGISTERS.values()}
            diff = [f"{f}: core {sizes[f]} vs expected {mine[f]}" for f in mine if sizes[f] != mine[f]]
            what = ("sizes differ: " + ", ".join(diff)) if diff else (
                "the sizes agree, so the arithmetic differs (widths, leaks, shifts or arithmetic version)")
            raise IdentityMismatch(
                f"spec mismatch: the core's SPEC_HASH is 0x{core_hash:08x}, the expected spec's is "
                f"0x{spec.hash32:08x} ({spec.hash[:16]}); {what}")
    return Identity(spec=spec, lanes=lanes, core_id=ident, version=version, spec_hash=core_hash)


def identify(read: Callable[[int], int], expect: Spec | None) -> Identity:
    """Run :func:`identity_check` over ``read(byte_address) -> int`` (a synchronous bus)."""
    check = identity_check(expect)
    try:
        name = next(check)
        while True:
            name = check.send(read(REGISTER_OFFSETS[name]))
    except StopIteration as done:
        return done.value


async def identify_async(read: Callable[[int], Awaitable[int]], expect: Spec | None) -> Identity:
    """Run :func:`identity_check` over an awaitable ``read(byte_address)`` (the cocotb bus)."""
    check = identity_check(expect)
    try:
        name = next(check)
        while True:
            name = check.send(await read(REGISTER_OFFSETS[name]))
    except StopIteration as done:
        return done.value
