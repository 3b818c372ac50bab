"""The core's AXI4-Lite register map: registers, windows, STATUS and CONTROL bits."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from evoconn.spec.prng import RHO_BITS, rho_depth
from evoconn.spec.sizes import CORE_ID, CORE_VERSION, DEFAULT_LANES, Spec


class Access(str, enum.Enum):
    RO = "ro"
    WO = "wo"
    RW = "rw"


class Status(enum.IntFlag):
    """STATUS register bits."""

    BUSY = 1 << 0  #: an env step is running
    DONE = 1 << 1  #: the last env step finished; cleared by START
    ERROR = 1 << 2  #: sticky; cleared by CONTROL.CLEAR_ERROR
    LOADED = 1 << 3  #: a mask word was written since the last hardware reset
    ABORTED = 1 << 4  #: CONTROL.ABORT stopped an env step or a fill (DONE stays clear); cleared by START
    SAMPLING = 1 << 5  #: CONTROL.SAMPLE's fill of the masks and v0 is running (BUSY is set too)
    ERR_BUSY = 1 << 8  #: a window access, START, RESET_STATE or SAMPLE arrived while busy: dropped (a read answers 0)
    ERR_NOT_LOADED = 1 << 9  #: START with no mask written since reset; nothing ran
    ERR_READ = 1 << 10  #: a read of an unaligned or unmapped address; it answered 0 (OKAY)
    ERR_WRITE = 1 << 11  #: a write to an unaligned, unmapped or read-only address; dropped (OKAY)


#: The error bits: each sets ERROR too, and CONTROL.CLEAR_ERROR clears them all (and ERR_ADDR).
ERROR_CAUSES = Status.ERR_BUSY | Status.ERR_NOT_LOADED | Status.ERR_READ | Status.ERR_WRITE


class Control(enum.IntFlag):
    """CONTROL register bits (write 1 to act; reads as 0)."""

    START = 1 << 0  #: run one env step on the observation window
    RESET_STATE = 1 << 1  #: zero v, I_syn, rate, I_in and spikes (masks and OBS are kept)
    CLEAR_ERROR = 1 << 2  #: clear ERROR, its cause bits and ERR_ADDR
    ABORT = 1 << 3  #: stop an env step, fill or clear in progress, then zero the state as RESET_STATE does
    SAMPLE = 1 << 4  #: fill the masks and v from RHO and the key in SEED0/SEED1 (evoconn.spec.prng)


@dataclasses.dataclass(frozen=True)
class Register:
    name: str
    offset: int
    width: int
    access: Access
    reset: int
    doc: str


@dataclasses.dataclass(frozen=True)
class Field:
    """One 32-bit word per element of a window, as it appears in :class:`Window`."""

    name: str
    width: int
    signed: bool
    doc: str


@dataclasses.dataclass(frozen=True)
class Window:
    """A block of 32-bit words at ``offset``; ``depth`` words, each ``width`` bits wide."""

    name: str
    offset: int
    depth: int
    width: int
    access: Access
    signed: bool
    doc: str
    stride: int = 1  # words per element (the state window has one word per field)

    @property
    def size(self) -> int:
        return 4 * self.depth

    @property
    def span(self) -> int:
        """Bytes the window's aligned region takes (a power of two)."""
        return 1 << max(2, (self.size - 1).bit_length())


#: Fields of one neuron in the STATE window, in word order.
STATE_FIELDS = ("v", "isyn", "rate", "i_in")


#: The registers, the same for every spec: ``(name, offset, width, access, doc)``. Only their reset
#: values (:meth:`RegisterMap.constants`) come from the spec; VERSION's major number names this
#: layout, so a host can read ID, VERSION, SPEC_HASH and the sizes before it knows the spec.
REGISTER_LAYOUT: tuple[tuple[str, int, int, Access, str], ...] = (
    ("ID", 0x00, 32, Access.RO, "constant CORE_ID, 'EVOC'"),
    ("VERSION", 0x04, 32, Access.RO, "CORE_VERSION: major << 16 | minor"),
    ("SPEC_HASH", 0x08, 32, Access.RO, "first 32 bits of the spec's SHA-256"),
    ("STATUS", 0x0C, 12, Access.RO, "Status bits"),
    ("CONTROL", 0x10, 5, Access.WO, "Control bits, write 1 to act, reads 0"),
    ("N_NEURONS", 0x14, 16, Access.RO, "N"),
    ("N_EXC", 0x18, 16, Access.RO, "excitatory neurons"),
    ("OBS_DIM", 0x1C, 16, Access.RO, "d"),
    ("ACT_DIM", 0x20, 16, Access.RO, "a"),
    ("SUBSTEPS", 0x24, 16, Access.RO, "K"),
    ("LANES", 0x28, 16, Access.RO, "neuron updates per clock (an implementation parameter)"),
    ("CYCLES", 0x2C, 32, Access.RO, "clock cycles of the last env step, START to DONE"),
    ("SPIKES", 0x30, 16, Access.RO, "spikes fired during the last env step"),
    ("ROW_WORDS", 0x34, 16, Access.RO, "32-bit words per mask row, ceil(N/32)"),
    ("ERR_ADDR", 0x38, 32, Access.RO, "byte address of the first access that set ERROR since "
                                      "CLEAR_ERROR (or reset); 0 while ERROR is clear"),
    ("SEED0", 0x3C, 32, Access.RW, "word k0 of the member key that CONTROL.SAMPLE samples with"),
    ("SEED1", 0x40, 32, Access.RW, "word k1 of the member key that CONTROL.SAMPLE samples with"),
    ("RHO_BITS", 0x44, 16, Access.RO, "b: bits of each quantized connection probability in RHO"),
)

#: Byte offset of every register, the same for every spec (see :data:`REGISTER_LAYOUT`).
REGISTER_OFFSETS: dict[str, int] = {name: offset for name, offset, *_ in REGISTER_LAYOUT}


class RegisterMap:
    """The core's AXI4-Lite register map, derived from a :class:`Spec`.

    Byte addresses, 32-bit data. Registers occupy 0x000-0x0FF; each window is aligned to a power
    of two at least its size, in the order listed, after 0x100. Every access answers OKAY within a
    bounded number of cycles (:func:`evoconn.spec.protocol.response_bound`); one that the access
    rules refuse (:func:`evoconn.spec.access`: unaligned, unmapped, a write to a read-only
    register or window) is reported in STATUS (ERROR with ERR_READ or ERR_WRITE) and ERR_ADDR
    instead of a bus error: a refused read answers 0, a refused write is dropped.

    A hardware reset returns the registers to their reset values and clears STATUS (LOADED
    included); it does not clear the memories (masks, neuron state), so the host issues
    CONTROL.RESET_STATE before the first env step.
    """

    def __init__(self, spec: Spec, lanes: int = DEFAULT_LANES):
        self.spec = spec
        self.lanes = lanes
        values = self.constants()
        self.registers: dict[str, Register] = {}
        for name, off, width, acc, doc in REGISTER_LAYOUT:
            self.registers[name] = Register(name, off, width, acc, values.get(name, 0), doc)
        n, rw = spec.n_neurons, spec.row_words
        windows = [
            ("MASK_IN", spec.n_inputs * rw, 32, Access.RW, False, 1,
             "input mask, row i (2d rows: x then -x) = neurons fed by input i, ROW_WORDS words each"),
            ("MASK_H", n * rw, 32, Access.RW, False, 1,
             "recurrent mask, row i (presynaptic) = its postsynaptic targets, ROW_WORDS words each"),
            ("MASK_OUT", spec.act_dim * rw, 32, Access.RW, False, 1,
             "output mask transposed, row k = neurons summed into output k, ROW_WORDS words each"),
            ("OBS", spec.obs_dim, spec.obs_width, Access.RW, True, 1,
             "quantized observation, one signed word per input"),
            ("OUT", spec.act_dim, spec.out_width, Access.RO, True, 1,
             "output sums of the last env step, one signed word per action"),
            ("STATE", n * len(STATE_FIELDS), max(spec.state_width, spec.rate_width), Access.RW, True,
             len(STATE_FIELDS),
             "neuron j at word 4j: v, isyn, rate, i_in (signed); v is writable when idle, writes to "
             "the other words are accepted and ignored (so v0 goes in one block write)"),
            ("SPIKE", rw, 32, Access.RO, False, 1, "spikes of the last sub-step, bit j = neuron j"),
            ("RHO", rho_depth(spec), RHO_BITS, Access.RW, False, 1,
             "rho_q of every connection (b bits a word), the masks in stream order mask_h, mask_in, "
             "mask_out, each row-major in the paper's orientation (evoconn.spec.prng.rho_layout)"),
        ]
        self.windows: dict[str, Window] = {}
        addr = 0x100
        for name, depth, width, acc, signed, stride, doc in windows:
            span = 1 << max(2, (4 * depth - 1).bit_length())
            addr = (addr + span - 1) // span * span
            self.windows[name] = Window(name, addr, depth, width, acc, signed, doc, stride)
            addr += span
        #: Bytes of address space the core decodes (a power of two).
        self.size = 1 << (addr - 1).bit_length()

    def constants(self) -> dict[str, int]:
        s = self.spec
        return {
            "ID": CORE_ID,
            "VERSION": CORE_VERSION,
            "SPEC_HASH": s.hash32,
            "N_NEURONS": s.n_neurons,
            "N_EXC": s.n_exc,
            "OBS_DIM": s.obs_dim,
            "ACT_DIM": s.act_dim,
            "SUBSTEPS": s.substeps,
            "LANES": self.lanes,
            "ROW_WORDS": s.row_words,
            "RHO_BITS": RHO_BITS,
        }

    @property
    def addr_width(self) -> int:
        return (self.size - 1).bit_length()

    def __getitem__(self, name: str) -> Register | Window:
        if name in self.registers:
            return self.registers[name]
        return self.windows[name]

    def decode(self, addr: int) -> tuple[Register | Window, int] | None:
        """``(register or window, word index)`` for a byte address, or ``None`` if unmapped: the
        protocol's one decode (:func:`evoconn.spec.protocol.region_at`, which the RTL's decoder
        and the core model use too)."""
        from evoconn.spec.protocol import region_at  # the protocol is built on this module

        hit = region_at(self, addr)
        return None if hit is None else (hit[0].target, hit[1])

    def table(self) -> list[dict[str, Any]]:
        """The map as rows (for docs, the RTL and tests)."""
        rows = [dataclasses.asdict(r) | {"kind": "register", "access": r.access.value}
                for r in self.registers.values()]
        for w in self.windows.values():
            rows.append({"kind": "window", "name": w.name, "offset": w.offset, "depth": w.depth,
                         "width": w.width, "access": w.access.value, "signed": w.signed,
                         "stride": w.stride, "doc": w.doc})
        return rows

