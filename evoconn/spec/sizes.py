"""Sizes, formats and identity of one core: :class:`Spec`, its validation and its hash.

Also the constants every part of the stack names: the core's ID and VERSION, the arithmetic
version folded into the hash, and the default number of lanes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from evoconn.spec.regmap import RegisterMap

#: Bumped whenever the meaning of any field of :class:`Spec` changes. Part of the spec hash.
ARITHMETIC_VERSION = "evoconn-int-1"
#: The core's ID register: ASCII "EVOC".
CORE_ID = 0x45564F43
#: The core's VERSION register: major << 16 | minor. Major changes break the register map.
#: 1.1: the board-safe bus (every access answers OKAY in bounded time; refused accesses set
#: STATUS.ERR_READ/ERR_WRITE and ERR_ADDR instead of SLVERR; window reads while busy answer at
#: once; CONTROL.ABORT, STATUS.ABORTED). The offsets of 1.0 are unchanged, hence a minor bump; it
#: changes every spec hash, since the hash covers CORE_VERSION. Core 1.1 also has the v2 timing
#: (a sub-step starts while the LIF pipeline's rate write drains: CycleModel 4/3 -> 3/4 overheads).
#: 1.2: on-chip mask sampling (SEED0, SEED1, RHO_BITS, the RHO window, CONTROL.SAMPLE,
#: STATUS.SAMPLING); the offsets of 1.1 are unchanged, so again a minor bump.
CORE_VERSION = (1 << 16) | 2
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
        N, the number of neurons (8 to 4096).
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
        return cls(**d)  # __post_init__ turns the leaks' JSON lists into tuples

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
        from evoconn.spec.regmap import RegisterMap  # regmap builds on Spec

        return RegisterMap(self, lanes)

