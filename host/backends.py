"""The Core behind a backend name: ``fake``, ``jax``, ``replay``, ``pynq`` (``rtl`` runs in a session).

``open_backend(name, spec, ...)`` returns ``(core, bus)``: the :class:`~evoconn.host.core.Core`
the rollout drives and the bus under it (``None`` for ``jax``), wrapped in a
:class:`~evoconn.host.bus.RecordingBus` when ``record`` names a file. The ``rtl`` backend runs the
whole job inside the simulator's process (:class:`~evoconn.host.rtl.RtlSession`), so it has no
core here. Errors are :class:`~evoconn.host.core.CoreError` (one line each).
"""

from __future__ import annotations

from typing import Any

from evoconn.host.core import CoreError, RegisterCore
from evoconn.spec import Spec

__all__ = ["BACKENDS", "BackendError", "core_lanes", "open_backend"]

#: Backend names, as ``--backend`` takes them.
BACKENDS = ("fake", "jax", "pynq", "rtl", "replay")


class BackendError(CoreError):
    """Options that do not fit the backend (e.g. ``--record`` on jax)."""


def core_lanes(spec: Spec, lanes: int | None = None) -> int:
    """A fake or RTL core's lanes: ``lanes`` as given, which must divide N (the spec's cycle model
    decides), or with ``None`` the default for this N (:func:`~evoconn.host.bus.default_lanes`)."""
    from evoconn.host.bus import default_lanes
    from evoconn.spec import CycleModel, SpecError

    if lanes is None:
        return default_lanes(spec)
    try:
        CycleModel(spec, lanes=lanes)
    except SpecError as e:
        raise BackendError(f"--lanes: {e}") from None
    return lanes


def open_backend(backend: str, spec: Spec, *, lanes: int | None = None, replay: str | None = None,
                 record: str | None = None, overlay: str | None = None, ip: str | None = None,
                 verify: bool = False, timeout: float = 1.0) -> tuple[Any, Any]:
    """The Core for ``backend`` and the bus under it (None for jax)."""
    from evoconn.host.bus import FakeBus, RecordingBus, ReplayBus

    if replay and backend != "replay":
        raise BackendError("--replay needs --backend replay")
    if backend == "jax":
        if record:
            raise BackendError("--record records bus traffic; the jax backend has no bus")
        from evoconn.host.jax_core import JaxCore

        return JaxCore(spec), None
    if backend == "rtl":
        raise BackendError("the rtl backend runs the whole rollout in the simulator: use an RtlSession")
    if backend == "fake":
        bus: Any = FakeBus(spec, lanes=core_lanes(spec, lanes))
    elif backend == "replay":
        if not replay:
            raise BackendError("--backend replay needs --replay FILE (made with --record)")
        try:
            bus = ReplayBus(replay)
        except (OSError, ValueError) as e:
            raise BackendError(f"cannot read recording {replay}: {e}") from None
    elif backend == "pynq":
        if not overlay:
            raise BackendError("--backend pynq needs --overlay PATH.bit")
        from evoconn.host.overlay import open_board

        bus = open_board(overlay, ip).bus()
    else:
        raise BackendError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    if record:
        bus = RecordingBus(bus, record, spec_hash=spec.hash, backend=backend)
    try:
        return RegisterCore(bus, spec, verify=verify, timeout=timeout), bus
    except BaseException:
        if hasattr(bus, "close"):
            bus.close()
        raise
