"""The fixed-point primitives: saturation, and the leaks ``decay``/``gain`` as exact shifts."""

from __future__ import annotations

import numpy as np


def sat(x: int, width: int) -> int:
    """Saturate ``x`` to a signed ``width``-bit integer."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return lo if x < lo else hi if x > hi else x


def decay(x: int, leak: tuple[int, int]) -> int:
    """``floor(alpha * x)`` for ``alpha = 1 - 2**-a - 2**-b``, exactly, by shifts.

    ``x - ceil((2**-a + 2**-b) x) = x + ((-(x << (b - a)) - x) >> b)``.
    """
    a, b = leak
    return x + ((-(x << (b - a)) - x) >> b)


def gain(x: int, leak: tuple[int, int]) -> int:
    """``floor((1 - alpha) * x) = floor((2**-a + 2**-b) x)``, exactly, by shifts."""
    a, b = leak
    return ((x << (b - a)) + x) >> b



def _np_sat(x: np.ndarray, width: int) -> np.ndarray:
    return np.clip(x, -(1 << (width - 1)), (1 << (width - 1)) - 1)


def _np_decay(x: np.ndarray, leak: tuple[int, int]) -> np.ndarray:
    a, b = leak
    return x + ((-(x << (b - a)) - x) >> b)


def _np_gain(x: np.ndarray, leak: tuple[int, int]) -> np.ndarray:
    a, b = leak
    return ((x << (b - a)) + x) >> b
