"""EC training with every member scored through a :class:`~evoconn.host.core.Core`.

The EC update is :mod:`evoconn.training.ec` (``init``/``ask``/``tell``, JAX, in this process); the
fitness of every member comes from :func:`evoconn.host.rollout.score_population` on a core: the JAX
model (``jax``), the register interface on the in-memory core (``fake``), the exported Verilog under
cocotb (``rtl``: the scoring runs inside the simulator's process, one call per generation in one
simulator session) or the board (``pynq``). Cores are deterministic, so every backend gives the
same fitness vectors and the same probabilities, generation after generation: what CI proves on
the RTL is what the board trains with.

Needs JAX (``evoconn[train]``); ``import evoconn.host`` does not import this module.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from evoconn.host.core import Core, MissingDependency
from evoconn.host.rollout import make_env, score_population

from evoconn.artifact import Artifact, Normalizer, base_manifest, save_artifact
from evoconn.spec import Spec

__all__ = ["LocalRunner", "TrainResult", "generation_seed", "train_core"]


class LocalRunner:
    """A core in this process, with the calling convention of :class:`evoconn.host.rtl.RtlSession`."""

    def __init__(self, core: Core):
        self.core = core

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.core, *args, **kwargs)


@dataclasses.dataclass
class TrainResult:
    rows: list[dict[str, Any]]  #: one per generation: fitness vector, mean, max, horizon, EC metrics
    rho: dict[str, np.ndarray]  #: the final connection probabilities
    normalizer: Normalizer


def generation_seed(seed: int, generation: int) -> int:
    """The seed of one generation's reset pool and initial membranes (same on every backend)."""
    return int(np.random.SeedSequence([seed, generation]).generate_state(1)[0])


def _import_ec():
    try:
        import jax
        import jax.numpy as jnp
        from evoconn.training import ec
    except ImportError as e:
        raise MissingDependency(f"training needs jax ({e}); pip install 'evoconn[train]'") from None
    return jax, jnp, ec


@functools.cache
def _jitted(ec: Any) -> tuple[Callable, Callable]:
    """``ask`` and ``tell`` jitted once (op by op, a first generation costs seconds of dispatch)."""
    import jax

    return jax.jit(ec.ask, static_argnums=2), jax.jit(ec.tell, static_argnums=0)


def train_core(runner: Any, env: str, spec: Spec, *, generations: int, population: int, seed: int = 0,
               max_steps: int = 1000, lr: float = 0.15, clip_eps: float = 1e-3, normalize: bool = True,
               brax_backend: str = "positional",
               progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """EC for ``generations`` generations of ``population`` members, each scored by ``runner``.

    ``runner`` has ``call(fn, *args, **kwargs)`` running ``fn(core, ...)``: a :class:`LocalRunner`
    or a started :class:`~evoconn.host.rtl.RtlSession`. The key of generation g is
    ``fold_in(PRNGKey(seed), g)``; its reset pool and initial membranes come from
    :func:`generation_seed`. With ``normalize``, the observation normalizer is updated from the
    members' final observations after each generation (used from the next one on).
    """
    if population < 2:
        raise ValueError(f"EC needs a population of at least 2, got {population}")
    if generations < 1:
        raise ValueError(f"generations must be at least 1, got {generations}")
    jax, jnp, ec = _import_ec()
    params = ec.ECParams(lr=lr, clip_eps=clip_eps)
    state = ec.init(params, spec.mask_shapes)
    ask, tell = _jitted(ec)
    key = jax.random.PRNGKey(seed)
    norm = Normalizer.identity(spec.obs_dim)
    env_factory = functools.partial(make_env, env, spec, brax_backend)
    rows: list[dict[str, Any]] = []
    for g in range(generations):
        t0 = time.perf_counter()
        theta = ask(state, jax.random.fold_in(key, g), population)
        theta_np = {k: np.asarray(v) for k, v in theta.items()}
        members = [{k: theta_np[k][i] for k in spec.mask_shapes} for i in range(population)]
        t1 = time.perf_counter()
        pop = runner.call(score_population, env_factory, members, norm, seed=generation_seed(seed, g),
                          max_steps=max_steps)
        t2 = time.perf_counter()
        state, metrics = tell(params, state, theta, jnp.asarray(pop.fitness, jnp.float32))
        if normalize:
            norm = norm.update(pop.final_obs)
        row = {
            "generation": g,
            "fitness": [float(f) for f in pop.fitness],
            "mean": float(np.mean(pop.fitness)),
            "max": float(np.max(pop.fitness)),
            "horizon": int(pop.horizon),
            "reruns": int(pop.reruns),
            "env_steps": int(pop.timer.env_steps),
            **{k: float(v) for k, v in metrics.items()},
            "score_s": t2 - t1,
            "ec_s": (t1 - t0) + (time.perf_counter() - t2),
        }
        rows.append(row)
        if progress is not None:
            progress(row)
    rho = {k: np.asarray(v, np.float32) for k, v in state.rho.items()}
    return TrainResult(rows, rho, norm)


def save_run(out: str | Path, result: TrainResult, spec: Spec, env: str, backend: str, seed: int,
             config: dict[str, Any]) -> Path:
    """``metrics.jsonl`` and ``best/`` (ρ > 0.5 masks, ρ, normalizer, manifest) under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.rows))
    masks = {k: v > 0.5 for k, v in result.rho.items()}
    manifest = base_manifest(spec, "artifact", env=env, seed=seed, generation=len(result.rows),
                             scored_on=backend, trainer="evoconn train-core", config=config)
    return save_artifact(out / "best", Artifact(spec=spec, masks=masks, probs=result.rho,
                                                normalizer=result.normalizer, manifest=manifest))
