"""Shared fixtures: random masks, states and observations for a spec."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

# The official code's golden vectors, copied into the repository (their README says where from):
# no test reads anything outside the repository (tests/test_repo_stands_alone.py).
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden" / "official-ec"


def random_masks(spec, rng: np.random.Generator, density: float = 0.5, batch: tuple[int, ...] = ()):
    """Bool masks in the paper's orientation, optionally with leading batch dims."""
    return {k: rng.random(batch + shape) < density for k, shape in spec.mask_shapes.items()}


def random_state(spec, rng: np.random.Generator, batch: tuple[int, ...] = (), extreme: bool = False):
    """A state dict of int64 arrays; ``extreme`` draws across the full representable ranges."""
    n = spec.n_neurons
    slo, shi = spec.state_limits()
    rlo, rhi = spec.rate_limits()
    if extreme:
        v = rng.integers(slo, spec.threshold + 1, batch + (n,))
        isyn = rng.integers(slo, shi + 1, batch + (n,))
        rate = rng.integers(rlo, rhi + 1, batch + (n,))
    else:
        v = rng.integers(0, spec.threshold, batch + (n,))
        isyn = np.zeros(batch + (n,), np.int64)
        rate = np.zeros(batch + (n,), np.int64)
    spike = (rng.random(batch + (n,)) < 0.1).astype(np.int8)
    return {"v": v, "isyn": isyn, "rate": rate, "spike": spike}


def random_xq(spec, rng: np.random.Generator, batch: tuple[int, ...] = (), extreme: bool = False):
    """Quantized observations: normal draws, or with ``extreme`` the clipping limits mixed in."""
    x = spec.quantize_obs(rng.normal(size=batch + (spec.obs_dim,)) * 2.0)
    if extreme:
        lo, hi = spec.obs_limits()
        pick = rng.integers(0, 3, x.shape)
        x = np.where(pick == 0, lo, np.where(pick == 1, hi, x))
    return x.astype(np.int32)


#: the module marks of the rtl tier: cocotb on the exported Verilog under Icarus, skipped where
#: Icarus is missing (a failure under EVOCONN_NO_SKIPS, below)
ICARUS_RTL = [
    pytest.mark.rtl,
    pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed"),
]

# Under `make test` (and so in CI) every tool a tier needs has been installed, so a test that
# skips for a missing tool hides a broken install step: EVOCONN_NO_SKIPS=1 turns skips into failures.
NO_SKIPS = bool(os.environ.get("EVOCONN_NO_SKIPS"))


def _fail_skip(rep) -> None:
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else rep.longrepr
    rep.outcome = "failed"
    rep.longrepr = f"skipped, but EVOCONN_NO_SKIPS is set (make test installs everything): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if NO_SKIPS and rep.skipped and not hasattr(rep, "wasxfail"):
        _fail_skip(rep)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if NO_SKIPS and rep.skipped:
        _fail_skip(rep)
