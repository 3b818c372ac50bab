"""The core's memories: three mask memories, four neuron-state memories and the rho memory, each
with a bus side and a datapath side.

- **Masks** (``mask_in``: 2d rows, ``mask_h``: N rows, ``mask_out``: a rows; each row
  ``32 * ROW_WORDS`` bits, so one row is read in one cycle). The register file writes them a
  32-bit word at a time with byte strobes; both the register file and the controller read them.
- **State** (``state_v``, ``state_isyn``, ``state_rate``, ``state_iin``; N / lanes rows of
  ``lanes`` values). The controller reads and writes all four; the register file reads them, and
  writes ``state_v`` one lane at a time (v0).
- **rho** (one b-bit rho_q per connection, :func:`evoconn.spec.prng.rho_layout`): the register
  file writes and reads it (the RHO window); its datapath side is the mask sampler's read port
  (:mod:`evoconn.hw.sampler`). The sampler writes masks and v0 through the bus side of their
  memories (the core muxes it in while it fills: the bus may not write then, as while busy).

Each memory has one read port and one write port. A read port takes the datapath's address while
its ``dp_<mem>_ren`` is high (the controller's states that read it) and the bus's otherwise; a
write port takes the datapath's address and data while ``dp_<mem>_wen`` is non-zero, else the
bus's, and its enables are the union of both (the register file writes a window only while the
core is idle, the datapath only while it is busy, so they never meet).

Ports, for a memory ``x``: ``x_rdata`` (out); ``bus_x_raddr`` (in); ``dp_x_raddr``, ``dp_x_ren``
(in, for the memories the datapath reads: all); ``bus_x_waddr``, ``bus_x_wdata``, ``bus_x_wen``
(in, the masks and ``state_v``); ``dp_x_waddr``, ``dp_x_wdata``, ``dp_x_wen`` (in, the state
memories).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from evoconn.spec import Spec
from evoconn.spec.prng import RHO_BITS, rho_depth

__all__ = ["MASKS", "RHO", "STATES", "Memories"]

#: The mask memories, in the order of the register map's windows.
MASKS = ("mask_in", "mask_h", "mask_out")
#: The state memories, in the word order of the STATE window (evoconn.spec.STATE_FIELDS).
STATES = ("state_v", "state_isyn", "state_rate", "state_iin")
#: The rho memory (the RHO window, read by the mask sampler).
RHO = "rho"
#: Memories the register file writes, and those the datapath writes.
BUS_WRITES = (*MASKS, "state_v", RHO)
DP_WRITES = STATES


class Memories(wiring.Component):
    """The eight memories of :class:`evoconn.hw.core.EvoconnCore`, sized from ``spec`` and ``lanes``.

    Attributes
    ----------
    shapes:
        ``name -> (width, depth, granularity)`` of every memory.
    memories:
        ``name -> Memory``. The composing core adds them to its own ``m.submodules`` under these
        names (this component drives their ports), so the flattened netlist keeps the memory names
        the synthesis flows mark (:data:`evoconn.hw.synth.MASK_MEMORIES`).
    read_ports:
        ``(name, read port, depth)`` of every memory: no read may address beyond the depth (an
        out-of-range read is X in simulation and undefined on a block RAM); tests check it.
    """

    def __init__(self, spec: Spec, lanes: int):
        rows = spec.n_neurons // lanes
        row_bits = 32 * spec.row_words
        sw, rw = spec.state_width, spec.rate_width
        self.shapes = {
            "mask_in": (row_bits, spec.n_inputs, 8),
            "mask_h": (row_bits, spec.n_neurons, 8),
            "mask_out": (row_bits, spec.act_dim, 8),
            "state_v": (lanes * sw, rows, sw),
            "state_isyn": (lanes * sw, rows, None),
            "state_rate": (lanes * rw, rows, None),
            "state_iin": (lanes * sw, rows, None),
            RHO: (RHO_BITS, rho_depth(spec), None),
        }
        self._mems, self._rp, self._wp = {}, {}, {}
        members = {}
        for name, (width, depth, gran) in self.shapes.items():
            mem = Memory(shape=unsigned(width), depth=depth, init=[])
            self._mems[name] = mem
            self._rp[name] = mem.read_port()
            self._wp[name] = mem.write_port(granularity=gran)
            en_width = len(self._wp[name].en)
            members[f"{name}_rdata"] = Out(width)
            members[f"bus_{name}_raddr"] = In(range(depth))
            members[f"dp_{name}_raddr"] = In(range(depth))
            members[f"dp_{name}_ren"] = In(1)
            for side, names in (("bus", BUS_WRITES), ("dp", DP_WRITES)):
                if name in names:
                    members[f"{side}_{name}_waddr"] = In(range(depth))
                    members[f"{side}_{name}_wdata"] = In(width)
                    members[f"{side}_{name}_wen"] = In(en_width)
        self.memories = dict(self._mems)
        self.read_ports = [(name, self._rp[name], self.shapes[name][1]) for name in self.shapes]
        super().__init__(members)

    def port(self, side: str, name: str, what: str):
        """The port ``<side>_<name>_<what>`` (``side`` 'bus' or 'dp')."""
        return getattr(self, f"{side}_{name}_{what}")

    def rdata(self, name: str):
        return getattr(self, f"{name}_rdata")

    def write_members(self, side: str, names) -> dict[str, Out]:
        """The signature members a ``side`` ('bus' or 'dp') drives to write ``names``: for each,
        ``<name>_waddr``, ``<name>_wdata`` and ``<name>_wen`` (as wide as that side's enables)."""
        members = {}
        for name in names:
            width, depth, _ = self.shapes[name]
            members[f"{name}_waddr"] = Out(range(depth))
            members[f"{name}_wdata"] = Out(width)
            members[f"{name}_wen"] = Out(len(self.port(side, name, "wen")))
        return members

    def elaborate(self, platform):
        m = Module()
        for name in self._mems:
            rp, wp = self._rp[name], self._wp[name]
            m.d.comb += [
                rp.addr.eq(Mux(self.port("dp", name, "ren"), self.port("dp", name, "raddr"),
                               self.port("bus", name, "raddr"))),
                self.rdata(name).eq(rp.data),
            ]
            bus_w = name in BUS_WRITES
            dp_w = name in DP_WRITES
            if bus_w and dp_w:
                dp_on = self.port("dp", name, "wen") != 0
                m.d.comb += [
                    wp.addr.eq(Mux(dp_on, self.port("dp", name, "waddr"), self.port("bus", name, "waddr"))),
                    wp.data.eq(Mux(dp_on, self.port("dp", name, "wdata"), self.port("bus", name, "wdata"))),
                    wp.en.eq(self.port("dp", name, "wen") | self.port("bus", name, "wen")),
                ]
            else:
                side = "bus" if bus_w else "dp"
                m.d.comb += [wp.addr.eq(self.port(side, name, "waddr")), wp.data.eq(self.port(side, name, "wdata")),
                             wp.en.eq(self.port(side, name, "wen"))]
        return m
