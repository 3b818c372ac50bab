"""Device placement and gathering: the one place that knows where the population lives.

Everything the training loop moves between the host and the accelerators goes through a
:class:`Placement`: the population axis sharded over a 1-D ``Mesh`` (``"pop"``) of the devices,
the values every device needs replicated, the state fetched to host numpy for checkpoints and
artifacts, and a checkpoint's arrays put back where the state lives.

One process or many. After :func:`start_processes` (``jax.distributed.initialize``: one process
per host, e.g. ``evoconn train --coordinator HOST:PORT --num-processes P --process-id I``),
``jax.devices()`` lists every process's devices and the default mesh spans them all: each process
runs the same jitted generation on its own slice of the population (SPMD), and every process
holds the same state. The trainer sees no difference but three calls: :meth:`Placement.put`
(host values, identical on every process, made into global arrays), :meth:`Placement.fetch`
(a population-sharded value gathered from every process; a collective, so every process calls it
at the same point), and :attr:`Placement.writer` (only process 0 writes files).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from evoconn.training.config import HEARTBEAT_TIMEOUT_S

__all__ = ["Placement", "start_processes"]

#: seconds a process waits for the others to join (start-up), and at shutdown
INIT_TIMEOUT_S = 120
SHUTDOWN_TIMEOUT_S = 30


def start_processes(coordinator: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None, *, auto: bool = False,
                    heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S,
                    init_timeout_s: int = INIT_TIMEOUT_S) -> None:
    """Join a multi-process run (``jax.distributed.initialize``); call before any JAX work.

    ``coordinator`` (``HOST:PORT`` of process 0), ``num_processes`` and ``process_id`` as given;
    with ``auto``, JAX detects those not given from the cluster's environment (SLURM, Open MPI,
    Kubernetes...). A process that stops sending heartbeats for ``heartbeat_timeout_s`` is
    declared dead and the others fail. On CPU the cross-process collectives are gloo's."""
    # gloo is this jax's default for CPU collectives; said explicitly so that a CPU run across
    # processes does not depend on it (GPUs use NCCL, TPUs their own; this setting is CPU-only)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
        cluster_detection_method=None if auto else "deactivate",
        initialization_timeout=init_timeout_s, heartbeat_timeout_seconds=heartbeat_timeout_s,
        shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S)


class Placement:
    """A 1-D mesh over ``devices`` (default: every device of every process) with the population
    on ``"pop"``."""

    def __init__(self, devices: list | None = None):
        self.devices = list(devices if devices is not None else jax.devices())
        self.mesh = jax.sharding.Mesh(np.array(self.devices), ("pop",))
        self.pop_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("pop"))
        self.replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        #: whether the mesh spans devices of other processes (then every array is a global one)
        self.multiprocess = len({d.process_index for d in self.devices}) > 1
        #: whether this process writes the run's files (checkpoints, metrics, plots, artifacts)
        self.writer = jax.process_index() == 0

    def __len__(self) -> int:
        return len(self.devices)

    @property
    def processes(self) -> int:
        return len({d.process_index for d in self.devices})

    def describe(self) -> list[str]:
        return [str(d) + (f" (process {d.process_index})" if self.multiprocess else "")
                for d in self.devices]

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
    def put(self, tree: Any) -> Any:
        """Values every process computed alike (the initial state) as arrays on the whole mesh.

        One process: the tree as it is. Several: each leaf a global array replicated on every
        device (the generation's constraints then shard the population)."""
        if not self.multiprocess:
            return tree

        def put(x):
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                return x  # already on the whole mesh (made by a program over it)
            return self._global(np.asarray(jax.device_get(x)), self.replicated)

        return jax.tree.map(put, tree)

    def localize(self, tree: Any) -> Any:
        """A library's constants (a Brax system) on this process's own device, with process 0's
        values.

        ``mujoco.mjx.put_model`` places a model on ``jax.devices()[0]``, which in a multi-process
        run is process 0's device: every other process is left holding arrays it cannot read
        (and a jitted function cannot close over). Every process calls this on the same tree (a
        collective); the values travel as their bits, so -0.0 and NaNs arrive unchanged."""
        if not self.multiprocess:
            return tree
        from jax.experimental import multihost_utils

        leaves, treedef = jax.tree.flatten(tree)
        idx = [i for i, x in enumerate(leaves) if isinstance(x, jax.Array)]
        bits = []
        for i in idx:
            x = leaves[i]
            kind = np.dtype(f"u{x.dtype.itemsize}")
            bits.append(np.asarray(x).view(kind) if x.is_fully_addressable
                        else np.zeros(x.shape, kind))
        got = multihost_utils.broadcast_one_to_all(bits, is_source=jax.process_index() == 0)
        for i, b in zip(idx, got, strict=True):
            leaves[i] = jnp.asarray(np.asarray(b).view(leaves[i].dtype))
        return jax.tree.unflatten(treedef, leaves)

    def _global(self, x: np.ndarray, sharding) -> jax.Array:
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    def fetch(self, tree: Any) -> Any:
        """The tree as host numpy (every shard gathered): for checkpoints, artifacts, metrics.

        With several processes a leaf sharded across them is gathered from all of them (a
        collective: every process must call ``fetch`` on the same values in the same order)."""
        if not self.multiprocess:
            return jax.device_get(tree)
        from jax.experimental import multihost_utils

        def get(x):
            if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
                return jax.device_get(x) if isinstance(x, jax.Array) else x
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))

        return jax.tree.map(get, tree)

    def put_like(self, arrays: list[np.ndarray], template: list[Any]) -> list[Any]:
        """Host arrays placed like the template's leaves (a host-numpy leaf stays host numpy)."""
        out = []
        for b, t in zip(arrays, template, strict=True):
            if isinstance(t, np.ndarray | np.generic):
                out.append(np.asarray(b, t.dtype))
            elif getattr(t, "sharding", None) is not None:
                if t.is_fully_addressable:
                    out.append(jax.device_put(b, t.sharding))
                else:
                    out.append(self._global(np.asarray(b, t.dtype), t.sharding))
            else:
                out.append(jnp.asarray(b))
        return out
