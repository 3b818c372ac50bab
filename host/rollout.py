"""Rollouts on any :class:`~evoconn.host.core.Core`: the float boundary, episodes, population scoring.

The float boundary is crossed here and only here: an observation is normalized with the
artifact's :class:`~evoconn.artifact.Normalizer`, quantized by :meth:`Spec.quantize_obs`, stepped
through the core as integers, and the integer outputs become an action by
:meth:`Spec.action_from_output`.

Population scoring follows the paper's fitness rules (arXiv 2305.17650 and its official code, ``ec.py``)
as the trainer implements them (``evoconn.training.rollout``):

- the generation runs until every member has finished at least one episode (an episode ends when
  the env says so or after ``max_steps``), so every member runs for the same horizon
  ``T = max_i(length of member i's first episode)``;
- fitness is the mean return over the episodes a member completed within T;
- member i restarts from entry i of a reset pool drawn once per run (here: a reset seed);
- the network state carries across those restarts; the initial membrane is drawn per member,
  uniform in [0, 1) (integers in [0, 2**F)).

One core holds one member at a time, so members run one after another. T is only known when the
last member's first episode ends; a member that stopped at a smaller horizon is run again from
scratch to T (cores and environments are deterministic, so the first steps repeat exactly). The
running horizon makes that rare: once a member reaches the cap, nobody is run again.

Environments: Gymnasium (numpy) everywhere, Brax where JAX exists; both imported lazily.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from evoconn.artifact import Normalizer
from evoconn.host.core import Core, CoreError, MissingDependency
from evoconn.spec import Spec, prng

__all__ = [
    "BraxEnv",
    "Env",
    "EpisodeResult",
    "GymEnv",
    "ObservationError",
    "PopulationResult",
    "RolloutJob",
    "RolloutTimer",
    "deterministic_masks",
    "make_env",
    "run_episodes",
    "run_job",
    "sample_masks",
    "score_population",
]

BRAX_ENVS = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
             "inverted_double_pendulum", "pusher", "reacher", "walker2d")


class ObservationError(CoreError, ValueError):
    """An environment returned an observation the core cannot take (NaN or inf)."""


# =====================================================================================
# Environments
# =====================================================================================


class Env(Protocol):
    """What the episode loop needs of an environment (numpy in, numpy out)."""

    name: str
    obs_dim: int
    act_dim: int

    def reset(self, seed: int) -> np.ndarray: ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """``(obs, reward, terminated, truncated)``."""


class GymEnv:
    """A Gymnasium environment with actions in [-1, 1]^a.

    Box actions are scaled from [-1, 1] to the space's bounds. Discrete(n) actions take the argmax
    of the a = n outputs, or, for n = 2 and a = 1, the sign of the one output.
    """

    def __init__(self, name: str, **kwargs: Any):
        try:
            import gymnasium
        except ImportError as e:
            raise MissingDependency(f"Gymnasium environments need gymnasium ({e}); pip install "
                                    "'evoconn[board]' (or 'evoconn[dev]')") from None
        try:
            self.env = gymnasium.make(name, **kwargs)
        except Exception as e:  # gymnasium raises several types for unknown or broken ids
            raise ValueError(f"cannot make Gymnasium env {name!r}: {e}") from None
        self.name = name
        obs_space, act_space = self.env.observation_space, self.env.action_space
        self.obs_dim = int(np.prod(obs_space.shape))
        self._discrete = None
        if hasattr(act_space, "n"):
            self._discrete = int(act_space.n)
            self.act_dim = 1 if self._discrete == 2 else self._discrete
        else:
            self.act_dim = int(np.prod(act_space.shape))
            lo, hi = np.asarray(act_space.low, np.float64), np.asarray(act_space.high, np.float64)
            self._lo = np.where(np.isfinite(lo), lo, -1.0)
            self._hi = np.where(np.isfinite(hi), hi, 1.0)
            self._shape = act_space.shape
            self._dtype = act_space.dtype

    def accepts(self, act_dim: int) -> bool:
        if self._discrete is not None:
            return act_dim == self._discrete or (self._discrete == 2 and act_dim == 1)
        return act_dim == self.act_dim

    def _action(self, a: np.ndarray) -> Any:
        if self._discrete is not None:
            return int(a[0] > 0) if a.size == 1 else int(np.argmax(a))
        x = self._lo + (np.asarray(a, np.float64) + 1.0) * 0.5 * (self._hi - self._lo)
        return x.reshape(self._shape).astype(self._dtype)

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=int(seed))
        return np.asarray(obs, np.float64).ravel()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        obs, r, term, trunc, _ = self.env.step(self._action(action))
        return np.asarray(obs, np.float64).ravel(), float(r), bool(term), bool(trunc)


class BraxEnv:
    """A Brax environment, one instance, reset and step jitted once (needs JAX and Brax)."""

    def __init__(self, name: str, backend: str = "positional"):
        try:
            import jax
            from brax import envs
        except ImportError as e:
            raise MissingDependency(f"Brax environments need jax and brax ({e}); pip install "
                                    "'evoconn[train]', or use a Gymnasium env on the board") from None
        self._jax = jax
        try:
            self.env = envs.get_environment(name, backend=backend)
        except Exception as e:  # brax raises KeyError/ValueError for unknown names and backends
            raise ValueError(f"cannot make Brax env {name!r} with backend {backend!r}: {e}") from None
        self.name = f"brax:{name}"
        self.obs_dim = int(self.env.observation_size)
        self.act_dim = int(self.env.action_size)
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self.env.step)
        self._state = None

    def accepts(self, act_dim: int) -> bool:
        return act_dim == self.act_dim

    def reset(self, seed: int) -> np.ndarray:
        self._state = self._reset(self._jax.random.PRNGKey(int(seed)))
        return np.asarray(self._state.obs, np.float64)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        self._state = self._step(self._state, np.asarray(action, np.float32))
        s = self._state
        return np.asarray(s.obs, np.float64), float(s.reward), bool(s.done > 0), False


def make_env(name: str, spec: Spec | None = None, brax_backend: str = "positional") -> Env:
    """``brax:NAME`` or a bare Brax name (hopper, walker2d, ...) makes a :class:`BraxEnv`; anything
    else (``gym:ID`` or a bare id such as ``Pendulum-v1``) a :class:`GymEnv`. With ``spec``, the
    env's sizes are checked against it (naming both)."""
    if name.startswith("brax:") or name in BRAX_ENVS:
        env: Any = BraxEnv(name.removeprefix("brax:"), brax_backend)
    else:
        env = GymEnv(name.removeprefix("gym:"))
    if spec is not None and (env.obs_dim != spec.obs_dim or not env.accepts(spec.act_dim)):
        raise ValueError(
            f"env {name!r} has observation size {env.obs_dim} and action size {env.act_dim}; "
            f"the network has d={spec.obs_dim} inputs and a={spec.act_dim} outputs")
    return env


# =====================================================================================
# Time accounting
# =====================================================================================


@dataclasses.dataclass
class RolloutTimer:
    """Wall-clock seconds of the host side: environment steps, the float boundary, in total."""

    env_step: float = 0.0
    boundary: float = 0.0  #: normalize, quantize, make the action
    core: float = 0.0  #: inside Core.load_masks/reset_state/step (the core's stats split it)
    total: float = 0.0
    env_steps: int = 0
    episodes: int = 0
    members: int = 0


def _policy_step(core: Core, norm: Normalizer, obs: np.ndarray, timer: RolloutTimer,
                 where: str) -> np.ndarray:
    t0 = time.perf_counter()
    spec = core.spec
    x = norm.normalize(obs)
    try:
        xq = spec.quantize_obs(x)
    except ValueError as e:
        raise ObservationError(f"{where}: observation {obs.tolist()} cannot go to the core: {e}") from None
    t1 = time.perf_counter()
    out = core.step(xq)
    t2 = time.perf_counter()
    action = spec.action_from_output(out)
    t3 = time.perf_counter()
    timer.boundary += (t1 - t0) + (t3 - t2)
    timer.core += t2 - t1
    return action


# =====================================================================================
# Episodes of one member
# =====================================================================================


@dataclasses.dataclass
class EpisodeResult:
    returns: list[float]  #: return of every completed episode
    lengths: list[int]
    steps: int  #: env steps run in all
    final_obs: np.ndarray  #: the observation the member would see next


def _member_run(core: Core, env: Env, norm: Normalizer, reset_seed: int, max_steps: int,
                timer: RolloutTimer, horizon: int | None = None, episodes: int | None = None,
                label: str = "") -> EpisodeResult:
    """Run one (already loaded and reset) member: until ``episodes`` episodes completed, or until
    ``horizon`` env steps and at least one episode, restarting from ``reset_seed`` each time."""
    t0 = time.perf_counter()
    obs = env.reset(reset_seed)
    timer.env_step += time.perf_counter() - t0
    returns: list[float] = []
    lengths: list[int] = []
    ret, length, t = 0.0, 0, 0
    while True:
        if episodes is not None and len(returns) >= episodes:
            break
        if horizon is not None and t >= horizon and returns:
            break
        where = f"{label}episode {len(returns)}, step {length}"
        action = _policy_step(core, norm, obs, timer, where)
        t0 = time.perf_counter()
        obs, r, term, trunc = env.step(action)
        ret += r
        length += 1
        t += 1
        if term or trunc or length >= max_steps:
            returns.append(ret)
            lengths.append(length)
            ret, length = 0.0, 0
            obs = env.reset(reset_seed)
        timer.env_step += time.perf_counter() - t0
    timer.env_steps += t
    timer.episodes += len(returns)
    return EpisodeResult(returns, lengths, t, np.asarray(obs, np.float64))


def initial_membrane(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """v uniform in [0, 1): integers in [0, 2**F) (the trainer's ``init_carry``)."""
    return rng.integers(0, spec.threshold, spec.n_neurons, dtype=np.int64)


def run_episodes(core: Core, env: Env, masks: dict[str, np.ndarray], normalizer: Normalizer | None,
                 episodes: int, seed: int = 0, max_steps: int = 1000,
                 timer: RolloutTimer | None = None) -> EpisodeResult:
    """``episodes`` episodes of one network, state carried across them (the paper's rule)."""
    timer = timer if timer is not None else RolloutTimer()
    norm = normalizer if normalizer is not None else Normalizer.identity(core.spec.obs_dim)
    rng = np.random.default_rng(seed)
    reset_seed = int(rng.integers(0, 2**31 - 1))
    v0 = initial_membrane(core.spec, rng)
    t0 = time.perf_counter()
    core.load_masks(masks)
    core.reset_state(v0)
    timer.core += time.perf_counter() - t0
    res = _member_run(core, env, norm, reset_seed, max_steps, timer, episodes=episodes)
    timer.members += 1
    timer.total += time.perf_counter() - t0
    return res


# =====================================================================================
# Population scoring
# =====================================================================================


def sample_masks(probs: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """``n`` members drawn as ``uniform < ρ`` for every mask entry."""
    return [{k: rng.random(np.shape(p)) < np.asarray(p) for k, p in probs.items()} for _ in range(n)]


def deterministic_masks(probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The evaluation member: ``ρ > 0.5``."""
    return {k: np.asarray(p) > 0.5 for k, p in probs.items()}


@dataclasses.dataclass
class PopulationResult:
    fitness: np.ndarray  #: (n,) mean return over completed episodes
    episodes: np.ndarray  #: (n,) episodes completed within the horizon
    horizon: int  #: env steps every member ran (T)
    final_obs: np.ndarray  #: (n, d), for the normalizer update
    reruns: int  #: members run again from scratch to reach T
    timer: RolloutTimer


def draw_members(members: Any, n: int | None, rng: np.random.Generator) -> list[Any]:
    """``members`` as a list: given ρ (a dict of probabilities), ``n`` members sampled from ``rng``
    (the first draw of a population's ``rng``, before :func:`episode_starts`)."""
    if isinstance(members, dict):
        if n is None:
            raise ValueError("score_population with probabilities needs n, the number of members")
        members = sample_masks(members, n, rng)
    members = list(members)
    if not members:
        raise ValueError("score_population needs at least one member")
    return members


def episode_starts(spec: Spec, rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The reset seeds (the reset pool, once per run) and initial membranes of ``count`` members,
    drawn from ``rng`` after the members themselves: the one draw every scorer of a population
    shares (this module's, the farm's), so the same call gives the same fitness everywhere."""
    reset_seeds = rng.integers(0, 2**31 - 1, count)
    return reset_seeds, [initial_membrane(spec, rng) for _ in range(count)]


def sampled_v0(spec: Spec, v0s: list[np.ndarray], sampled: Any) -> list[np.ndarray]:
    """``v0s`` with the members of ``sampled = (rho, keys)`` given their key's initial membrane
    (what CONTROL.SAMPLE writes): the one rule every scorer of a population follows."""
    if sampled is None:
        return v0s
    keys = np.asarray(sampled[1], np.uint32).reshape(-1, 2)
    out = list(v0s)
    for i, key in enumerate(keys[:len(out)]):
        out[i] = prng.initial_membrane(key, spec.n_neurons, spec.state_frac)
    return out


def _load_sampled(core: Core, members: list[Any], sampled: Any, timer: RolloutTimer) -> np.ndarray:
    """The member keys of ``sampled`` (rho loaded into the core), or no keys."""
    if sampled is None:
        return np.zeros((0, 2), np.uint32)
    rho, keys = sampled
    keys = np.asarray(keys, np.uint32).reshape(-1, 2)
    if len(keys) > len(members):
        raise ValueError(f"{len(keys)} member keys for {len(members)} members")
    if len(keys):
        first = prng.sample_masks(rho, keys[0])
        if any(not np.array_equal(first[k], np.asarray(members[0][k], bool)) for k in first):
            raise ValueError("sampled: member 0's masks are not sample_masks(rho, keys[0]); the keys or rho "
                             "are not the ones the members were drawn with")
        t0 = time.perf_counter()
        core.load_rho({k: np.asarray(v) for k, v in rho.items()})
        timer.core += time.perf_counter() - t0
    return keys


def score_population(core: Core, env: Env | Callable[[], Env],
                     members: Sequence[dict[str, np.ndarray]] | dict[str, np.ndarray],
                     normalizer: Normalizer | None = None, seed: int = 0, n: int | None = None,
                     max_steps: int = 1000, timer: RolloutTimer | None = None,
                     sampled: tuple[dict[str, np.ndarray], np.ndarray] | None = None) -> PopulationResult:
    """Fitness of every member under the paper's rules (see the module doc).

    ``members`` is a list of mask dicts, or ρ (a dict of probabilities) with ``n`` members to
    sample from ``seed``. The reset pool and initial membranes come from ``seed`` too, so the
    same call gives the same fitness vector on every backend.

    ``sampled = (rho, keys)`` says that members ``i < len(keys)`` are
    ``evoconn.spec.prng.sample_masks(rho, keys[i])`` (EC's members): the core is given rho once
    (:meth:`~evoconn.host.core.Core.load_rho`) and each of those members by its key
    (:meth:`~evoconn.host.core.Core.sample`, on-chip sampling on a core: 12 bytes on the bus)
    instead of its masks and initial membrane, so its v0 is the key's
    (``prng.initial_membrane(keys[i])``, which the fill writes) instead of the one drawn from
    ``seed``; the members after them (the evaluation copies) are written as masks and v0 as usual.
    The first sampled member's masks are checked against ``members[0]``.
    """
    timer = timer if timer is not None else RolloutTimer()
    t_start = time.perf_counter()
    spec = core.spec
    rng = np.random.default_rng(seed)
    members = draw_members(members, n, rng)
    count = len(members)
    env_ = env() if callable(env) and not hasattr(env, "step") else env
    norm = normalizer if normalizer is not None else Normalizer.identity(spec.obs_dim)
    reset_seeds, v0s = episode_starts(spec, rng, count)
    v0s = sampled_v0(spec, v0s, sampled)  # (the run below does not write them: the fill does)
    keys = _load_sampled(core, members, sampled, timer)

    def run(i: int, horizon: int) -> EpisodeResult:
        t0 = time.perf_counter()
        if i < len(keys):
            core.sample(keys[i])  # the masks and v0 of the key, filled by the core; state zeroed
        else:
            core.load_masks(members[i])
            core.reset_state(v0s[i])
        timer.core += time.perf_counter() - t0
        return _member_run(core, env_, norm, int(reset_seeds[i]), max_steps, timer, horizon=horizon,
                           label=f"member {i}, ")

    results: list[EpisodeResult] = []
    ran_to: list[int] = []
    horizon = 0
    for i in range(count):
        res = run(i, horizon)
        horizon = max(horizon, res.lengths[0])
        results.append(res)
        ran_to.append(res.steps)
    reruns = 0
    for i in range(count):
        if ran_to[i] < horizon:
            results[i] = run(i, horizon)
            reruns += 1
    # count only the episodes completed within the horizon
    fitness, n_eps = np.zeros(count), np.zeros(count, dtype=np.int64)
    for i, res in enumerate(results):
        ends = np.cumsum(res.lengths)
        done = [r for r, e in zip(res.returns, ends, strict=True) if e <= horizon]
        fitness[i] = float(np.mean(done))
        n_eps[i] = len(done)
    timer.members += count
    timer.total += time.perf_counter() - t_start
    final = np.stack([r.final_obs for r in results])
    return PopulationResult(fitness, n_eps, horizon, final, reruns, timer)


# =====================================================================================
# A rollout job: what `evoconn rollout` runs on a core
# =====================================================================================


@dataclasses.dataclass
class RolloutJob:
    """What ``evoconn rollout`` runs on a core: episodes of the best masks, or a sampled population.

    Picklable, so the rtl backend runs it inside the simulator's process (environment included);
    calling it on a core returns ``(result dict, RolloutTimer, runtime seconds)``.
    """

    env: str
    brax_backend: str
    masks: dict[str, Any]
    probs: dict[str, Any] | None
    normalizer: Any
    episodes: int
    population: int
    seed: int
    max_steps: int

    def __call__(self, core: Any) -> tuple[dict[str, Any], RolloutTimer, float]:
        env = make_env(self.env, core.spec, self.brax_backend)
        timer = RolloutTimer()
        t0 = time.perf_counter()
        if self.population:
            pop = score_population(core, env, self.probs, self.normalizer, seed=self.seed,
                                   n=self.population, max_steps=self.max_steps, timer=timer)
            result: dict[str, Any] = {"fitness": pop.fitness.tolist(), "episodes": pop.episodes.tolist(),
                                      "horizon": pop.horizon, "reruns": pop.reruns}
        else:
            ep = run_episodes(core, env, self.masks, self.normalizer, self.episodes, seed=self.seed,
                              max_steps=self.max_steps, timer=timer)
            result = {"returns": ep.returns, "lengths": ep.lengths}
        return result, timer, time.perf_counter() - t0


def run_job(core: Any, job: RolloutJob) -> tuple[dict[str, Any], RolloutTimer, float, Any]:
    """``job(core)`` and the core's stats (the function the rtl backend sends to the simulator)."""
    result, timer, runtime = job(core)
    return result, timer, runtime, core.stats
