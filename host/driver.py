"""The core's PYNQ driver: a ``pynq.DefaultIP`` bound by the core's VLNV.

Importing this module registers :class:`EvoconnCoreDriver` with pynq (its metaclass records
``bindto``), so an overlay built by our Vivado flow hands back the driver as an attribute, as
PYNQ's own IP drivers do::

    import pynq
    import evoconn.host.driver                       # registers the driver
    ol = pynq.Overlay("evoconn.bit")                 # the .hwh beside it names the core's cell
    core = ol.evoconn_core.core()                    # a RegisterCore over pynq's MMIO
    core.load_masks(masks); out = core.step(xq)

This module imports ``pynq`` (the board extra); nothing else in :mod:`evoconn.host` does so at
import time.
"""

from __future__ import annotations

from typing import Any

import pynq

from evoconn import ip
from evoconn.host.core import RegisterCore
from evoconn.host.overlay import BoardBus
from evoconn.spec import Spec

__all__ = ["EvoconnCoreDriver"]


class EvoconnCoreDriver(pynq.DefaultIP):
    """The evoconn core in a loaded overlay: its registers through pynq's ``MMIO``.

    ``description`` is the core's ``ip_dict`` entry (pynq passes it); ``self.mmio`` is pynq's
    mapping of the core's address range.
    """

    #: pynq binds this driver to every cell whose VLNV is one of these (the packaged IP, and the
    #: module reference older overlays used).
    bindto = [ip.VLNV, ip.MODULE_REF_VLNV]

    def __init__(self, description: dict[str, Any]):
        super().__init__(description)
        self.description = description

    @property
    def phys_addr(self) -> int:
        return int(self.description["phys_addr"])

    @property
    def addr_range(self) -> int:
        return int(self.description["addr_range"])

    def bus(self) -> BoardBus:
        """The core's register bus over this driver's ``MMIO`` (pynq's errors become ``BusError``)."""
        return BoardBus(mmio=self.mmio)

    def core(self, spec: Spec | None = None, **kw: Any) -> RegisterCore:
        """A :class:`~evoconn.host.core.RegisterCore` on this core (checks ID and SPEC_HASH).

        ``spec``: the spec the caller expects (an artifact's); ``None`` takes the core's own.
        Keywords go to ``RegisterCore`` (``verify``, ``timeout``, ...).
        """
        return RegisterCore(self.bus(), spec, **kw)
