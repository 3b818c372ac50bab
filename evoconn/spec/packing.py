"""Mask packing: every mask window is rows of N bits, 32-bit little-endian words."""

from __future__ import annotations

from typing import Any

import numpy as np

from evoconn.spec.sizes import Spec


def pack_rows(rows: np.ndarray) -> np.ndarray:
    """Pack a (..., R, N) bool array into (..., R, ceil(N/32)) uint32 words.

    Bit ``j`` of a row is bit ``j % 32`` of word ``j // 32``; unused high bits are zero.
    """
    rows = np.asarray(rows).astype(bool)
    n = rows.shape[-1]
    words = (n + 31) // 32
    padded = np.zeros(rows.shape[:-1] + (words * 32,), dtype=bool)
    padded[..., :n] = rows
    bits = padded.reshape(rows.shape[:-1] + (words, 32)).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(32, dtype=np.uint64))
    return (bits * weights).sum(axis=-1).astype(np.uint32)


def unpack_rows(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_rows`: (..., R, W) uint32 words to (..., R, n) bool."""
    words = np.asarray(words, dtype=np.uint32)
    bits = (words[..., None] >> np.arange(32, dtype=np.uint32)) & np.uint32(1)
    return bits.reshape(words.shape[:-1] + (words.shape[-1] * 32,))[..., :n].astype(bool)


def mask_rows(spec: Spec, masks: dict[str, Any]) -> dict[str, np.ndarray]:
    """The three masks as the rows of N bits that the core stores.

    ``mask_in`` (2d, N) and ``mask_h`` (N, N) as they are; ``mask_out`` (N, a) transposed to
    (a, N), so that row k holds the neurons that feed output k.
    """
    return {
        "mask_in": np.asarray(masks["mask_in"], dtype=bool),
        "mask_h": np.asarray(masks["mask_h"], dtype=bool),
        "mask_out": np.asarray(masks["mask_out"], dtype=bool).T,
    }

