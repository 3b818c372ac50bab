"""A board farm: population scoring spread over boards, each board a Dask ``distributed`` worker.

The trainer (a workstation) holds a :class:`Farm`, a Dask client of a scheduler; every board runs
``evoconn farm worker --scheduler ADDR --backend pynq --overlay core.bit``, a plain
``distributed.Worker`` with one thread and the resource ``fpga=1``, so that member-scoring tasks
(submitted with ``resources={"fpga": 1}``) go to boards and nowhere else. The worker holds its core
in a :class:`BoardPlugin` (a ``distributed.WorkerPlugin``): the overlay is loaded once, when the
worker starts, and closed when it stops.

:func:`score_population` has the signature and the semantics of
:func:`evoconn.host.rollout.score_population`, with the farm in place of the core: the same call
gives the same :class:`~evoconn.host.rollout.PopulationResult` (fitness, episodes, horizon, final
observations), bit for bit, on one local core or on any number of boards. One generation:

- the generation's context (spec, environment factory, observation normalizer, episode cap, and ρ
  when members are sent as seeds) goes to the farm once, as one task (:func:`generation_context`)
  that every member task depends on: it runs on one board and every other board fetches its result
  once, from a board that holds it, and keeps it for the generation. It is a task rather than
  ``Client.scatter`` data because Dask cannot recover scattered data whose holders died (seen
  here: a SIGKILLed worker that held the only registered copy failed every later member); a
  task's result is recomputed;
- each member is one task whose payload is a small work item: its index, its reset seed, its
  initial membrane and either its packed masks (today) or a sampling seed (:class:`SeededMembers`,
  sampled where the member is scored; the form on-chip sampling will take);
- results are gathered with ``distributed.as_completed``, keeping a window of tasks in flight (two
  per board) so that tasks submitted later start from the horizon known so far, as the local loop
  does (the running horizon);
- the paper's horizon T (every member runs until all have finished a first episode) is only known
  when every first episode has ended; members that stopped short of T are run again to T (a second
  round of tasks), exactly as the local loop reruns them.

A member's result is a function of its masks, reset seed, initial membrane and T alone (cores and
environments are deterministic; a member starts from a reset core with its own state), so it does
not depend on which board scored it, in which order, or how many times. A worker that dies
mid-generation (its process killed, the board unplugged) leaves its tasks to the scheduler, which
reschedules them on the other boards (``distributed``'s own recovery; ``retries`` covers a task that
raised); the result is the same as a run without the failure. Only ``reruns`` (and the timer) can
differ from the local loop's: it counts the members run again on the farm.

Imports numpy and the standard library at module level; ``distributed`` when a farm or a worker is
made (``import evoconn.host`` does not import this module).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evoconn.artifact import Normalizer
from evoconn.host.core import CoreError, IdentityError, MissingDependency
from evoconn.host.rollout import (
    Env,
    EpisodeResult,
    PopulationResult,
    RolloutTimer,
    _member_run,
    draw_members,
    episode_starts,
    make_env,
    sampled_v0,
)
from evoconn.spec import Spec

__all__ = [
    "FPGA",
    "PLUGIN_NAME",
    "BoardPlugin",
    "BoardStats",
    "Farm",
    "FarmError",
    "FarmResult",
    "FarmRunner",
    "SeededMembers",
    "format_board_report",
    "run_member",
    "sample_member",
    "score_population",
    "serve_worker",
]

#: The worker resource that marks a board; member tasks ask for one unit of it.
FPGA = "fpga"
#: The name the board's plugin is registered under on its worker.
PLUGIN_NAME = "evoconn-board"
BACKENDS = ("fake", "rtl", "pynq")
FARM_HINT = "pip install 'evoconn[farm]' (on a board: 'evoconn[board]')"


class FarmError(CoreError):
    """The farm cannot score: no scheduler, no board, or a task that failed everywhere."""


def import_distributed():
    try:
        import distributed
    except ImportError as e:
        raise MissingDependency(f"the board farm needs dask distributed ({e}); {FARM_HINT}") from None
    return distributed


# =====================================================================================
# Work items and the generation's context
# =====================================================================================


@dataclasses.dataclass(frozen=True)
class SeededMembers:
    """Members given as seeds: member i is :func:`sample_member` ``(rho, seeds[i])``.

    Sent to a farm, ρ travels once (in the generation's context) and each task carries one seed;
    :meth:`masks` gives the same members for the local :func:`~evoconn.host.rollout.score_population`.
    """

    rho: dict[str, np.ndarray]
    seeds: Sequence[int]

    def __len__(self) -> int:
        return len(self.seeds)

    def masks(self) -> list[dict[str, np.ndarray]]:
        return [sample_member(self.rho, int(s)) for s in self.seeds]


def sample_member(rho: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """One member from its own seed: ``uniform < ρ`` per entry, keys in sorted order."""
    rng = np.random.default_rng(int(seed))
    return {k: rng.random(np.shape(rho[k])) < np.asarray(rho[k]) for k in sorted(rho)}


@dataclasses.dataclass
class Context:
    """What every member of one generation shares; sent to each board once per generation."""

    spec: Spec
    env: Callable[[], Env]  #: a picklable factory (functools.partial of make_env, or an env name)
    env_key: str  #: identifies the factory, for the worker's cache of environments
    normalizer: Normalizer
    max_steps: int
    rho: dict[str, np.ndarray] | None = None  #: with seeded members


@dataclasses.dataclass
class WorkItem:
    """One member's payload: packed masks today, or a seed (ρ in the context)."""

    index: int
    reset_seed: int
    v0: np.ndarray
    packed: dict[str, np.ndarray] | None = None
    seed: int | None = None

    def masks(self, ctx: Context) -> dict[str, np.ndarray]:
        if self.seed is not None:
            if ctx.rho is None:
                raise FarmError(f"member {self.index} came as a seed, but the generation sent no rho")
            return sample_member(ctx.rho, self.seed)
        assert self.packed is not None
        shapes = ctx.spec.mask_shapes
        return {k: np.unpackbits(self.packed[k], count=int(np.prod(shapes[k]))).reshape(shapes[k]).astype(bool)
                for k in self.packed}


def _pack(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.packbits(np.asarray(m, dtype=bool).ravel()) for k, m in masks.items()}


@dataclasses.dataclass
class MemberScore:
    """What a member task sends back."""

    index: int
    result: EpisodeResult
    timer: RolloutTimer
    worker: str  #: the board's name (its worker's name)
    backend: str  #: the board's backend: pynq, fake or rtl
    wall_s: float  #: seconds the task ran on the board


# =====================================================================================
# The board: the worker side
# =====================================================================================

_ENVS: dict[tuple[int, str], Env] = {}


def _env_for(ctx: Context) -> Env:
    """The context's environment, made once per thread (a worker thread, or the simulator's)."""
    key = (threading.get_ident(), ctx.env_key)
    env = _ENVS.get(key)
    if env is None:
        env = _ENVS[key] = ctx.env()
    return env


def run_member(core: Any, ctx: Context, item: WorkItem, horizon: int) -> tuple[EpisodeResult, RolloutTimer]:
    """Score one member on ``core`` to ``horizon`` (the local loop's ``run``; runs on the board, or
    inside the RTL simulator's process)."""
    timer = RolloutTimer()
    env = _env_for(ctx)
    t0 = time.perf_counter()
    core.load_masks(item.masks(ctx))
    core.reset_state(item.v0)
    timer.core += time.perf_counter() - t0
    res = _member_run(core, env, ctx.normalizer, item.reset_seed, ctx.max_steps, timer, horizon=horizon,
                      label=f"member {item.index}, ")
    return res, timer


class _Local:
    """A core in this process, called as an RtlSession is."""

    def __init__(self, core: Any):
        self.core = core

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.core, *args, **kwargs)


class Board:
    """One board's core(s): ``runner(spec)`` gives something with ``call(fn, *args)`` for that spec.

    ``pynq``: the overlay's core, opened once; a spec other than the bitstream's is refused.
    ``fake``: the in-memory core model, made per spec on first use. ``rtl``: one simulator session
    per spec (the exported Verilog under cocotb), started on first use, kept until the worker stops.
    """

    def __init__(self, backend: str, *, lanes: int | None = None, overlay: str | None = None, ip: str | None = None,
                 timeout: float = 1.0, verify: bool = False):
        if backend not in BACKENDS:
            raise ValueError(f"unknown board backend {backend!r}; one of {', '.join(BACKENDS)}")
        if backend == "pynq" and not overlay:
            raise ValueError("a pynq board needs the overlay (.bit with its .hwh beside it)")
        self.backend, self.lanes, self.overlay, self.ip = backend, lanes, overlay, ip
        self.timeout, self.verify = timeout, verify
        self._runners: dict[str, Any] = {}
        self._close: list[Callable[[], Any]] = []
        self._lock = threading.Lock()
        self._core: Any = None

    def open(self) -> Board:
        """Load the overlay (pynq); the other backends make their core on first use."""
        if self.backend == "pynq":
            from evoconn.host.cli import open_board
            from evoconn.host.core import RegisterCore

            _, bus, _ = open_board(self.overlay, self.ip)
            self._core = RegisterCore(bus, None, verify=self.verify, timeout=self.timeout)
        return self

    @property
    def spec(self) -> Spec | None:
        return None if self._core is None else self._core.spec

    def runner(self, spec: Spec) -> Any:
        with self._lock:
            if spec.hash in self._runners:
                return self._runners[spec.hash]
            from evoconn.host.backends import core_lanes
            from evoconn.host.bus import FakeBus
            from evoconn.host.core import RegisterCore

            if self.backend == "pynq":
                if self._core.spec.hash != spec.hash:
                    raise IdentityError(
                        f"this board's core has spec hash 0x{self._core.spec.hash32:08x} "
                        f"(N={self._core.spec.n_neurons}, d={self._core.spec.obs_dim}, a={self._core.spec.act_dim}), "
                        f"the farm asks for 0x{spec.hash32:08x} (N={spec.n_neurons}, d={spec.obs_dim}, "
                        f"a={spec.act_dim}): flash the bitstream built for the trained network")
                run: Any = _Local(self._core)
            elif self.backend == "fake":
                core = RegisterCore(FakeBus(spec, lanes=core_lanes(spec, self.lanes)), spec, verify=self.verify,
                                    timeout=self.timeout)
                run = _Local(core)
            else:
                from evoconn.host.rtl import RtlSession

                run = RtlSession(spec, core_lanes(spec, self.lanes), verify=self.verify,
                                 timeout=max(self.timeout, 60.0)).start()
                self._close.append(run.close)
            self._runners[spec.hash] = run
            return run

    def close(self) -> None:
        while self._close:
            with contextlib.suppress(Exception):  # a simulator that already ended: nothing to release
                self._close.pop()()


class BoardPlugin:
    """The ``distributed.WorkerPlugin`` holding a worker's opened :class:`Board` (``worker.plugins``);
    the board is closed when the worker stops."""

    name = PLUGIN_NAME

    def __init__(self, board: Board):
        self.board = board

    def setup(self, worker: Any) -> None:
        pass

    def teardown(self, worker: Any) -> None:
        self.board.close()


def _board_plugin_class():
    distributed = import_distributed()

    class _Plugin(BoardPlugin, distributed.WorkerPlugin):
        pass

    _Plugin.__name__ = _Plugin.__qualname__ = "BoardPlugin"
    return _Plugin


def generation_context(ctx: Context) -> Context:
    """The task that holds a generation's context on the farm (recomputed if its holders die)."""
    return ctx


def score_member(ctx: Context, item: WorkItem, horizon: int) -> MemberScore:
    """The member task: runs on a board's worker (``resources={"fpga": 1}``)."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is None or plugin.board is None:
        raise FarmError(f"worker {worker.name} offers {FPGA} but holds no board: start it with "
                        "`evoconn farm worker`")
    t0 = time.perf_counter()
    res, timer = plugin.board.runner(ctx.spec).call(run_member, ctx, item, horizon)
    return MemberScore(item.index, res, timer, str(worker.name), plugin.board.backend, time.perf_counter() - t0)


async def _serve(scheduler: str, board: Board, name: str | None, host: str | None, resources: float,
                 death_timeout: float | None, started: Callable[[Any], None] | None):
    import signal

    distributed = import_distributed()
    plugin = _board_plugin_class()(board)
    worker = distributed.Worker(scheduler, nthreads=1, resources={FPGA: resources}, name=name, host=host,
                                death_timeout=death_timeout, plugins={plugin}, dashboard=False,
                                memory_limit=0)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with worker:
        if started is not None:
            started(worker)
        done = asyncio.ensure_future(worker.finished())
        halt = asyncio.ensure_future(stop.wait())
        await asyncio.wait({done, halt}, return_when=asyncio.FIRST_COMPLETED)
        for f in (done, halt):
            f.cancel()
    return worker


def serve_worker(scheduler: str, backend: str = "pynq", *, name: str | None = None, host: str | None = None,
                 resources: float = 1, death_timeout: float | None = 60.0,
                 started: Callable[[Any], None] | None = None, **options: Any) -> None:
    """Run a board's worker until the scheduler goes away or the process is told to stop.

    One thread (a board runs one member at a time), ``fpga=resources``, the board in a
    :class:`BoardPlugin`. ``options`` go to :class:`Board` (lanes, overlay, ip, timeout, verify).
    """
    import_distributed()
    board = Board(backend, **options).open()  # a bad overlay fails here, before joining the farm
    try:
        asyncio.run(_serve(scheduler, board, name, host, resources, death_timeout, started))
    finally:
        board.close()


# =====================================================================================
# The trainer side
# =====================================================================================


@dataclasses.dataclass
class BoardStats:
    """One board's share of a scoring call."""

    backend: str = ""  #: pynq, fake or rtl
    tasks: int = 0  #: member tasks it finished (reruns included)
    env_steps: int = 0
    busy_s: float = 0.0  #: seconds its tasks ran

    @property
    def steps_per_s(self) -> float | None:
        return self.env_steps / self.busy_s if self.busy_s else None


@dataclasses.dataclass
class FarmResult(PopulationResult):
    """:class:`~evoconn.host.rollout.PopulationResult` and who scored what."""

    scored_by: list[str] = dataclasses.field(default_factory=list)  #: board of member i's final run
    boards: dict[str, BoardStats] = dataclasses.field(default_factory=dict)
    wall_s: float = 0.0


class Farm:
    """A Dask client of a board farm's scheduler.

    Parameters
    ----------
    scheduler:
        ``tcp://HOST:PORT`` of a ``dask scheduler``, or a ``distributed.Client`` (not closed by us).
    resource:
        The worker resource that marks a board (default ``fpga``).
    retries:
        Times a member task that raised is tried again (``Client.submit(retries=...)``); a task on a
        worker that died is rescheduled by the scheduler whatever this is.
    per_board:
        Member tasks kept in flight per board (the window of the running horizon).
    wait_s:
        Seconds to wait for at least one board to join before scoring.
    spec:
        The network the boards run (what a core knows of itself locally); :func:`score_population`
        takes it from here unless given one.
    progress:
        Called after every finished member task with a dict: ``phase`` (1: first episodes, 2: reruns
        to the horizon), ``done``, ``total``, ``worker``, ``index``, ``horizon``, ``boards`` (tasks per board).
    """

    def __init__(self, scheduler: Any, *, resource: str = FPGA, retries: int = 1, per_board: int = 2,
                 wait_s: float = 60.0, progress: Callable[[dict[str, Any]], None] | None = None,
                 timeout: float = 30.0, spec: Spec | None = None):
        distributed = import_distributed()
        self._own = not isinstance(scheduler, distributed.Client)
        if self._own:
            try:
                self.client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise FarmError(f"cannot reach the farm's scheduler at {scheduler}: {e}") from None
        else:
            self.client = scheduler
        self.resource, self.retries, self.per_board, self.wait_s = resource, retries, per_board, wait_s
        self.progress = progress
        self.spec = spec

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.client.close()

    # --- boards -------------------------------------------------------------------------------
    def boards(self) -> dict[str, float]:
        """``{worker address: resource units}`` of the workers that offer the board resource."""
        info = self.client.scheduler_info(n_workers=-1)
        return {a: float(w.get("resources", {}).get(self.resource, 0))
                for a, w in info["workers"].items() if w.get("resources", {}).get(self.resource, 0) > 0}

    def wait_for_boards(self, n: int = 1) -> dict[str, float]:
        deadline = time.monotonic() + self.wait_s
        while True:
            b = self.boards()
            if len(b) >= n:
                return b
            if time.monotonic() > deadline:
                raise FarmError(f"no worker offering {self.resource!r} joined the scheduler within "
                                f"{self.wait_s:g} s; start boards with `evoconn farm worker --scheduler ...`")
            time.sleep(0.2)

    # --- scoring ------------------------------------------------------------------------------
    def score_population(self, env: Any, members: Any, normalizer: Normalizer | None = None, seed: int = 0,
                         n: int | None = None, max_steps: int = 1000, timer: RolloutTimer | None = None,
                         spec: Spec | None = None) -> FarmResult:
        """:func:`score_population` on this farm."""
        return score_population(self, env, members, normalizer, seed=seed, n=n, max_steps=max_steps,
                                timer=timer, spec=spec)


class FarmRunner:
    """A :class:`Farm` with the ``call(fn, *args, **kwargs)`` convention of the Core-scored loop's
    runners (:class:`evoconn.host.train_core.LocalRunner`, :class:`~evoconn.host.rtl.RtlSession`):
    ``call(rollout.score_population, env, members, ...)`` scores on the farm. ``spec`` is the
    network's (the loop's runners know it from their core)."""

    def __init__(self, farm: Farm, spec: Spec | None = None):
        self.farm, self.spec = farm, spec if spec is not None else farm.spec

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from evoconn.host import rollout

        if fn is not rollout.score_population and fn is not score_population:
            raise TypeError(f"a farm runs population scoring only, not {getattr(fn, '__name__', fn)!r}")
        return score_population(self.farm, *args, spec=self.spec, **kwargs)


def _env_factory(env: Any, spec: Spec) -> tuple[Callable[[], Env], str]:
    import functools

    if isinstance(env, str):
        return functools.partial(make_env, env, spec), f"name:{env}:{spec.hash}"
    if callable(env) and not hasattr(env, "step"):
        return env, f"factory:{env!r}"
    name = getattr(env, "name", None)
    if not name:
        raise ValueError("a farm builds the environment on every board: pass an env name or a picklable "
                         "factory (functools.partial(make_env, ...)), not an environment object")
    return functools.partial(make_env, name, spec), f"name:{name}:{spec.hash}"


def score_population(farm: Farm, env: Any, members: Any, normalizer: Normalizer | None = None, seed: int = 0,
                     n: int | None = None, max_steps: int = 1000, timer: RolloutTimer | None = None,
                     spec: Spec | None = None, sampled: Any = None) -> FarmResult:
    """:func:`evoconn.host.rollout.score_population` with a :class:`Farm` in place of the core.

    ``env`` is an env name or a picklable factory (boards build their own); ``members`` a list of
    mask dicts, ρ (with ``n``, sampled from ``seed`` as the local loop samples), or
    :class:`SeededMembers`. ``spec`` is the network's (default ``farm.spec``: locally the core
    knows it). The reset pool and initial membranes come from ``seed`` exactly as locally, so the
    result equals the local one. ``sampled = (rho, keys)`` (members ``i < len(keys)`` are EC's draws
    under those member keys) gives those members their key's v0, as locally; the farm still ships
    each member's packed masks and v0 (or :class:`SeededMembers`): its boards do not sample on chip
    yet.
    """
    spec = spec if spec is not None else getattr(farm, "spec", None)
    if spec is None:
        raise ValueError("score_population on a farm needs the network's spec: Farm(..., spec=) or spec=")
    timer = timer if timer is not None else RolloutTimer()
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    rho = None
    if isinstance(members, SeededMembers):
        rho = {k: np.asarray(v) for k, v in members.rho.items()}
        seeds = [int(s) for s in members.seeds]
        count = len(seeds)
        if count == 0:
            raise ValueError("score_population needs at least one member")
    else:
        members = draw_members(members, n, rng)
        count = len(members)
    norm = normalizer if normalizer is not None else Normalizer.identity(spec.obs_dim)
    reset_seeds, v0s = episode_starts(spec, rng, count)  # as the local loop draws them
    v0s = sampled_v0(spec, v0s, sampled)
    items = [WorkItem(i, int(reset_seeds[i]), v0s[i],
                      packed=None if rho is not None else _pack(members[i]),
                      seed=seeds[i] if rho is not None else None) for i in range(count)]
    factory, env_key = _env_factory(env, spec)
    ctx = Context(spec, factory, env_key, norm, int(max_steps), rho)

    client = farm.client
    boards = farm.wait_for_boards()
    token = uuid.uuid4().hex[:12]
    ctx_future = client.submit(generation_context, ctx, key=f"evoconn-context-{token}", pure=False)
    results: dict[int, MemberScore] = {}
    stats: dict[str, BoardStats] = {}
    submitted: list[Any] = []
    horizon = 0
    reruns = 0
    try:
        def run_phase(phase: int, todo: list[int], fixed: int | None) -> None:
            nonlocal horizon
            distributed = import_distributed()
            window = max(1, int(round(farm.per_board * sum(farm.boards().values() or boards.values()))))
            queue = list(todo)
            ac = distributed.as_completed(loop=client.loop)

            def submit() -> None:
                i = queue.pop(0)
                h = fixed if fixed is not None else horizon
                fut = client.submit(score_member, ctx_future, items[i], h, key=f"evoconn-member-{token}-{phase}-{i}",
                                    resources={farm.resource: 1}, retries=farm.retries, pure=False)
                submitted.append(fut)
                ac.add(fut)

            for _ in range(min(window, len(queue))):
                submit()
            for done, fut in enumerate(ac, 1):
                try:
                    score: MemberScore = fut.result()
                except distributed.KilledWorker as e:
                    raise FarmError(f"{fut.key}: every board that took it died ({e}); is a board crashing on "
                                    "it?") from None
                fut.release()
                results[score.index] = score
                if phase == 1:
                    horizon = max(horizon, score.result.lengths[0])
                st = stats.setdefault(score.worker, BoardStats(score.backend))
                st.tasks += 1
                st.env_steps += score.result.steps
                st.busy_s += score.wall_s
                for f in dataclasses.fields(RolloutTimer):
                    if f.name not in ("total", "members"):
                        setattr(timer, f.name, getattr(timer, f.name) + getattr(score.timer, f.name))
                if queue:
                    submit()
                if farm.progress is not None:
                    farm.progress({"phase": phase, "done": done, "total": len(todo), "worker": score.worker,
                                   "index": score.index, "horizon": horizon,
                                   "boards": {k: v.tasks for k, v in stats.items()}})

        run_phase(1, list(range(count)), None)
        short = [i for i in range(count) if results[i].result.steps < horizon]
        reruns = len(short)
        if short:
            run_phase(2, short, horizon)
    finally:  # nothing of this call stays on the farm, also when a member failed
        with contextlib.suppress(Exception):  # the scheduler may be gone already
            client.cancel([f for f in submitted if not f.done()] + [ctx_future])
    fitness, n_eps = np.zeros(count), np.zeros(count, dtype=np.int64)
    for i in range(count):
        res = results[i].result
        ends = np.cumsum(res.lengths)
        done_r = [r for r, e in zip(res.returns, ends, strict=True) if e <= horizon]
        fitness[i] = float(np.mean(done_r))
        n_eps[i] = len(done_r)
    timer.members += count
    wall = time.perf_counter() - t_start
    timer.total += wall
    final = np.stack([results[i].result.final_obs for i in range(count)])
    return FarmResult(fitness, n_eps, horizon, final, reruns, timer,
                      scored_by=[results[i].worker for i in range(count)], boards=stats, wall_s=wall)


def format_board_report(result: FarmResult) -> str:
    """Per-board throughput of one scoring call, as a table."""
    wall = result.wall_s or 1.0
    lines = [f"per-board throughput ({len(result.boards)} boards, {result.wall_s:.2f} s wall, "
             f"{len(result.fitness)} members, {result.reruns} reruns)",
             f"  {'board':24s} {'core':>5s} {'tasks':>6s} {'env steps':>10s} {'busy s':>8s} {'steps/s':>9s} "
             f"{'busy %':>7s}"]
    for name in sorted(result.boards):
        b = result.boards[name]
        sps = "n/a" if b.steps_per_s is None else f"{b.steps_per_s:9.1f}"
        lines.append(f"  {name:24s} {b.backend:>5s} {b.tasks:6d} {b.env_steps:10d} {b.busy_s:8.2f} {sps:>9s} "
                     f"{100 * b.busy_s / wall:6.1f}%")
    total = sum(b.env_steps for b in result.boards.values())
    lines.append(f"  {'all':24s} {'':5s} {sum(b.tasks for b in result.boards.values()):6d} {total:10d} "
                 f"{'':8s} {total / wall:9.1f}  (env steps per wall second)")
    return "\n".join(lines)


def worker_pid() -> int:
    """The worker process's id (``Client.run(worker_pid)``: which process is which board)."""
    return os.getpid()
