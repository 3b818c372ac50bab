"""The throughput report of ``evoconn rollout --report`` (FINN driver_base-style figures).

``throughput_report`` turns a rollout's :class:`~evoconn.host.rollout.RolloutTimer` and the
core's :class:`~evoconn.host.core.CoreStats` into runtime, rates, bus bytes, the clock and the
seconds per stage; ``format_report`` prints it. numpy-free.
"""

from __future__ import annotations

from typing import Any

from evoconn.host.core import CoreStats
from evoconn.spec import DEFAULT_LANES, CycleModel, Spec

__all__ = ["BOARD_MHZ", "format_report", "throughput_report"]

#: The board's PL clock that the projections and the report assume when none is read.
BOARD_MHZ = 100.0


def throughput_report(spec: Spec, backend: str, timer: Any, stats: CoreStats, runtime: float,
                      bus: Any = None, *, lanes: int | None = None,
                      clock_mhz: float | None = None) -> dict[str, Any]:
    """FINN driver_base-style figures: runtime, rates, bytes, clock, seconds per stage.

    ``lanes``: the core's LANES (as its register reads); default the bus's ``lanes`` attribute,
    else :data:`~evoconn.spec.DEFAULT_LANES`. ``clock_mhz``: the PL clock read on the board.
    """
    steps = max(timer.env_steps, 1)
    sec = dict(stats.seconds)
    core_split = sum(sec.values())
    if core_split == 0.0:  # a backend without a bus: the core's time is all compute
        sec["compute_wait"] = timer.core
    stages = {
        "mask upload": sec["mask_upload"],
        "observation write": sec["obs_write"],
        "compute wait": sec["compute_wait"],
        "output read": sec["output_read"],
        "state reset/read": sec["state_io"],
        "environment step": timer.env_step,
        "float boundary": timer.boundary,
    }
    stages["python overhead"] = max(0.0, runtime - sum(stages.values()))
    if lanes is None:
        lanes = getattr(bus, "lanes", DEFAULT_LANES) if bus is not None else DEFAULT_LANES
    try:
        cm = CycleModel(spec, lanes=lanes)
        cycles = cm.typical_env_step_cycles()
    except ValueError:
        cycles = None
    return {
        "runtime_s": runtime,
        "env_steps": timer.env_steps,
        "episodes": timer.episodes,
        "members": timer.members,
        "env_steps_per_s": timer.env_steps / runtime if runtime else None,
        "member_evaluations_per_s": timer.members / runtime if runtime else None,
        "bytes_to_core": stats.bytes_to_core,
        "bytes_from_core": stats.bytes_from_core,
        "bytes_to_core_per_s": stats.bytes_to_core / runtime if runtime else None,
        "bytes_from_core_per_s": stats.bytes_from_core / runtime if runtime else None,
        "bus_bytes_per_env_step": (stats.bytes_to_core + stats.bytes_from_core) / steps,
        "bus_transactions_per_env_step": stats.transactions / steps,
        "clock_mhz": clock_mhz,
        "model_cycles_per_env_step": cycles,
        "model_core_us_per_env_step_at_100mhz": cycles / BOARD_MHZ if cycles else None,
        "lanes": lanes,
        "stages_s": stages,
    }


def format_report(r: dict[str, Any]) -> str:
    def rate(x: float | None, unit: str) -> str:
        return "n/a" if x is None else f"{x:,.1f} {unit}"

    lines = [
        "throughput report",
        f"  runtime                : {r['runtime_s']:.3f} s",
        f"  env steps              : {r['env_steps']} ({rate(r['env_steps_per_s'], 'steps/s')})",
        f"  member evaluations     : {r['members']} ({rate(r['member_evaluations_per_s'], '/s')})",
        f"  bytes to core          : {r['bytes_to_core']:,} ({rate(r['bytes_to_core_per_s'], 'B/s')})",
        f"  bytes from core        : {r['bytes_from_core']:,} ({rate(r['bytes_from_core_per_s'], 'B/s')})",
        f"  bus per env step       : {r['bus_bytes_per_env_step']:.1f} B in "
        f"{r['bus_transactions_per_env_step']:.2f} transactions",
        "  clock                  : " + (f"{r['clock_mhz']:.1f} MHz" if r["clock_mhz"] else
                                          "n/a (not on a board)"),
    ]
    if r["model_cycles_per_env_step"]:
        lines.append(f"  cycle model            : {r['model_cycles_per_env_step']:.0f} cycles/env step at "
                     f"2% firing, lanes {r['lanes']} = {r['model_core_us_per_env_step_at_100mhz']:.1f} us "
                     "at 100 MHz")
    lines.append("  time per stage:")
    total = r["runtime_s"] or 1.0
    for k, v in r["stages_s"].items():
        lines.append(f"    {k:22s}: {v:9.4f} s  {100 * v / total:5.1f} %")
    return "\n".join(lines)
