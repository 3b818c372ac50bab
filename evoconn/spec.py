"""The integer spec of the evoconn RSNN core: the single source of truth.

Everything that the trainer, the RTL, the cocotb proof and the host must agree on is defined here
and nowhere else: the sizes, the fixed-point formats, the leaks as shifts, the rounding and
saturation rules, the float boundary, the register map and the cycle model.

This module imports only the Python standard library and numpy (1.26 or 2.x), so it runs on a
PYNQ-Z2 (32-bit ARM, no JAX).

The network (ConnSNN of Wang et al. 2023) in integer form, for one env step with quantized input
``xq`` (``d`` signed ints, already scaled by ``R_in`` on the host)::

    I_in[j] = sat_W( sum_i xq[i] * (M_in[i, j] - M_in[d + i, j]) )       # exact sum, one saturation
    repeat K times:
        c[j]    = sum_i sgn[i] * s[i] * M_h[i, j]                         # s from previous sub-step
        I_syn[j]= sat_W( decay_syn(I_syn[j]) + c[j] * 2**rec_shift )
        u[j]    = sat_W( I_syn[j] + I_in[j] )
        v[j]    = sat_W( v[j] + gain_mem(u[j] - v[j]) )
        s[j]    = v[j] > 2**F                                            # strict threshold 1.0
        v[j]    = 0 where s[j]                                           # hard reset
        r[j]    = sat_R( r[j] + gain_out(sgn[j] * s[j] * 2**(F_R + 1) - r[j]) )
    out[k] = sum_j r[j] * M_out[j, k]                                     # exact, int32

with ``decay(x) = floor(alpha * x)`` and ``gain(x) = floor((1 - alpha) * x)`` for
``alpha = 1 - 2**-a - 2**-b``, both computed exactly by shifts and one arithmetic right shift
(which floors). ``sgn`` is +1 on excitatory neurons (index < n_exc) and -1 on inhibitory ones.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ARITHMETIC_VERSION",
    "CORE_ID",
    "CORE_VERSION",
    "DEFAULT_LANES",
    "Access",
    "Control",
    "CycleModel",
    "Field",
    "Register",
    "RegisterMap",
    "SpecError",
    "Spec",
    "State",
    "Status",
    "Window",
    "oracle_env_step",
    "oracle_init_state",
    "numpy_env_step",
    "pack_rows",
    "unpack_rows",
]

#: Bumped whenever the meaning of any field of :class:`Spec` changes. Part of the spec hash.
ARITHMETIC_VERSION = "evoconn-int-1"
#: The core's ID register: ASCII "EVOC".
CORE_ID = 0x45564F43
#: The core's VERSION register: major << 16 | minor. Major changes break the register map.
CORE_VERSION = (1 << 16) | 0
#: Neuron updates per clock when none is named: an implementation parameter, not part of the hash.
DEFAULT_LANES = 16


class SpecError(ValueError):
    """A spec was asked for that cannot exist (bad size, width or shift)."""


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


@dataclasses.dataclass(frozen=True)
class Spec:
    """Sizes and integer arithmetic of one RSNN core.

    Parameters
    ----------
    n_neurons:
        N, the number of neurons (at least 8).
    obs_dim:
        d, the observation size. The network sees ``[x, -x]``, so the input mask has 2d rows.
    act_dim:
        a, the action size.
    n_exc:
        Excitatory neurons (indices ``0 .. n_exc-1``); default ``N // 2``.
    substeps:
        K, LIF sub-steps per env step (33 in the paper: 16.6 ms at dt = 0.5 ms).
    state_width, state_frac:
        Width W (signed) and fractional bits F of membrane v, synaptic current I_syn and input
        current I_in. The threshold 1.0 is ``2**F``.
    obs_width:
        Width of the quantized observation (signed), in the same units as v (F fractional bits),
        already scaled by R_in on the host.
    rate_width, rate_frac:
        Width (signed) and fractional bits of the output rate trace r, whose float value lies in
        [-2, 2] (s / dt with dt = 0.5 ms).
    syn_leak, mem_leak, out_leak:
        ``(a, b)`` with ``alpha = 1 - 2**-a - 2**-b`` for the synaptic, membrane and output leaks.
    rec_weight_log2:
        R = 2**rec_weight_log2, the recurrent magnitude. The paper's R is 4 / sqrt(N) (0.25 at
        N = 256, 0.5 at N = 64); the default is that value's nearest power of two,
        ``floor(2 - log2(N) / 2 + 0.5)``, exact whenever N is a power of 4.
    out_width:
        Width of the output sums (signed, exact: checked to be wide enough).
    """

    n_neurons: int = 256
    obs_dim: int = 11
    act_dim: int = 3
    n_exc: int | None = None
    substeps: int = 33
    state_width: int = 18
    state_frac: int = 10
    obs_width: int = 16
    rate_width: int = 18
    rate_frac: int = 15
    syn_leak: tuple[int, int] = (4, 5)
    mem_leak: tuple[int, int] = (5, 6)
    out_leak: tuple[int, int] = (5, 6)
    rec_weight_log2: int | None = None
    out_width: int = 32

    def __post_init__(self) -> None:
        if self.n_exc is None and isinstance(self.n_neurons, int):
            object.__setattr__(self, "n_exc", self.n_neurons // 2)
        if self.rec_weight_log2 is None and isinstance(self.n_neurons, int) and self.n_neurons > 0:
            object.__setattr__(self, "rec_weight_log2", math.floor(2 - math.log2(self.n_neurons) / 2 + 0.5))
        for name in ("syn_leak", "mem_leak", "out_leak"):
            object.__setattr__(self, name, tuple(int(x) for x in getattr(self, name)))
        self._validate()

    def _validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise SpecError(msg)

        for name in ("n_neurons", "obs_dim", "act_dim", "n_exc", "substeps", "rec_weight_log2"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool), f"{name} must be an int, got {v!r}")
        need(self.n_neurons >= 8, f"n_neurons must be at least 8, got {self.n_neurons}")
        need(self.n_neurons <= 4096, f"n_neurons must be at most 4096, got {self.n_neurons}")
        need(self.obs_dim >= 1, f"obs_dim must be at least 1, got {self.obs_dim}")
        need(self.act_dim >= 1, f"act_dim must be at least 1, got {self.act_dim}")
        need(
            0 <= self.n_exc <= self.n_neurons,
            f"n_exc must lie in [0, n_neurons={self.n_neurons}], got {self.n_exc}",
        )
        need(1 <= self.substeps <= 1024, f"substeps must lie in [1, 1024], got {self.substeps}")
        need(4 <= self.state_width <= 32, f"state_width must lie in [4, 32], got {self.state_width}")
        need(
            1 <= self.state_frac <= self.state_width - 2,
            f"state_frac must lie in [1, state_width-2={self.state_width - 2}] so that the "
            f"threshold 2**state_frac is representable, got {self.state_frac}",
        )
        need(2 <= self.obs_width <= 32, f"obs_width must lie in [2, 32], got {self.obs_width}")
        need(
            self.rate_frac + 2 <= self.rate_width - 1,
            f"rate_width={self.rate_width} must hold +-2**(rate_frac+1) (rate_frac={self.rate_frac})",
        )
        for name in ("syn_leak", "mem_leak", "out_leak"):
            a, b = getattr(self, name)
            need(1 <= a < b <= 16, f"{name} must be (a, b) with 1 <= a < b <= 16, got {(a, b)}")
        need(
            0 <= self.state_frac + self.rec_weight_log2 < self.state_width,
            f"rec_weight_log2={self.rec_weight_log2} gives a shift outside [0, state_width)",
        )
        need(
            self.rate_width + _clog2(self.n_neurons + 1) + 1 <= self.out_width <= 32,
            f"out_width={self.out_width} cannot hold the exact output sum of {self.n_neurons} "
            f"rates of {self.rate_width} bits (and must be at most 32)",
        )

    # --- derived sizes --------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        """Rows of the input mask: 2d (the network sees ``[x, -x]``)."""
        return 2 * self.obs_dim

    @property
    def row_words(self) -> int:
        """32-bit words per mask row of N bits."""
        return (self.n_neurons + 31) // 32

    @property
    def mask_bits(self) -> int:
        """Mask bits per member: 2d*N + N*N + N*a (hopper, N=256: 71,936)."""
        n = self.n_neurons
        return self.n_inputs * n + n * n + n * self.act_dim

    @property
    def mask_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes of the three boolean masks, in the paper's orientation."""
        n = self.n_neurons
        return {"mask_in": (self.n_inputs, n), "mask_h": (n, n), "mask_out": (n, self.act_dim)}

    @property
    def threshold(self) -> int:
        """The firing threshold (float 1.0) in state units."""
        return 1 << self.state_frac

    @property
    def rec_shift(self) -> int:
        """I_rec = c << rec_shift, with c the signed count of arriving spikes."""
        return self.state_frac + self.rec_weight_log2

    @property
    def rate_target(self) -> int:
        """The rate trace's input for one spike: s / dt = 2.0 in rate units."""
        return 1 << (self.rate_frac + 1)

    @property
    def count_width(self) -> int:
        """Signed width of the exact spike count c in [-N, N]."""
        return _clog2(self.n_neurons + 1) + 1

    @property
    def in_sum_width(self) -> int:
        """Signed width of the exact input sum before its saturation to the state width."""
        return self.obs_width + _clog2(self.obs_dim + 1) + 1

    def state_limits(self) -> tuple[int, int]:
        return -(1 << (self.state_width - 1)), (1 << (self.state_width - 1)) - 1

    def rate_limits(self) -> tuple[int, int]:
        return -(1 << (self.rate_width - 1)), (1 << (self.rate_width - 1)) - 1

    def obs_limits(self) -> tuple[int, int]:
        return -(1 << (self.obs_width - 1)), (1 << (self.obs_width - 1)) - 1

    def sign(self) -> np.ndarray:
        """Dale's law: +1 for excitatory neurons, -1 for inhibitory ones (int8, shape (N,))."""
        s = -np.ones(self.n_neurons, dtype=np.int8)
        s[: self.n_exc] = 1
        return s

    # --- the float boundary (done once, on the host) ---------------------------------------
    @property
    def r_in(self) -> float:
        """Input magnitude R_in = 2 / sqrt(d), folded into the observation quantization."""
        return 2.0 / math.sqrt(self.obs_dim)

    @property
    def r_out(self) -> float:
        """Output magnitude R_out = 5 / sqrt(N / 2), applied by the host to the output sums."""
        return 5.0 / math.sqrt(0.5 * self.n_neurons)

    def quantize_obs(self, x: Any) -> np.ndarray:
        """Normalized float observation(s) (..., d) to the core's signed inputs (int32).

        ``xq = clip(rint(float32(x) * float32(R_in * 2**F)), -2**(obs_width-1), 2**(obs_width-1)-1)``
        in float32, rounding half to even: one IEEE multiply and one rint, so numpy and XLA give
        the same integers. Raises :class:`ValueError` on NaN or inf, naming the first bad position.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1:] != (self.obs_dim,):
            raise ValueError(f"observation must have last dimension {self.obs_dim}, got shape {x.shape}")
        bad = ~np.isfinite(x)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"observation is not finite at index {where}: {x[where]!r}")
        lo, hi = self.obs_limits()
        y = np.rint(x * self.obs_scale)
        return np.clip(y, lo, hi).astype(np.int32)

    @property
    def obs_scale(self) -> np.float32:
        """R_in * 2**F as float32: the one factor of the observation quantization."""
        return np.float32(self.r_in * self.threshold)

    def dequantize_obs(self, xq: Any) -> np.ndarray:
        """The float observation that a quantized input stands for (inverse of the scaling)."""
        return np.asarray(xq, dtype=np.float64) / (self.r_in * self.threshold)

    def action_from_output(self, out: Any) -> np.ndarray:
        """The core's integer output sums (..., a) to actions in [-1, 1] (float32)."""
        out = np.asarray(out, dtype=np.float64)
        return np.clip(out * (self.r_out / (1 << self.rate_frac)), -1.0, 1.0).astype(np.float32)

    # --- identity --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["syn_leak"] = list(self.syn_leak)
        d["mem_leak"] = list(self.mem_leak)
        d["out_leak"] = list(self.out_leak)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Spec:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise SpecError(f"unknown spec fields: {sorted(unknown)}")
        kw = dict(d)
        for name in ("syn_leak", "mem_leak", "out_leak"):
            if name in kw:
                kw[name] = tuple(kw[name])
        return cls(**kw)

    def canonical_json(self) -> str:
        """The canonical serialization the hash is taken over (sorted keys, no spaces)."""
        payload = {"arithmetic": ARITHMETIC_VERSION, "core_version": CORE_VERSION, "spec": self.to_dict()}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def hash32(self) -> int:
        """The first 32 bits of :attr:`hash`: the value of the SPEC_HASH register."""
        return int(self.hash[:8], 16)

    def diff(self, other: Spec) -> dict[str, tuple[Any, Any]]:
        """Fields that differ between two specs, as ``{name: (self, other)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}

    def register_map(self, lanes: int = DEFAULT_LANES) -> RegisterMap:
        return RegisterMap(self, lanes)


# =====================================================================================
# Integer helpers (plain Python ints: the oracle's vocabulary)
# =====================================================================================


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


# =====================================================================================
# The scalar oracle
# =====================================================================================


@dataclasses.dataclass
class State:
    """Neuron state of one network, carried across env steps (and episode resets).

    ``v``, ``isyn``, ``rate`` are signed ints in state / rate units; ``spike`` is the 0/1 spike of
    the last sub-step (its sign follows from Dale's law).
    """

    v: list[int]
    isyn: list[int]
    rate: list[int]
    spike: list[int]

    def copy(self) -> State:
        return State(list(self.v), list(self.isyn), list(self.rate), list(self.spike))

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "v": np.asarray(self.v, dtype=np.int32),
            "isyn": np.asarray(self.isyn, dtype=np.int32),
            "rate": np.asarray(self.rate, dtype=np.int32),
            "spike": np.asarray(self.spike, dtype=np.int8),
        }


def oracle_init_state(spec: Spec, v0: Sequence[int] | None = None) -> State:
    """Zero state, or zero state with membrane ``v0``."""
    n = spec.n_neurons
    v = [0] * n if v0 is None else [int(x) for x in v0]
    if len(v) != n:
        raise ValueError(f"v0 must have {n} entries, got {len(v)}")
    return State(v=v, isyn=[0] * n, rate=[0] * n, spike=[0] * n)


def oracle_env_step(
    spec: Spec,
    masks: dict[str, Any],
    state: State,
    xq: Sequence[int],
    spikes_per_substep: list[int] | None = None,
) -> tuple[State, list[int]]:
    """One env step of one network, with plain Python ints: slow and obviously right.

    Returns the new state and the ``a`` output sums. If ``spikes_per_substep`` is a list, the
    number of neurons that fired in each sub-step is appended to it (for the cycle model).
    """
    n, d, a = spec.n_neurons, spec.obs_dim, spec.act_dim
    m_in = [[bool(b) for b in row] for row in np.asarray(masks["mask_in"]).tolist()]
    m_h = [[bool(b) for b in row] for row in np.asarray(masks["mask_h"]).tolist()]
    m_out = [[bool(b) for b in row] for row in np.asarray(masks["mask_out"]).tolist()]
    xq = [int(x) for x in xq]
    lo, hi = spec.obs_limits()
    if len(xq) != d or any(not lo <= x <= hi for x in xq):
        raise ValueError(f"xq must be {d} ints in [{lo}, {hi}], got {xq}")
    sgn = [1 if j < spec.n_exc else -1 for j in range(n)]
    W, RW = spec.state_width, spec.rate_width
    s = state.copy()

    i_in = []
    for j in range(n):
        acc = 0
        for i in range(d):
            acc += xq[i] * (int(m_in[i][j]) - int(m_in[d + i][j]))
        i_in.append(sat(acc, W))

    for _ in range(spec.substeps):
        count = [0] * n
        for i in range(n):
            if s.spike[i]:
                for j in range(n):
                    if m_h[i][j]:
                        count[j] += sgn[i]
        fired = 0
        for j in range(n):
            s.isyn[j] = sat(decay(s.isyn[j], spec.syn_leak) + (count[j] << spec.rec_shift), W)
            u = sat(s.isyn[j] + i_in[j], W)
            v = sat(s.v[j] + gain(u - s.v[j], spec.mem_leak), W)
            z = 1 if v > spec.threshold else 0
            s.v[j] = 0 if z else v
            s.spike[j] = z
            fired += z
            target = sgn[j] * z * spec.rate_target
            s.rate[j] = sat(s.rate[j] + gain(target - s.rate[j], spec.out_leak), RW)
        if spikes_per_substep is not None:
            spikes_per_substep.append(fired)

    out = []
    for k in range(a):
        out.append(sum(s.rate[j] for j in range(n) if m_out[j][k]))
    return s, out


# =====================================================================================
# A vectorized numpy model (batch of networks): the fake bus's backing model on the board
# =====================================================================================


def _np_sat(x: np.ndarray, width: int) -> np.ndarray:
    return np.clip(x, -(1 << (width - 1)), (1 << (width - 1)) - 1)


def _np_decay(x: np.ndarray, leak: tuple[int, int]) -> np.ndarray:
    a, b = leak
    return x + ((-(x << (b - a)) - x) >> b)


def _np_gain(x: np.ndarray, leak: tuple[int, int]) -> np.ndarray:
    a, b = leak
    return ((x << (b - a)) + x) >> b


def numpy_env_step(
    spec: Spec, masks: dict[str, np.ndarray], state: dict[str, np.ndarray], xq: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One env step for a batch of B networks, in int64 numpy, equal to the oracle bit for bit.

    ``masks`` hold (B, ...) bool arrays, ``state`` holds (B, N) arrays ``v, isyn, rate, spike``,
    ``xq`` is (B, d). Returns ``(new_state, out (B, a) int64, spikes per sub-step (B, K))``.
    """
    d = spec.obs_dim
    W, RW = spec.state_width, spec.rate_width
    sgn = spec.sign().astype(np.int64)
    m_in = np.asarray(masks["mask_in"]).astype(np.int64)
    coef = m_in[:, :d, :] - m_in[:, d:, :]
    m_h = np.asarray(masks["mask_h"]).astype(np.int64)
    m_out = np.asarray(masks["mask_out"]).astype(np.int64)
    xq = np.asarray(xq, dtype=np.int64)
    i_in = _np_sat(np.einsum("bi,bij->bj", xq, coef), W)
    v = np.asarray(state["v"], dtype=np.int64).copy()
    isyn = np.asarray(state["isyn"], dtype=np.int64).copy()
    rate = np.asarray(state["rate"], dtype=np.int64).copy()
    spike = np.asarray(state["spike"], dtype=np.int64).copy()
    fired = []
    for _ in range(spec.substeps):
        count = np.einsum("bi,bij->bj", spike * sgn, m_h)
        isyn = _np_sat(_np_decay(isyn, spec.syn_leak) + (count << spec.rec_shift), W)
        u = _np_sat(isyn + i_in, W)
        v = _np_sat(v + _np_gain(u - v, spec.mem_leak), W)
        spike = (v > spec.threshold).astype(np.int64)
        v = np.where(spike == 1, 0, v)
        rate = _np_sat(rate + _np_gain(sgn * spike * spec.rate_target - rate, spec.out_leak), RW)
        fired.append(spike.sum(axis=1))
    out = np.einsum("bj,bjk->bk", rate, m_out)
    new = {"v": v, "isyn": isyn, "rate": rate, "spike": spike.astype(np.int8)}
    return new, out, np.stack(fired, axis=1)


# =====================================================================================
# Mask packing: every mask window is rows of N bits, 32-bit little-endian words
# =====================================================================================


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


# =====================================================================================
# The register map
# =====================================================================================


class Access(str, enum.Enum):
    RO = "ro"
    WO = "wo"
    RW = "rw"


class Status(enum.IntFlag):
    """STATUS register bits."""

    BUSY = 1 << 0  #: an env step is running
    DONE = 1 << 1  #: the last env step finished; cleared by START
    ERROR = 1 << 2  #: sticky; cleared by CONTROL.CLEAR_ERROR
    LOADED = 1 << 3  #: a mask word was written since the last hardware reset
    ERR_BUSY = 1 << 8  #: a write (window or START) arrived while busy and was dropped
    ERR_NOT_LOADED = 1 << 9  #: START with no mask written since reset; nothing ran


class Control(enum.IntFlag):
    """CONTROL register bits (write 1 to act; reads as 0)."""

    START = 1 << 0  #: run one env step on the observation window
    RESET_STATE = 1 << 1  #: zero v, I_syn, rate, I_in and spikes (masks and OBS are kept)
    CLEAR_ERROR = 1 << 2  #: clear ERROR and its cause bits


@dataclasses.dataclass(frozen=True)
class Register:
    name: str
    offset: int
    width: int
    access: Access
    reset: int
    doc: str


@dataclasses.dataclass(frozen=True)
class Field:
    """One 32-bit word per element of a window, as it appears in :class:`Window`."""

    name: str
    width: int
    signed: bool
    doc: str


@dataclasses.dataclass(frozen=True)
class Window:
    """A block of 32-bit words at ``offset``; ``depth`` words, each ``width`` bits wide."""

    name: str
    offset: int
    depth: int
    width: int
    access: Access
    signed: bool
    doc: str
    stride: int = 1  # words per element (the state window has one word per field)

    @property
    def size(self) -> int:
        return 4 * self.depth

    @property
    def span(self) -> int:
        """Bytes the window's aligned region takes (a power of two)."""
        return 1 << max(2, (self.size - 1).bit_length())


#: Fields of one neuron in the STATE window, in word order.
STATE_FIELDS = ("v", "isyn", "rate", "i_in")


class RegisterMap:
    """The core's AXI4-Lite register map, derived from a :class:`Spec`.

    Byte addresses, 32-bit data. Registers occupy 0x000-0x0FF; each window is aligned to a power
    of two at least its size, in the order listed, after 0x100. Reads of an address that is
    neither a register nor inside a window, and writes to a read-only address, answer SLVERR.

    A hardware reset returns the registers to their reset values and clears STATUS (LOADED
    included); it does not clear the memories (masks, neuron state), so the host issues
    CONTROL.RESET_STATE before the first env step.
    """

    # name, offset, access, doc; widths and reset values come from the spec
    _REGS = (
        ("ID", 0x00, Access.RO, "constant CORE_ID, 'EVOC'"),
        ("VERSION", 0x04, Access.RO, "CORE_VERSION: major << 16 | minor"),
        ("SPEC_HASH", 0x08, Access.RO, "first 32 bits of the spec's SHA-256"),
        ("STATUS", 0x0C, Access.RO, "Status bits"),
        ("CONTROL", 0x10, Access.WO, "Control bits, write 1 to act, reads 0"),
        ("N_NEURONS", 0x14, Access.RO, "N"),
        ("N_EXC", 0x18, Access.RO, "excitatory neurons"),
        ("OBS_DIM", 0x1C, Access.RO, "d"),
        ("ACT_DIM", 0x20, Access.RO, "a"),
        ("SUBSTEPS", 0x24, Access.RO, "K"),
        ("LANES", 0x28, Access.RO, "neuron updates per clock (an implementation parameter)"),
        ("CYCLES", 0x2C, Access.RO, "clock cycles of the last env step, START to DONE"),
        ("SPIKES", 0x30, Access.RO, "spikes fired during the last env step"),
        ("ROW_WORDS", 0x34, Access.RO, "32-bit words per mask row, ceil(N/32)"),
    )

    def __init__(self, spec: Spec, lanes: int = DEFAULT_LANES):
        self.spec = spec
        self.lanes = lanes
        values = self.constants()
        self.registers: dict[str, Register] = {}
        for name, off, acc, doc in self._REGS:
            width = 32 if name in ("ID", "VERSION", "SPEC_HASH", "CYCLES") else 16
            if name == "STATUS":
                width = 10
            if name == "CONTROL":
                width = 3
            reset = values.get(name, 0)
            self.registers[name] = Register(name, off, width, acc, reset, doc)
        n, rw = spec.n_neurons, spec.row_words
        windows = [
            ("MASK_IN", spec.n_inputs * rw, 32, Access.RW, False, 1,
             "input mask, row i (2d rows: x then -x) = neurons fed by input i, ROW_WORDS words each"),
            ("MASK_H", n * rw, 32, Access.RW, False, 1,
             "recurrent mask, row i (presynaptic) = its postsynaptic targets, ROW_WORDS words each"),
            ("MASK_OUT", spec.act_dim * rw, 32, Access.RW, False, 1,
             "output mask transposed, row k = neurons summed into output k, ROW_WORDS words each"),
            ("OBS", spec.obs_dim, spec.obs_width, Access.RW, True, 1,
             "quantized observation, one signed word per input"),
            ("OUT", spec.act_dim, spec.out_width, Access.RO, True, 1,
             "output sums of the last env step, one signed word per action"),
            ("STATE", n * len(STATE_FIELDS), max(spec.state_width, spec.rate_width), Access.RW, True,
             len(STATE_FIELDS),
             "neuron j at word 4j: v, isyn, rate, i_in (signed); v is writable when idle, writes to "
             "the other words are accepted and ignored (so v0 goes in one block write)"),
            ("SPIKE", rw, 32, Access.RO, False, 1, "spikes of the last sub-step, bit j = neuron j"),
        ]
        self.windows: dict[str, Window] = {}
        addr = 0x100
        for name, depth, width, acc, signed, stride, doc in windows:
            span = 1 << max(2, (4 * depth - 1).bit_length())
            addr = (addr + span - 1) // span * span
            self.windows[name] = Window(name, addr, depth, width, acc, signed, doc, stride)
            addr += span
        #: Bytes of address space the core decodes (a power of two).
        self.size = 1 << (addr - 1).bit_length()

    def constants(self) -> dict[str, int]:
        s = self.spec
        return {
            "ID": CORE_ID,
            "VERSION": CORE_VERSION,
            "SPEC_HASH": s.hash32,
            "N_NEURONS": s.n_neurons,
            "N_EXC": s.n_exc,
            "OBS_DIM": s.obs_dim,
            "ACT_DIM": s.act_dim,
            "SUBSTEPS": s.substeps,
            "LANES": self.lanes,
            "ROW_WORDS": s.row_words,
        }

    @property
    def addr_width(self) -> int:
        return (self.size - 1).bit_length()

    def __getitem__(self, name: str) -> Register | Window:
        if name in self.registers:
            return self.registers[name]
        return self.windows[name]

    def decode(self, addr: int) -> tuple[Register | Window, int] | None:
        """``(register or window, word index)`` for a byte address, or ``None`` if unmapped."""
        if addr % 4:
            return None
        for r in self.registers.values():
            if r.offset == addr:
                return r, 0
        for w in self.windows.values():
            if w.offset <= addr < w.offset + w.size:
                return w, (addr - w.offset) // 4
        return None

    def table(self) -> list[dict[str, Any]]:
        """The map as rows (for docs, the RTL and tests)."""
        rows = [dataclasses.asdict(r) | {"kind": "register", "access": r.access.value}
                for r in self.registers.values()]
        for w in self.windows.values():
            rows.append({"kind": "window", "name": w.name, "offset": w.offset, "depth": w.depth,
                         "width": w.width, "access": w.access.value, "signed": w.signed,
                         "stride": w.stride, "doc": w.doc})
        return rows


# =====================================================================================
# The cycle model
# =====================================================================================


@dataclasses.dataclass(frozen=True)
class CycleModel:
    """Clock cycles of one env step of the core, from the sizes and the spike counts.

    The core is event-driven: in each sub-step it reads one recurrent mask row (all N bits at
    once) per neuron that spiked in the previous sub-step, then updates the N neurons ``lanes``
    at a time. Phases, from START to DONE:

    - input:    ``2d`` row reads, each adding ``+-xq`` to all N input accumulators, then one cycle
                per ``lanes`` neurons to saturate and store I_in;
    - sub-step: ``spikes(previous sub-step)`` row reads + ``N / lanes`` update cycles
                + ``substep_overhead``;
    - output:   ``a * N / lanes`` cycles of multiply-free accumulation + ``output_overhead``;
    - plus ``start_overhead``.

    The constants are the RTL's contract: the core (:mod:`evoconn.hw.core`) is built to take
    exactly this many cycles, counted by its CYCLES register as the cycles with STATUS.BUSY set
    after the START write is accepted. The input's ``+1`` is one cycle of block-RAM read latency
    at the end of the phase (the last row read's data); the sub-step's ``+3`` is the depth of the LIF
    update pipeline up to its spikes (one cycle of read latency, then the registered stages 1 to 3:
    the last row's spikes are final 3 cycles after its read was issued; its stage 4, the rate write,
    overlaps the next sub-step's first cycle); the output's ``+4`` is that stage 4 after the last
    sub-step, one cycle of read latency and two more for the registered stages of its adder tree.
    START itself costs nothing, and a sub-step with no arriving spikes skips the row-read phase
    entirely.
    """

    spec: Spec
    lanes: int = DEFAULT_LANES
    start_overhead: int = 0
    input_overhead: int = 1
    substep_overhead: int = 3
    output_overhead: int = 4

    def __post_init__(self) -> None:
        n = self.spec.n_neurons
        if self.lanes < 1 or n % self.lanes:
            raise SpecError(f"lanes={self.lanes} must be at least 1 and divide n_neurons={n}")

    def input_cycles(self) -> int:
        return self.spec.n_inputs + self.spec.n_neurons // self.lanes + self.input_overhead

    def substep_cycles(self, prev_spikes: int) -> int:
        return prev_spikes + self.spec.n_neurons // self.lanes + self.substep_overhead

    def output_cycles(self) -> int:
        return self.spec.act_dim * self.spec.n_neurons // self.lanes + self.output_overhead

    def env_step_cycles(self, prev_spikes: int, spikes_per_substep: Sequence[int]) -> int:
        """Cycles for one env step.

        ``prev_spikes`` is the number of neurons spiking when START arrives (the last sub-step of
        the previous env step, 0 after a reset); ``spikes_per_substep`` the K counts this step.
        """
        k = self.spec.substeps
        if len(spikes_per_substep) != k:
            raise ValueError(f"need {k} spike counts, got {len(spikes_per_substep)}")
        arriving = [prev_spikes, *spikes_per_substep[:-1]]
        return (
            self.start_overhead
            + self.input_cycles()
            + sum(self.substep_cycles(s) for s in arriving)
            + self.output_cycles()
        )

    def typical_env_step_cycles(self, firing_fraction: float = 0.02) -> float:
        """Cycles for an env step with a steady ``firing_fraction`` of neurons per sub-step."""
        s = firing_fraction * self.spec.n_neurons
        return self.env_step_cycles(round(s), [round(s)] * self.spec.substeps)
