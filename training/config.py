"""A run's settings: :class:`TrainConfig` and the names it may take. Imports no JAX.

The config is what ``config.json`` stores, what a resume checks and what every trainer (the JAX one,
:mod:`evoconn.training.trainer`, and the numpy one for Core runners, :mod:`evoconn.host.train_core`)
is built from, so it lives apart from both: the board reads and writes it without JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from evoconn.training.errors import ConfigError

__all__ = ["ALGOS", "BACKENDS", "CHECKPOINT", "ENVS", "FAST_ENV", "HEARTBEAT_TIMEOUT_S", "PHYSICS", "RENAMED",
           "AlgoRules", "TrainConfig"]

#: Tasks the Brax runner knows; the fast ones are for quick runs and CI.
ENVS = ("hopper", "walker2d", "humanoid", "ant", "halfcheetah", "inverted_pendulum",
        "inverted_double_pendulum", "reacher")
#: Brax physics pipelines (``TrainConfig.physics``, ``--physics``).
PHYSICS = ("generalized", "positional", "spring", "mjx")
BACKENDS = PHYSICS  # the old name, kept for importers
FAST_ENV = "inverted_double_pendulum"
CHECKPOINT = "checkpoint.npz"
#: config fields renamed since: old name -> new name (old config.json files still load)
RENAMED = {"backend": "physics"}
#: a multi-process run (jax.distributed, training/devices.py): seconds without a heartbeat after
#: which the coordinator declares a process dead and the others fail (``--heartbeat-timeout``);
#: JAX's default (100 s) is long for a run whose generation takes seconds
HEARTBEAT_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class AlgoRules:
    """What a config needs to know of an algorithm (the trainer knows how to build it)."""

    label: Callable[[TrainConfig], str]
    #: a rule the training population must meet, as (predicate, message) on n_train
    size_rule: tuple[Callable[[int], bool], str] | None = None


ALGOS: dict[str, AlgoRules] = {
    "ec": AlgoRules(label=lambda cfg: f"EC-{cfg.model}"),
    "es": AlgoRules(label=lambda cfg: "ES-dense",
                    size_rule=(lambda n: n % 2 == 0, "ES samples mirrored pairs: population - "
                                                     "eval_copies must be even, got {n}")),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; the defaults are the paper's where the paper has one."""

    env: str = "hopper"
    algo: str = "ec"  # ec | es
    model: str = "int"  # int | float (EC); ES always uses the dense float SNN
    physics: str = "positional"  # the Brax physics pipeline (was "backend")
    population: int = 10240  # all members, evaluation copies included
    eval_copies: int | None = None  # None: round(population / 80) (the paper: 128 of 10240)
    generations: int = 1000
    episode_len: int = 1000
    neurons: int = 256
    seed: int = 0
    lr: float = 0.15
    clip_eps: float = 1e-3  # EC
    sigma: float = 0.3  # ES
    weight_decay: float = 0.1  # ES
    checkpoint_every: int = 10
    #: who scores the members: "brax" (in process) or a Core backend ("jax", "fake", "rtl", "pynq")
    runner: str = "brax"
    substeps: int | None = None  # K; None: the spec's default

    #: fields that may change between a run and its resume
    RESUMABLE_CHANGES = ("generations", "checkpoint_every")

    @property
    def n_eval(self) -> int:
        if self.eval_copies is not None:
            return self.eval_copies
        return max(1, round(self.population / 80))

    @property
    def n_train(self) -> int:
        return self.population - self.n_eval

    @property
    def label(self) -> str:
        """e.g. ``EC-int`` or ``ES-dense``."""
        return ALGOS[self.algo].label(self)

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        brax = self.runner == "brax"
        if brax:
            need(self.env in ENVS, f"unknown env {self.env!r}; choose one of {', '.join(ENVS)}")
        need(self.algo in ALGOS, f"unknown algo {self.algo!r} (ec or es)")
        need(self.model in ("int", "float"), f"unknown model {self.model!r} (int or float)")
        need(self.physics in PHYSICS, f"unknown backend {self.physics!r}; one of {PHYSICS}")
        if brax:
            need(self.population >= 3, f"population must be at least 3 (2 training members and "
                                       f"an evaluation copy), got {self.population}")
            need(self.n_eval >= 1, f"eval_copies must be at least 1, got {self.n_eval}")
        else:
            need(self.n_eval >= 0, f"eval_copies must be at least 0, got {self.n_eval}")
        need(self.n_train >= 2, f"population {self.population} leaves {self.n_train} training "
                                f"members after {self.n_eval} evaluation copies; need at least 2")
        rule = ALGOS[self.algo].size_rule
        if rule is not None:
            need(rule[0](self.n_train), rule[1].format(n=self.n_train))
        need(self.generations >= 1, f"generations must be at least 1, got {self.generations}")
        need(self.episode_len >= 1, f"episode_len must be at least 1, got {self.episode_len}")
        need(self.neurons >= 8, f"neurons must be at least 8, got {self.neurons}")
        need(self.checkpoint_every >= 1, "checkpoint_every must be at least 1")
        need(self.lr > 0 and self.sigma > 0, "lr and sigma must be positive")
        need(0 <= self.clip_eps < 0.5, f"clip_eps must lie in [0, 0.5), got {self.clip_eps}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def upgrade(cls, d: dict[str, Any]) -> dict[str, Any]:
        """A config dict with its old field names (``backend``) under their new ones."""
        d = dict(d)
        for old, new in RENAMED.items():
            if old in d:
                if new in d and d[new] != d[old]:
                    raise ConfigError(f"config gives both {old!r} (the old name of {new!r}) and "
                                      f"{new!r}, with different values")
                d[new] = d.pop(old)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = cls.upgrade(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config fields: {sorted(unknown)}")
        return cls(**d)
