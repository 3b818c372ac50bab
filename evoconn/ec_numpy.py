"""Evolving Connectivity's ask/tell in numpy, bit for bit equal to :mod:`evoconn.training.ec` (JAX).

No JAX: this runs on the board (Python 3.10, numpy 1.26), so that ``train-core`` can train there.
The same functions as the JAX module: :func:`init`, :func:`ask`, :func:`eval_masks`, :func:`tell`,
over an :class:`ECState` of numpy arrays. One update, for n members with masks θ_i (regenerated
from their keys by :mod:`evoconn.spec.prng`, or given) and fitness F_i::

    rank_i = position of F_i (as float32) in a stable ascending sort (ties by index)
    num    = 2 Σ_i rank_i θ_i − (n − 1) Σ_i θ_i                     (integers, exact)
    g      = num / (2 n (n − 1))        = (1/n) Σ_i (rank_i/(n−1) − 1/2)(θ_i − ρ)
    ρ     <- clip(ρ + Adam step along g, clip_eps, 1 − clip_eps)

The Adam step is :func:`adam_step`, written once over an array module ``xp`` (numpy here, jax.numpy
under ``jax.enable_x64`` in the trainer), and designed so that a compiler cannot change its bits.
Every stored value is float32. Each step is either a single IEEE operation (+, ×, /, sqrt; done in
float64 and rounded to float32, which equals the float32 operation, so a compiler that narrows it
computes the same), or a sum of products of two float32 values, each exact in float64 (24 + 24 <
53 bits), rounded once (so a fused multiply-add rounds as the separate operations do). What a
compiler may still do, and XLA on CPU does (LLVM narrows the float64 steps to float32, then fuses a
multiplication with the addition that consumes it into one FMA), is to fuse a rounded product into
a sum: the update never adds a product (lr enters the bias correction, whose result is divided).
Nothing is divided by a broadcast scalar either (XLA turns that into a multiplication by its
reciprocal). The bias corrections are tables over the update count built from Python floats
(:func:`bias_tables`), not a ``pow``, whose last bit libraries differ in.

The diagnostics ``tell`` reports (:func:`tell_metrics`: mean ρ, the mean entropy of the sampled
Bernoulli distribution, the gradient's norm) are computed the same way in both modules too, so that
a run's metrics do not depend on which implementation made them: float64 sums in one fixed
pairwise order (:func:`ordered_sum`: elementwise additions only, which no compiler reassociates),
the entropy from a table over the quantized ρ that the masks are sampled with (:func:`entropy_table`,
Python floats: no ``log`` whose last bit libraries differ in), the squared gradient numerators in
int64.

:class:`ECStrategy` puts these functions behind the algorithm interface
(:class:`evoconn.algorithm.Strategy`), as :class:`evoconn.training.strategy.ECStrategy` does for JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from evoconn.algorithm import Population
from evoconn.spec import prng

__all__ = ["ECParams", "ECState", "ECStrategy", "adam_step", "ask", "bias_tables", "centered_ranks",
           "entropy_table", "eval_masks", "gradient_numerator", "init", "max_members", "ordered_sum",
           "ranks", "tell", "tell_metrics"]

#: The exact integer gradient's numerator fits int32 up to this population (n (n - 1) < 2**31).
max_members = 46340


@dataclasses.dataclass(frozen=True)
class ECParams:
    """EC hyperparameters; the defaults are the paper's (the same as the JAX module's)."""

    lr: float = 0.15
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    clip_eps: float = 1e-3
    init_prob: float = 0.5
    rho_bits: int = prng.RHO_BITS

    def __post_init__(self) -> None:
        check_params(self)


def check_params(p: Any) -> None:
    """The checks both modules' ECParams make."""
    if not p.lr > 0:
        raise ValueError(f"lr must be positive, got {p.lr}")
    if not 0 <= p.clip_eps < 0.5:
        raise ValueError(f"clip_eps must lie in [0, 0.5), got {p.clip_eps}")
    if not 0 < p.init_prob < 1:
        raise ValueError(f"init_prob must lie in (0, 1), got {p.init_prob}")
    if p.rho_bits is not None and not (isinstance(p.rho_bits, int) and 1 <= p.rho_bits <= 24):
        raise ValueError(f"rho_bits must be an integer in [1, 24], got {p.rho_bits!r}")


@dataclasses.dataclass
class ECState:
    """The search distribution ``rho`` and the Adam state, all float32 (dicts name -> array)."""

    rho: dict[str, np.ndarray]
    mu: dict[str, np.ndarray]
    nu: dict[str, np.ndarray]
    generation: int  #: updates so far (the next one is Adam's step t = generation + 1)
    rho_bits: int = prng.RHO_BITS


def init(params: ECParams, shapes: Mapping[str, tuple[int, ...]]) -> ECState:
    """ρ = init_prob everywhere, zero moments, generation 0."""
    rho = {k: np.full(s, params.init_prob, np.float32) for k, s in shapes.items()}
    zeros = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    return ECState(rho=rho, mu=zeros, nu={k: v.copy() for k, v in zeros.items()}, generation=0,
                   rho_bits=params.rho_bits)


def ask(state: ECState, key, n: int) -> dict[str, np.ndarray]:
    """n members' masks from the generation ``key`` (2 uint32): member i is
    ``prng.sample_masks(rho, prng.member_keys(key, n)[i])``; leaves (n, *shape) bool."""
    return prng.sample_masks(state.rho, prng.member_keys(key, n), state.rho_bits)


def eval_masks(state: ECState, n: int) -> dict[str, np.ndarray]:
    """n copies of the deterministic mask θ = (ρ > 0.5); leaves (n, *shape) bool."""
    return {k: np.broadcast_to(r > 0.5, (n, *r.shape)) for k, r in state.rho.items()}


def ranks(fitness) -> np.ndarray:
    """rank 0 for the lowest float32 fitness, ties by index (NaN ranks highest, -0.0 equals 0.0)."""
    f = np.asarray(fitness, np.float32)
    f = np.where(f == 0, np.float32(0), f)
    return np.argsort(np.argsort(f, kind="stable"), kind="stable")


def centered_ranks(fitness) -> np.ndarray:
    """rank(F_i) / (n - 1) - 0.5 in [-0.5, 0.5] (float32)."""
    n = len(fitness)
    return ranks(fitness).astype(np.float32) / np.float32(n - 1) - np.float32(0.5)


def gradient_numerator(rk: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``2 Σ_i rank_i θ_i − (n − 1) Σ_i θ_i`` over axis 0 of ``theta`` (n, ...): int64."""
    n = rk.shape[0]
    t = theta.reshape(n, -1).astype(np.int64)
    num = 2 * (rk.astype(np.int64) @ t) - (n - 1) * t.sum(axis=0)
    return num.reshape(theta.shape[1:])


@functools.lru_cache(maxsize=8)
def bias_tables(lr: float, b1: float, b2: float) -> tuple[np.ndarray, np.ndarray]:
    """Adam's bias corrections as float32 tables over the update count t (entry t, t >= 1):
    ``lr / (1 - b1**t)`` and ``1 / (1 - b2**t)``, from running products of Python floats (IEEE
    double on every platform, no ``pow``), up to the t where both have reached their limit (later t
    use the last entry). Both modules index the same tables."""
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"b1 and b2 must lie in [0, 1), got {b1}, {b2}")
    p1 = p2 = 1.0
    a1, i2 = [np.float32(lr)], [np.float32(1)]
    while True:
        p1 *= b1
        p2 *= b2
        a1.append(np.float32(lr / (1.0 - p1)))
        i2.append(np.float32(1.0 / (1.0 - p2)))
        if a1[-1] == np.float32(lr) and i2[-1] == np.float32(1):  # both monotone: final
            break
    return np.array(a1, np.float32), np.array(i2, np.float32)


def adam_step(xp: Any, params: Any, rho: Any, mu: Any, nu: Any, a1: Any, i2: Any, num: Any,
              n: int) -> tuple[Any, Any, Any]:
    """One exact Adam ascent step of one leaf (see the module doc); ``xp`` is numpy or jax.numpy
    (the latter with 64-bit types enabled). ``num`` is the integer gradient numerator, ``a1`` and
    ``i2`` this update's entries of :func:`bias_tables`. Returns the new ``rho, mu, nu`` (float32)."""
    f32, f64 = xp.float32, xp.float64

    def c(x: float) -> Any:  # a float32 constant, held as float64
        return f64(np.float32(x))

    def w(x: Any) -> Any:  # float32 -> float64 (exact)
        return x.astype(f64)

    def r(x: Any) -> Any:  # round to float32
        return x.astype(f32)

    g = r(num.astype(f64) * f64(1.0 / (2 * n * (n - 1))))
    g64 = w(g)
    mu = r(c(params.b1) * w(mu) + c(1.0 - params.b1) * g64)  # exact products, one rounded sum
    nu = r(c(params.b2) * w(nu) + c(1.0 - params.b2) * w(r(g64 * g64)))
    m_hat = r(w(mu) * w(a1))  # lr * m / (1 - b1^t): a product feeding a division, never a sum
    v_hat = r(w(nu) * w(i2))
    den = r(w(r(xp.sqrt(w(v_hat)))) + c(params.eps))
    step = r(w(m_hat) / w(den))
    rho = r(w(rho) + w(step))
    lo, hi = np.float32(params.clip_eps), np.float32(1.0 - params.clip_eps)
    return xp.clip(rho, lo, hi), mu, nu


def ordered_sum(xp: Any, x: Any) -> Any:
    """Σ over axis 0 in one fixed pairwise order (zero-padded to a power of two, halves added
    elementwise), the same bits in numpy and under XLA: elementwise adds are never reassociated."""
    n = x.shape[0]
    m = 1 << max(0, (n - 1).bit_length())
    if m != n:
        x = xp.concatenate([x, xp.zeros((m - n, *x.shape[1:]), x.dtype)])
    while m > 1:
        m //= 2
        x = x[:m] + x[m:]
    return x[0]


@functools.lru_cache(maxsize=4)
def entropy_table(bits: int) -> np.ndarray:
    """Entry q: the entropy in bits of Bernoulli(q / 2**bits), float64 from Python floats (0 at both
    ends); q = rint(ρ 2**bits) is the probability the masks are sampled with."""
    m = 1 << bits
    h = [0.0] * (m + 1)
    for q in range(1, m):
        p = q / m
        h[q] = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    return np.array(h, np.float64)


def tell_metrics(xp: Any, rho: Mapping[str, Any], num: Mapping[str, Any], n: int,
                 bits: int | None) -> dict[str, Any]:
    """The diagnostics of one update (float64 scalars, the same bits in numpy and JAX; ``xp`` is
    numpy or jax.numpy with 64-bit types enabled): ``mean_rho``, ``entropy`` (mean Bernoulli
    entropy in bits of the quantized ρ: 1 at ρ = 0.5, near 0 when the masks have converged) and
    ``grad_norm`` (‖g‖ of g = num / (2 n (n − 1))) and ``density`` (the fraction of connections
    with ρ > 0.5: the density of the deterministic masks an artifact deploys)."""
    f64 = xp.float64
    names = sorted(rho)
    size = sum(int(np.prod(rho[k].shape)) for k in names)
    inv = f64(1.0 / size)
    r = xp.concatenate([rho[k].reshape(-1).astype(f64) for k in names])
    if bits is None:  # float sampling (comparisons only): the formula, not bit-exact across modules
        h = -(r * xp.log2(r) + (1 - r) * xp.log2(1 - r))
    else:
        q = xp.rint(xp.concatenate([rho[k].reshape(-1) for k in names]).astype(xp.float32)
                    * xp.float32(1 << bits)).astype(xp.int32)
        h = xp.asarray(entropy_table(bits))[q]
    sq = xp.concatenate([(num[k].reshape(-1).astype(xp.int64) ** 2).astype(f64) for k in names])
    return {"mean_rho": ordered_sum(xp, r) * inv, "entropy": ordered_sum(xp, h) * inv,
            "grad_norm": xp.sqrt(ordered_sum(xp, sq)) * f64(1.0 / (2 * n * (n - 1))),
            "density": xp.sum((r > 0.5).astype(xp.int64)).astype(f64) * inv}


def _sums(state: ECState, members: Any, rk: np.ndarray, chunk: int = 64) -> dict[str, np.ndarray]:
    """The gradient numerators, from masks (dict) or from member keys (n, 2), regenerated in chunks."""
    if isinstance(members, Mapping):
        return {k: gradient_numerator(rk, np.asarray(members[k], bool)) for k in state.rho}
    keys = np.asarray(members)
    n = keys.shape[0]
    if keys.shape != (n, 2):
        raise ValueError(f"member keys must be (n, 2) uint32, got {keys.shape}")
    num = {k: np.zeros(r.shape, np.int64) for k, r in state.rho.items()}
    for i in range(0, n, chunk):
        th = prng.sample_masks(state.rho, keys[i:i + chunk], state.rho_bits)
        for k in num:
            t = th[k].reshape(th[k].shape[0], -1).astype(np.int64)
            part = 2 * (rk[i:i + chunk].astype(np.int64) @ t) - (n - 1) * t.sum(axis=0)
            num[k] += part.reshape(num[k].shape)
    return num


def tell(params: ECParams, state: ECState, members: Any, fitness) -> tuple[ECState, dict[str, float]]:
    """One NES step. ``members`` are the members' keys (n, 2) uint32, whose masks are regenerated
    from ``state.rho`` (the ρ they were drawn from), or their masks (dict of (n, *shape) bool)."""
    f = np.asarray(fitness, np.float32)
    n = f.shape[0]
    if not 2 <= n <= max_members:
        raise ValueError(f"the exact integer gradient needs 2 to {max_members} members, got {n}")
    rk = ranks(f)
    num = _sums(state, members, rk)
    a1, i2 = bias_tables(params.lr, params.b1, params.b2)
    t = min(state.generation + 1, len(a1) - 1)
    rho, mu, nu = {}, {}, {}
    for k in state.rho:
        rho[k], mu[k], nu[k] = adam_step(np, params, state.rho[k], state.mu[k], state.nu[k], a1[t], i2[t],
                                         num[k], n)
    metrics = {k: float(v) for k, v in tell_metrics(np, rho, num, n, state.rho_bits).items()}
    new = ECState(rho=rho, mu=mu, nu=nu, generation=state.generation + 1, rho_bits=state.rho_bits)
    return new, metrics


def _shapes(shapes: Mapping[str, tuple[int, ...]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((k, tuple(int(x) for x in s)) for k, s in shapes.items())


@dataclasses.dataclass(frozen=True)
class ECStrategy:
    """EC behind the algorithm interface (:class:`evoconn.algorithm.Strategy`), in numpy: the same
    members, states and metrics as :class:`evoconn.training.strategy.ECStrategy` (JAX) for the same
    keys (raw uint32 keys, :mod:`evoconn.spec.prng`)."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    popsize: int
    params: ECParams = dataclasses.field(default_factory=ECParams)
    name: str = dataclasses.field(default="ec", init=False)
    member_kind: str = dataclasses.field(default="masks", init=False)

    @classmethod
    def create(cls, shapes: Mapping[str, tuple[int, ...]], popsize: int, **hyper: Any) -> ECStrategy:
        if popsize < 2:
            raise ValueError(f"EC needs a population of at least 2, got {popsize}")
        return cls(_shapes(shapes), popsize, ECParams(**hyper))

    def init(self, key: Any) -> ECState:
        del key  # ρ starts at init_prob everywhere
        return init(self.params, dict(self.shapes))

    def ask(self, key: Any, state: ECState) -> tuple[Population, ECState]:
        return Population(ask(state, key, self.popsize)), state

    def tell(self, population: Population, fitness: Any, state: ECState) -> tuple[ECState, dict]:
        return tell(self.params, state, population.members, fitness)

    def eval_members(self, state: ECState, n: int) -> dict[str, np.ndarray]:
        return eval_masks(state, n)

    def distribution(self, state: ECState) -> dict[str, np.ndarray]:
        return state.rho
