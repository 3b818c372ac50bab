"""Device placement and gathering: the one place that knows where the population lives.

Everything the training loop moves between the host and the accelerators goes through a
:class:`Placement`: the population axis sharded over a 1-D ``Mesh`` (``"pop"``) of the local
devices, the values every device needs replicated, the state fetched to host numpy for
checkpoints and artifacts, and a checkpoint's arrays put back where the state lives. Multi-process
training (``jax.distributed``) changes this class (a global mesh, ``process_allgather`` in
:meth:`Placement.fetch`), not the trainer.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Placement"]


class Placement:
    """A 1-D mesh over ``devices`` (default: all local devices) with the population on ``"pop"``."""

    def __init__(self, devices: list | None = None):
        self.devices = list(devices if devices is not None else jax.devices())
        self.mesh = jax.sharding.Mesh(np.array(self.devices), ("pop",))
        self.pop_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("pop"))
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

    def __len__(self) -> int:
        return len(self.devices)

    def describe(self) -> list[str]:
        return [str(d) for d in self.devices]

    # --- inside jit -------------------------------------------------------------------------
    def shard(self, tree: Any) -> Any:
        """Constrain every leaf's leading (population) axis to be split over the devices."""
        if len(self.devices) == 1:
            return tree
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.pop_sharding), tree)

    def replicate(self, tree: Any) -> Any:
        """Constrain every leaf to be whole on every device."""
        # the ranks and the metrics see the whole population on every device; the float sums
        # that feed the state (ES's gradient, the normalizer) are ec.ordered_sum, whose order
        # holds whatever XLA does with a reduction
        if len(self.devices) == 1:
            return tree
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.replicated), tree)

    # --- between host and devices -----------------------------------------------------------
    def fetch(self, tree: Any) -> Any:
        """The tree as host numpy (every shard gathered): for checkpoints, artifacts, metrics."""
        return jax.device_get(tree)

    def put_like(self, arrays: list[np.ndarray], template: list[Any]) -> list[Any]:
        """Host arrays placed like the template's leaves (a host-numpy leaf stays host numpy)."""
        out = []
        for b, t in zip(arrays, template, strict=True):
            if isinstance(t, np.ndarray | np.generic):
                out.append(np.asarray(b, t.dtype))
            elif getattr(t, "sharding", None) is not None:
                out.append(jax.device_put(b, t.sharding))
            else:
                out.append(jnp.asarray(b))
        return out
