"""The training library's errors (no CLI types here: ``evoconn train`` turns them into one line
and exit code 2, with these messages). Imports nothing, so any part of the stack can raise them."""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "RunError", "TrainError"]


class TrainError(Exception):
    """Any refusal of the training library that a user can fix."""


class ConfigError(TrainError, ValueError):
    """A config that cannot run (unknown env, population too small, ...)."""


class RunError(TrainError):
    """A run folder that cannot be started or resumed (already holds a run, not writable, ...)."""


class CheckpointError(RunError):
    """A checkpoint that cannot be read or does not fit the config resuming it."""
