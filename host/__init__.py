"""evoconn.host: the one Core interface, its backends, rollouts and the board-side CLI.

Imports numpy and the standard library only, so it works on a PYNQ-Z2 without JAX. Backends
import their heavy dependency when constructed: :class:`~evoconn.host.jax_core.JaxCore` (jax),
:class:`~evoconn.host.bus.MMIOBus` (pynq), :class:`~evoconn.host.rtl.RtlSession` (cocotb and a
simulator; it runs this package's RegisterCore inside the simulator). The Core-scored EC loop,
:mod:`evoconn.host.train_core` is not imported here (it needs no JAX: the board trains with it).
"""

from __future__ import annotations

from evoconn.host.bus import CoreModel, FakeBus, MMIOBus, RecordingBus, ReplayBus, ReplayMismatch
from evoconn.host.core import (
    Bus,
    BusError,
    Core,
    CoreError,
    CoreFault,
    CoreStats,
    CoreTimeout,
    IdentityError,
    MissingDependency,
    RegisterCore,
    VerifyError,
)

__all__ = [
    "Bus",
    "BusError",
    "Core",
    "CoreError",
    "CoreFault",
    "CoreModel",
    "CoreStats",
    "CoreTimeout",
    "FakeBus",
    "IdentityError",
    "JaxCore",
    "MMIOBus",
    "MissingDependency",
    "RecordingBus",
    "RegisterCore",
    "ReplayBus",
    "ReplayMismatch",
    "VerifyError",
]


def __getattr__(name: str):
    if name == "JaxCore":  # the module imports nothing heavy until a JaxCore is made
        from evoconn.host.jax_core import JaxCore

        return JaxCore
    raise AttributeError(f"module 'evoconn.host' has no attribute {name!r}")
