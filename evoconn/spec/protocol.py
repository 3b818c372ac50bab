"""The register protocol, described once: what an address answers, and how a host knows the core.

Two rules that every driver and every model of the core follow:

- **Access** (:func:`access`): what ``n`` consecutive words at a byte address hit, for a read or
  a write. An unaligned or unmapped address, a block that runs past the end of its window, and a
  write to a read-only register or window answer SLVERR, here :class:`AccessError` with the
  message every bus shows. The in-memory core model (:class:`evoconn.host.core_model.CoreModel`)
  decodes with it; the RTL decodes the same :class:`~evoconn.spec.RegisterMap`.
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
    "SIZE_REGISTERS",
    "AccessError",
    "Identity",
    "IdentityMismatch",
    "access",
    "identify",
    "identify_async",
    "identity_check",
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


def _decode(rmap: RegisterMap, addr: int, op: str) -> tuple[Register | Window, int]:
    hit = rmap.decode(addr)
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
    target, idx = _decode(rmap, addr, op)
    if n != 1 and (not isinstance(target, Window) or idx + n > target.depth):
        end = addr + 4 * (n - 1)
        _decode(rmap, end, op)  # SLVERR on the first unmapped word, if any
        raise AccessError(f"SLVERR: block {op} of {n} words at 0x{addr:x} crosses the end of "
                          f"{target.name}", addr, op)
    if op == "write" and target.access == Access.RO:
        raise AccessError(f"SLVERR: write to read-only {target.name} at 0x{addr:x}", addr, op)
    return target, idx


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
