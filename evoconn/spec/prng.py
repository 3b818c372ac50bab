"""The counter-based PRNG and the integer sampling rule, defined once (numpy only).

Every random choice that the trainer, the host and (later) the core must agree on is a pure
function of a 64-bit key and an index, computed by Threefry-2x32 with 20 rounds (Salmon et al.
2011, "Parallel random numbers: as easy as 1, 2, 3"), the hash behind JAX's default PRNG. numpy
computes it here; JAX calls its own ``jax.extend.random.threefry_2x32`` (evoconn.training.ec), and
the tests prove the two equal bit for bit. docs/spec.md ("Random numbers and mask sampling")
states the same rules for an independent implementation.

- A *key* is two uint32 words ``(k0, k1)``; :func:`seed_key`, :func:`fold_in` and :func:`split`
  reproduce JAX's ``PRNGKey(seed)``, ``fold_in`` and ``split`` so that a board derives the same
  generation keys as the trainer.
- A generation key gives each member ``i`` its own key (:func:`member_keys`): the member's *seed*.
- A member key gives one 32-bit word per mask entry (:func:`mask_words`): stream ``s`` (the mask's
  position among the mask names sorted, :func:`mask_streams`), entry ``j`` (row-major flat index)
  is word ``j & 1`` of the block at counter ``(j >> 1, s)``.
- A mask bit is ``(word >> (32 - b)) < rho_q`` with ``rho_q = rint(rho * 2**b)`` (:func:`sample_mask`),
  so it is 1 with probability exactly ``rho_q / 2**b``. b = :data:`RHO_BITS`.
- The initial membrane of neuron ``n`` is ``word >> (32 - F)`` of stream :data:`STREAM_V0`
  (:func:`initial_membrane`): uniform on ``[0, 2**F)``, i.e. v in [0, 1).

Python 3.10 and numpy 1.26 compatible: this runs on the board.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

__all__ = [
    "KEY_PARITY",
    "RHO_BITS",
    "ROTATIONS",
    "STREAM_MEMBER",
    "STREAM_V0",
    "fold_in",
    "initial_membrane",
    "mask_streams",
    "mask_words",
    "member_keys",
    "masks_from_rho_words",
    "quantize_rho",
    "rho_depth",
    "rho_layout",
    "rho_words",
    "sample_mask",
    "sample_mask_q",
    "sample_masks",
    "seed_key",
    "split",
    "threefry2x32",
]

#: Bits of the quantized connection probability. rho is clipped to [1e-3, 1 - 1e-3]; with b >= 10
#: every clipped rho has 1 <= rho_q <= 2**b - 1 (never always-off, never always-on). 12 costs the
#: same block RAM as 10 on a 36-bit-wide BRAM port (three per word) and is 4x finer; see
#: bench/results/rho_bits.md for the learning comparison behind the choice.
RHO_BITS = 12

#: Threefry-2x32 rotation constants (Random123's R_32x2), used in the order 0..3, 4..7, 0..3, ...
ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
#: The key schedule's parity constant: k2 = k0 ^ k1 ^ KEY_PARITY.
KEY_PARITY = 0x1BD11BDA
#: Counter word 1 of the initial-membrane words.
STREAM_V0 = 0x100
#: Counter word 1 of the member keys drawn from a generation key.
STREAM_MEMBER = 0x200

_U32 = np.uint32

if TYPE_CHECKING:  # the spec's sizes import nothing from here; only the type is needed
    from evoconn.spec.sizes import Spec


def _u32(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.uint32:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"threefry words must be integers, got {a.dtype}")
    if a.size and (int(a.min()) < 0 or int(a.max()) > 0xFFFFFFFF):
        raise ValueError("threefry words must lie in [0, 2**32)")
    return a.astype(np.uint32)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def threefry2x32(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32-20 of counter ``(x0, x1)`` under key ``(k0, k1)``; uint32 arrays that
    broadcast against each other. Returns the two output words ``(y0, y1)``.

    ``jax.extend.random.threefry_2x32(key=[k0, k1], count=concat([x0, x1]))`` returns
    ``concat([y0, y1])`` (it splits its flat count into halves: first half word 0).
    """
    k0, k1, x0, x1 = np.broadcast_arrays(_u32(k0), _u32(k1), _u32(x0), _u32(x1))
    ks = (k0, k1, k0 ^ k1 ^ _U32(KEY_PARITY))
    with np.errstate(over="ignore"):
        x0 = x0 + ks[0]
        x1 = x1 + ks[1]
        for group in range(5):
            for r in ROTATIONS[4 * (group % 2):4 * (group % 2) + 4]:
                x0 = x0 + x1
                x1 = _rotl(x1, r)
                x1 = x1 ^ x0
            x0 = x0 + ks[(group + 1) % 3]
            x1 = x1 + ks[(group + 2) % 3] + _U32(group + 1)
    return x0, x1


def seed_key(seed: int) -> np.ndarray:
    """The key of an integer seed in [0, 2**64): ``(seed >> 32, seed & 0xFFFFFFFF)``, which is
    ``jax.random.PRNGKey(seed)`` for seed in [0, 2**31)."""
    seed = int(seed)
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must lie in [0, 2**64), got {seed}")
    return np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)


def fold_in(key, data: int) -> np.ndarray:
    """``jax.random.fold_in(key, data)`` for a raw uint32 key: the block at counter ``(0, data)``."""
    k = _u32(key)
    y0, y1 = threefry2x32(k[0], k[1], 0, int(data) & 0xFFFFFFFF)
    return np.array([y0, y1], np.uint32)


def split(key, num: int = 2) -> np.ndarray:
    """``jax.random.split(key, num)`` for a raw uint32 key: key ``i`` is the block at counter
    ``(0, i)`` (JAX's ``jax_threefry_partitionable`` rule, its default since JAX 0.5). Returns
    (num, 2) uint32."""
    k = _u32(key)
    y0, y1 = threefry2x32(k[0], k[1], np.zeros(int(num), np.uint32), np.arange(int(num), dtype=np.uint32))
    return np.stack([y0, y1], axis=-1)


def member_keys(key, n: int) -> np.ndarray:
    """The keys (seeds) of members 0..n-1 drawn from a generation ``key``: member ``i`` is the
    block at counter ``(i, STREAM_MEMBER)``. Returns (n, 2) uint32."""
    k = _u32(key)
    y0, y1 = threefry2x32(k[0], k[1], np.arange(int(n), dtype=np.uint32), STREAM_MEMBER)
    return np.stack([y0, y1], axis=-1)


def _words(keys: np.ndarray, stream: int, size: int) -> np.ndarray:
    """``size`` words of ``stream`` for each key of ``keys`` (..., 2): word ``j`` is output word
    ``j & 1`` of the block at counter ``(j >> 1, stream)``. Returns (..., size) uint32."""
    keys = _u32(keys)
    blocks = (size + 1) // 2
    y0, y1 = threefry2x32(keys[..., 0, None], keys[..., 1, None], np.arange(blocks, dtype=np.uint32),
                          int(stream))
    return np.stack([y0, y1], axis=-1).reshape(*keys.shape[:-1], 2 * blocks)[..., :size]


def mask_streams(names: Iterable[str]) -> dict[str, int]:
    """The stream of each mask: its index among the names in sorted order (for the core's masks:
    mask_h 0, mask_in 1, mask_out 2)."""
    streams = {k: i for i, k in enumerate(sorted(names))}
    if len(streams) > STREAM_V0:  # streams 0 .. STREAM_V0 - 1 (STREAM_V0 is the membrane's)
        raise ValueError(f"at most {STREAM_V0} masks, got {len(streams)}")
    return streams


def mask_words(keys, stream: int, shape: Sequence[int]) -> np.ndarray:
    """The random words of one mask of ``shape`` (row-major) per key: (..., *shape) uint32."""
    keys = _u32(keys)
    size = int(np.prod(shape, dtype=np.int64))
    return _words(keys, stream, size).reshape(*keys.shape[:-1], *shape)


def quantize_rho(rho, bits: int = RHO_BITS) -> np.ndarray:
    """``rint(rho * 2**bits)`` of rho as float32 (round half to even), as uint32 in [0, 2**bits]."""
    if not 1 <= bits <= 31:
        raise ValueError(f"bits must lie in [1, 31], got {bits}")
    r = np.asarray(rho, np.float32)
    if r.size and not (np.all(r >= 0) and np.all(r <= 1)):
        raise ValueError("rho must lie in [0, 1]")
    return np.rint(r * np.float32(1 << bits)).astype(np.uint32)


def sample_mask(rho, keys, stream: int, bits: int = RHO_BITS) -> np.ndarray:
    """The mask bits ``(word >> (32 - bits)) < rho_q`` of one mask for each key: (..., *rho.shape)."""
    return sample_mask_q(quantize_rho(rho, bits), keys, stream, bits)


def sample_mask_q(rho_q, keys, stream: int, bits: int = RHO_BITS) -> np.ndarray:
    """:func:`sample_mask` from an already quantized ``rho_q`` (integers in [0, 2**bits])."""
    rq = _u32(rho_q)
    return (mask_words(keys, stream, rq.shape) >> _U32(32 - bits)) < rq


# --- the rho memory of the core (CONTROL.SAMPLE) ------------------------------------------------

def rho_layout(spec: Spec) -> dict[str, int]:
    """Word offset of each mask's rho_q in the core's RHO window, plus ``"depth"`` (the total).

    The masks follow in stream order (:func:`mask_streams`: mask_h, mask_in, mask_out), each in
    the paper's orientation (``spec.mask_shapes``), row-major: connection ``j`` (flat index) of
    mask ``m`` is word ``rho_layout(spec)[m] + j``.
    """
    shapes = spec.mask_shapes
    streams = mask_streams(shapes)
    base, out = 0, {}
    for name in sorted(shapes, key=streams.__getitem__):
        out[name] = base
        base += int(np.prod(shapes[name]))
    out["depth"] = base
    return out


def rho_depth(spec: Spec) -> int:
    """Words of the RHO window: one per connection of the three masks."""
    return rho_layout(spec)["depth"]


def rho_words(spec: Spec, rho: Mapping[str, np.ndarray], bits: int = RHO_BITS) -> np.ndarray:
    """The RHO window's words for the probabilities ``rho`` (name -> array of ``spec.mask_shapes``):
    ``rho_q = rint(rho * 2**bits)`` in :func:`rho_layout` order, uint32.

    Refuses a rho_q of ``2**bits`` (rho = 1.0 and anything within half a step of it), which does
    not fit in ``bits`` bits: EC clips rho to [1e-3, 1 - 1e-3]; a deterministic mask is written to
    the mask windows directly.
    """
    shapes = spec.mask_shapes
    missing = sorted(set(shapes) - set(rho))
    extra = sorted(set(rho) - set(shapes))
    if missing or extra:
        raise ValueError(f"rho needs exactly the masks {sorted(shapes)}; missing {missing}, unexpected {extra}")
    lay = rho_layout(spec)
    out = np.zeros(lay["depth"], np.uint32)
    for name, shape in shapes.items():
        r = np.asarray(rho[name])
        if r.shape != tuple(shape):
            raise ValueError(f"rho[{name!r}] has shape {r.shape}, the spec needs {tuple(shape)}")
        q = quantize_rho(r, bits).ravel()
        if q.size and int(q.max()) >= 1 << bits:
            raise ValueError(f"rho[{name!r}] rounds to {1 << bits} / 2**{bits} somewhere (rho near 1.0), "
                             f"which {bits} bits cannot hold: clip rho to [1e-3, 1 - 1e-3] as EC does, or "
                             "write that deterministic mask to the mask windows instead")
        out[lay[name]:lay[name] + q.size] = q
    return out


def masks_from_rho_words(spec: Spec, words, key, bits: int = RHO_BITS) -> dict[str, np.ndarray]:
    """The masks CONTROL.SAMPLE writes: each mask of ``spec`` sampled with ``key`` from the rho_q
    that the RHO window ``words`` hold (only the low ``bits`` bits of each word count), in the
    paper's orientation (mask_out (N, a))."""
    w = _u32(np.asarray(words)) & _U32((1 << bits) - 1)
    lay = rho_layout(spec)
    if w.shape != (lay["depth"],):
        raise ValueError(f"the RHO window has {lay['depth']} words, got shape {w.shape}")
    shapes = spec.mask_shapes
    streams = mask_streams(shapes)
    out = {}
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = sample_mask_q(w[lay[name]:lay[name] + size].reshape(shape), key, streams[name], bits)
    return out


def sample_masks(rho: Mapping[str, np.ndarray], keys, bits: int = RHO_BITS) -> dict[str, np.ndarray]:
    """Every mask of ``rho`` (a dict name -> probabilities) for each key of ``keys`` (..., 2)."""
    streams = mask_streams(rho)
    return {k: sample_mask(rho[k], keys, streams[k], bits) for k in rho}


def initial_membrane(keys, n_neurons: int, state_frac: int) -> np.ndarray:
    """v0 of each key: ``word >> (32 - F)`` of stream STREAM_V0, in [0, 2**F): (..., n) int64."""
    if not 1 <= state_frac <= 31:
        raise ValueError(f"state_frac must lie in [1, 31], got {state_frac}")
    w = _words(_u32(keys), STREAM_V0, int(n_neurons))
    return (w >> _U32(32 - state_frac)).astype(np.int64)
