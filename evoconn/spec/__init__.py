"""The integer spec of the evoconn RSNN core: the single source of truth.

Everything that the trainer, the RTL, the cocotb proof and the host must agree on is defined here
and nowhere else: the sizes, the fixed-point formats, the leaks as shifts, the rounding and
saturation rules, the float boundary, the register map and the cycle model.

This package imports only the Python standard library and numpy (1.26 or 2.x), so it runs on a
PYNQ-Z2 (32-bit ARM, no JAX). Every name is importable from ``evoconn.spec``; each concern has
its own module:

=================  ==========================================================================
``sizes``          :class:`Spec` (sizes, formats, validation, the float boundary, the hash),
                   :class:`SpecError`, ``CORE_ID``, ``CORE_VERSION``, ``DEFAULT_LANES``
``arith``          the fixed-point primitives ``sat``, ``decay``, ``gain``
``oracle``         the scalar oracle: :func:`oracle_env_step`, :class:`State`
``model``          the vectorized numpy model: :func:`numpy_env_step`
``packing``        mask rows as 32-bit words: :func:`pack_rows`, :func:`unpack_rows`, ``mask_rows``
``regmap``         the register map: :class:`RegisterMap`, :class:`Status`, :class:`Control`, ...
``protocol``       the register protocol: :func:`access` (decode with the access rules), the board-safe
                   responses (:func:`response_bound`),
                   :func:`identity_check` (ID, VERSION, SPEC_HASH against the expected spec)
``cycles``         the cycle model, the RTL's timing contract: :class:`CycleModel`
``prng``           the counter-based PRNG (Threefry-2x32) and the integer mask-sampling rule
=================  ==========================================================================

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

# Names outside __all__ that callers import all the same (``import x as x`` re-exports them).
from evoconn.spec.arith import _np_decay as _np_decay
from evoconn.spec.arith import _np_gain as _np_gain
from evoconn.spec.arith import _np_sat as _np_sat
from evoconn.spec.arith import decay as decay
from evoconn.spec.arith import gain as gain
from evoconn.spec.arith import sat as sat
from evoconn.spec.cycles import CycleModel
from evoconn.spec.model import numpy_env_step
from evoconn.spec.oracle import State, oracle_env_step, oracle_init_state
from evoconn.spec.packing import mask_rows as mask_rows
from evoconn.spec.packing import pack_rows, unpack_rows
from evoconn.spec.prng import RHO_BITS
from evoconn.spec.protocol import (
    READ_LATENCY,
    SIZE_REGISTERS,
    WRITE_LATENCY,
    AccessError,
    Identity,
    IdentityMismatch,
    access,
    identify,
    identify_async,
    identity_check,
    response_bound,
)
from evoconn.spec.regmap import (
    ERROR_CAUSES,
    REGISTER_LAYOUT,
    REGISTER_OFFSETS,
    Access,
    Control,
    Field,
    Register,
    RegisterMap,
    Status,
    Window,
)
from evoconn.spec.regmap import STATE_FIELDS as STATE_FIELDS
from evoconn.spec.sizes import ARITHMETIC_VERSION, CORE_ID, CORE_VERSION, DEFAULT_LANES, Spec, SpecError
from evoconn.spec.sizes import _clog2 as _clog2

__all__ = [
    "RHO_BITS",
    "ARITHMETIC_VERSION",
    "CORE_ID",
    "CORE_VERSION",
    "DEFAULT_LANES",
    "ERROR_CAUSES",
    "READ_LATENCY",
    "REGISTER_LAYOUT",
    "REGISTER_OFFSETS",
    "SIZE_REGISTERS",
    "WRITE_LATENCY",
    "Access",
    "AccessError",
    "Control",
    "CycleModel",
    "Field",
    "Identity",
    "IdentityMismatch",
    "Register",
    "RegisterMap",
    "SpecError",
    "Spec",
    "State",
    "Status",
    "Window",
    "access",
    "identify",
    "identify_async",
    "identity_check",
    "oracle_env_step",
    "oracle_init_state",
    "numpy_env_step",
    "pack_rows",
    "response_bound",
    "unpack_rows",
]
