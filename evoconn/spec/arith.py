"""The fixed-point primitives: saturation, and the leaks ``decay``/``gain`` as exact shifts.

Each is written once and serves both vocabularies: the oracle's plain Python ints and the numpy
model's int64 arrays (elementwise). ``decay`` and ``gain`` are shifts, adds and one arithmetic
right shift (which floors), the same operators on both; ``sat`` clips.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: A Python int (the oracle) or an integer numpy array (the numpy model).
IntLike = TypeVar("IntLike", int, np.ndarray)


def sat(x: IntLike, width: int) -> IntLike:
    """Saturate ``x`` to a signed ``width``-bit integer (an int, or an array elementwise)."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if isinstance(x, np.ndarray):
        return np.clip(x, lo, hi)
    return lo if x < lo else hi if x > hi else x


def decay(x: IntLike, leak: tuple[int, int]) -> IntLike:
    """``floor(alpha * x)`` for ``alpha = 1 - 2**-a - 2**-b``, exactly, by shifts.

    ``x - ceil((2**-a + 2**-b) x) = x + ((-(x << (b - a)) - x) >> b)``.
    """
    a, b = leak
    return x + ((-(x << (b - a)) - x) >> b)


def gain(x: IntLike, leak: tuple[int, int]) -> IntLike:
    """``floor((1 - alpha) * x) = floor((2**-a + 2**-b) x)``, exactly, by shifts."""
    a, b = leak
    return ((x << (b - a)) + x) >> b


# The numpy model's former names for the same functions (imported by tests and older callers).
_np_sat = sat
_np_decay = decay
_np_gain = gain
