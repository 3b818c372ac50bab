"""``JaxCore``: :class:`~evoconn.host.core.Core` directly on the JAX integer model, the reference.

The model is :func:`evoconn.training.models.int_env_step` (the function training scores fitness
with), jitted once per spec. JAX is imported when a :class:`JaxCore` is made, with an error naming
the extra if it is missing, so ``import evoconn.host`` stays numpy-only.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from evoconn.host.core import CoreError, CoreStats, MissingDependency, check_key, check_masks, check_v0, check_xq
from evoconn.spec import Spec
from evoconn.spec.prng import initial_membrane, masks_from_rho_words, rho_words

__all__ = ["JaxCore"]


def _import_jax():
    try:
        import jax
        import jax.numpy as jnp

        from evoconn.training import models
    except ImportError as e:
        raise MissingDependency(f"the jax backend needs jax ({e}); pip install 'evoconn[train]', "
                                "or use --backend fake, which needs numpy only") from None
    return jax, jnp, models


@functools.lru_cache(maxsize=16)
def _compiled(spec: Spec):
    jax, jnp, models = _import_jax()

    @jax.jit
    def step(masks, state, xq):
        return models.int_env_step(spec, masks, state, xq)

    @jax.jit
    def prepare(mask_in, mask_h, mask_out):
        return models.prepare_int_masks(spec, mask_in, mask_h, mask_out)

    return step, prepare


class JaxCore:
    """One network on the JAX integer model; integer in, integer out, like the hardware."""

    def __init__(self, spec: Spec):
        self.jax, self.jnp, self.models = _import_jax()
        self.spec = spec
        self._step, self._prepare = _compiled(spec)
        self._masks = None
        self._state = self.models.int_init_state(spec)
        self._i_in = np.zeros(spec.n_neurons, np.int32)
        self._coef = None
        self._spikes = 0
        self._rho = None
        self.stats = CoreStats()

    def load_masks(self, masks: dict[str, np.ndarray]) -> None:
        m = check_masks(self.spec, masks)
        self._masks = self._prepare(m["mask_in"], m["mask_h"], m["mask_out"])
        d = self.spec.obs_dim
        mi = m["mask_in"].astype(np.int64)
        self._coef = mi[:d] - mi[d:]
        self.stats.mask_loads += 1

    def reset_state(self, v0: np.ndarray | None = None) -> None:
        v = None if v0 is None else check_v0(self.spec, v0).astype(np.int32)
        self._state = self.models.int_init_state(self.spec, v)

    def load_rho(self, rho: dict[str, np.ndarray]) -> None:
        self._rho = rho_words(self.spec, rho)  # quantized as the core's RHO window holds it
        self.stats.rho_loads += 1

    def sample(self, key) -> None:
        """What CONTROL.SAMPLE does on the core, computed with the spec's numpy functions."""
        if self._rho is None:
            raise CoreError("JaxCore.sample before load_rho")
        k = check_key(key)
        self.load_masks(masks_from_rho_words(self.spec, self._rho, k))
        self.reset_state(initial_membrane(k, self.spec.n_neurons, self.spec.state_frac))
        self._i_in[:] = 0
        self.stats.samples += 1

    def step(self, xq: np.ndarray) -> np.ndarray:
        if self._masks is None:
            from evoconn.host.core import CoreError

            raise CoreError("JaxCore.step before load_masks")
        x = check_xq(self.spec, xq)
        self._state, out, fired = self._step(self._masks, self._state, x.astype(np.int32))
        self._i_in = np.clip(x @ self._coef, *self.spec.state_limits()).astype(np.int32)
        self._spikes = fired
        self.stats.steps += 1
        return np.asarray(out, dtype=np.int32)

    def run(self, xq_seq: np.ndarray) -> np.ndarray:
        xq_seq = np.asarray(xq_seq)
        if not len(xq_seq):
            return np.zeros((0, self.spec.act_dim), np.int32)
        return np.stack([self.step(x) for x in xq_seq])

    def read_state(self) -> dict[str, Any]:
        s = self._state
        return {
            "v": np.asarray(s.v, np.int32),
            "isyn": np.asarray(s.isyn, np.int32),
            "rate": np.asarray(s.rate, np.int32),
            "i_in": self._i_in.copy(),
            "spike": np.asarray(s.spike, bool),
            "spikes": int(np.sum(np.asarray(self._spikes))),
        }

    def __repr__(self) -> str:
        s = self.spec
        return f"JaxCore(N={s.n_neurons}, d={s.obs_dim}, a={s.act_dim}, K={s.substeps})"
