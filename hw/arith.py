"""The spec's integer arithmetic as Amaranth expressions, exact by construction.

Amaranth widens ``+``, ``-``, unary ``-`` and ``<<`` by a constant so that no bit is lost, and
``>>`` by a constant on a signed value is an arithmetic (flooring) shift, so transcribing
:func:`evoconn.spec.decay` and :func:`evoconn.spec.gain` term by term gives the oracle's values
bit for bit. Only :func:`saturate` narrows, and it does so by clamping.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, Value, signed

__all__ = ["decay", "divmod_const", "gain", "log2_exact", "named", "saturate"]


def named(m, expr, name: str) -> Signal:
    """A combinational signal that carries ``expr`` at its full width (keeps expressions small)."""
    expr = Value.cast(expr)
    sig = Signal(expr.shape(), name=name)
    m.d.comb += sig.eq(expr)
    return sig


def saturate(m, expr, width: int, name: str) -> Signal:
    """``expr`` clamped to a signed ``width``-bit integer (the spec's ``sat``)."""
    x = named(m, expr, f"{name}_wide")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = Signal(signed(width), name=name)
    assert x.shape().signed, "saturate takes a signed value"
    if len(x) <= width:
        m.d.comb += out.eq(x)
        return out
    # x fits iff its bits from width-1 up all equal its sign: a LUT reduction, no carry chain
    top = x[width - 1:]
    fits = top.all() | ~top.any()
    m.d.comb += out.eq(Mux(fits, x[:width], Mux(x[-1], lo, hi)))
    return out


def decay(x, leak: tuple[int, int]):
    """``floor(alpha * x)`` with ``alpha = 1 - 2**-a - 2**-b``: ``x + ((-(x << (b-a)) - x) >> b)``."""
    a, b = leak
    x = Value.cast(x)
    return x + ((-(x << (b - a)) - x) >> b)


def gain(x, leak: tuple[int, int]):
    """``floor((2**-a + 2**-b) * x)``: ``((x << (b-a)) + x) >> b``."""
    a, b = leak
    x = Value.cast(x)
    return ((x << (b - a)) + x) >> b


def log2_exact(x: int) -> int | None:
    """``log2(x)`` when ``x`` is a power of 2, else ``None``."""
    return x.bit_length() - 1 if x > 0 and x & (x - 1) == 0 else None


def divmod_const(x, c: int):
    """``(x // c, x % c)`` for an unsigned value and a constant: slices when ``c`` is a power of 2."""
    s = log2_exact(c)
    if s is not None:
        return x[s:], x[:s]
    return x // c, x % c
