"""Test cases for the RTL proof and their expected traces from the JAX integer model.

A case is one network (masks), an optional initial membrane written through the STATE window, an
episode of quantized observations, the env steps before which RESET_STATE is issued, and the steps
after which the whole neuron state is read back. Case ``i`` of ``make_cases(spec, seed, M, S)`` is
a function of ``(spec, seed, i, S)`` alone, so one case replays by its index.

The expected trace comes from :func:`evoconn.training.models.int_env_step`, the function training
scores fitness with, computed once per case in the calling process and handed to the cocotb
process as an ``.npz`` file.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from evoconn.spec import CycleModel, RegisterMap, Spec, pack_rows

__all__ = ["INTERRUPTIONS", "KINDS", "Case", "expected_compared", "expected_trace", "load_cases", "make_cases",
           "save_cases"]

#: Case kinds, cycled by case index (so any 7 consecutive cases cover them all). ``threshold`` holds
#: every membrane exactly on 2**F (v0 = 2**F, I_in = 2**F from one MASK_IN bit, no recurrence), where
#: ``v > 2**F`` never fires and ``v >= 2**F`` fires at once: random cases almost never land there.
KINDS = ("random", "sparse", "ones", "zeros", "saturate", "dense", "threshold")

#: What the hardware-reset test (:mod:`evoconn.sim.tb_reset`) interrupts with ``rst``, in the order
#: run: an env step early and late; an AXI write with AW held (W not given), W held (AW not given),
#: both taken and B pending; an AXI read with AR taken (not answered yet), R pending. It runs
#: ``len(INTERRUPTIONS) + 1`` cases: one before the first reset, one after each.
INTERRUPTIONS = ("step_early", "step_late", "write_aw_held", "write_w_held", "write_b_pending",
                 "read_ar_taken", "read_r_pending")


@dataclasses.dataclass
class Case:
    """One case and, once :func:`expected_trace` ran, its expected trace."""

    index: int
    kind: str
    seed: int
    mask_in: np.ndarray  # (2d, N) bool
    mask_h: np.ndarray  # (N, N) bool
    mask_out: np.ndarray  # (N, a) bool
    xq: np.ndarray  # (S, d) int32
    v0: np.ndarray | None  # (N,) int32, written through the STATE window before step 0
    reset_before: tuple[int, ...]  # RESET_STATE before these steps (> 0)
    state_after: tuple[int, ...]  # read STATE and SPIKE after these steps
    # expected, per step
    out: np.ndarray | None = None  # (S, a)
    state: np.ndarray | None = None  # (S, N, 4): v, isyn, rate, i_in (STATE_FIELDS order)
    spike_words: np.ndarray | None = None  # (S, ROW_WORDS) uint32
    spikes: np.ndarray | None = None  # (S,) SPIKES: spikes fired in the step, saturated to its width
    cycles: np.ndarray | None = None  # (S,) CycleModel.env_step_cycles
    reset_state: np.ndarray | None = None  # (N, 4) state right after a RESET_STATE


def _obs(spec: Spec, rng: np.random.Generator, steps: int, extreme: bool) -> np.ndarray:
    x = spec.quantize_obs(rng.normal(size=(steps, spec.obs_dim)) * 2.0)
    if extreme:
        lo, hi = spec.obs_limits()
        pick = rng.integers(0, 3, x.shape)
        x = np.where(pick == 0, lo, np.where(pick == 1, hi, x))
    return x.astype(np.int32)


def make_case(spec: Spec, seed: int, index: int, steps: int, state_every: int = 4) -> Case:
    """Case ``index`` of the run with ``seed``; its kind is ``KINDS[index % len(KINDS)]``."""
    kind = KINDS[index % len(KINDS)]
    case_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    rng = np.random.default_rng(case_seed)
    n, d = spec.n_neurons, spec.obs_dim
    shapes = spec.mask_shapes
    slo, shi = spec.state_limits()
    lo, hi = spec.obs_limits()
    v0 = None
    reset_before: tuple[int, ...] = ()
    if kind in ("random", "sparse", "dense"):
        density = {"random": 0.5, "sparse": 0.1, "dense": 0.9}[kind]
        m = {k: rng.random(s) < density for k, s in shapes.items()}
        xq = _obs(spec, rng, steps, extreme=kind == "sparse")
        if kind == "random" and steps >= 2:
            reset_before = (steps // 2,)
        if kind == "sparse":
            v0 = rng.integers(slo, shi + 1, n).astype(np.int32)
    elif kind == "zeros":
        m = {k: np.zeros(s, bool) for k, s in shapes.items()}
        xq = _obs(spec, rng, steps, extreme=True)
        v0 = rng.integers(0, 2 * spec.threshold, n).astype(np.int32)  # some start above threshold
    elif kind == "ones":
        # every mask bit set, except the -x rows of the even inputs: with all of MASK_IN set the input
        # coefficients would cancel (I_in = 0); so I_in[j] = sum of the even inputs, for every neuron,
        # through the whole input path (full-range observations, the first step at the top)
        m = {k: np.ones(s, bool) for k, s in shapes.items()}
        m["mask_in"][d + np.arange(0, d, 2)] = False
        xq = _obs(spec, rng, steps, extreme=True)
        xq[0] = hi
        v0 = np.where(np.arange(n) % 2 == 0, shi, slo).astype(np.int32)
    elif kind == "threshold":  # v = 2**F, u = 2**F: v + gain(u - v) = v, on the threshold for good
        thr = spec.threshold
        assert lo <= thr <= hi, "the threshold must be a valid observation"
        m = {k: np.zeros(s, bool) for k, s in shapes.items()}
        m["mask_in"][0] = True  # I_in[j] = xq[0] for every neuron
        xq = _obs(spec, rng, steps, extreme=False)
        xq[:, 0] = thr
        v0 = np.full(n, thr, np.int32)
    else:  # saturate: every adder to its limit, both signs
        mi = np.zeros(shapes["mask_in"], bool)
        mi[:d] = True
        m = {"mask_in": mi, "mask_h": np.ones(shapes["mask_h"], bool), "mask_out": np.ones(shapes["mask_out"], bool)}
        half = max(1, steps // 2)
        xq = np.where((np.arange(steps) < half)[:, None], hi, lo).astype(np.int32).repeat(d, axis=1)
        xq = xq.reshape(steps, d)
        v0 = np.where(np.arange(n) % 2 == 0, slo, shi).astype(np.int32)
        if steps >= 3:
            reset_before = (steps - 1,)
    state_after = tuple(sorted({s for s in range(steps) if (s + 1) % state_every == 0}
                               | {0, steps - 1} | {r - 1 for r in reset_before} | set(reset_before)))
    return Case(index, kind, case_seed, m["mask_in"], m["mask_h"], m["mask_out"], xq, v0, reset_before,
                state_after)


def make_cases(spec: Spec, seed: int, cases: int, steps: int, state_every: int = 4,
               only: int | None = None) -> list[Case]:
    """Cases ``0 .. cases-1`` (or just case ``only``)."""
    idx = range(cases) if only is None else [only]
    return [make_case(spec, seed, i, steps, state_every) for i in idx]


@functools.cache
def _jit_step():
    import jax

    from evoconn.training.models import int_env_step

    return jax.jit(int_env_step, static_argnums=0)


def expected_trace(spec: Spec, lanes: int, case: Case) -> Case:
    """Fill ``case``'s expected trace from the JAX integer model (and the spec's cycle model)."""
    import jax.numpy as jnp

    from evoconn.training.models import int_init_state, prepare_int_masks

    masks = prepare_int_masks(spec, case.mask_in, case.mask_h, case.mask_out)
    step = functools.partial(_jit_step(), spec, masks)
    w = spec.state_width
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    cm = CycleModel(spec, lanes)
    # SPIKES is a counter of the register's width that saturates (as the RTL and the core model)
    spikes_max = (1 << RegisterMap(spec, lanes).registers["SPIKES"].width) - 1
    st = int_init_state(spec, None if case.v0 is None else jnp.asarray(case.v0))
    prev = 0
    outs, states, words, spikes, cycles = [], [], [], [], []
    for s in range(len(case.xq)):
        if s in case.reset_before:
            st = int_init_state(spec)
            prev = 0
        xq = jnp.asarray(case.xq[s], jnp.int32)
        st, out, fired = step(st, xq)
        i_in = jnp.clip(xq @ masks.coef_in, lo, hi)
        fired = np.asarray(fired)
        outs.append(np.asarray(out))
        states.append(np.stack([np.asarray(st.v), np.asarray(st.isyn), np.asarray(st.rate),
                                np.asarray(i_in)], axis=-1))
        words.append(pack_rows(np.asarray(st.spike)[None])[0])
        spikes.append(min(int(fired.sum()), spikes_max))
        cycles.append(cm.env_step_cycles(prev, [int(f) for f in fired]))
        prev = int(fired[-1])
    case.out = np.asarray(outs, np.int64)
    case.state = np.asarray(states, np.int64)
    case.spike_words = np.asarray(words, np.uint32)
    case.spikes = np.asarray(spikes, np.int64)
    case.cycles = np.asarray(cycles, np.int64)
    return case


def save_cases(path: Path, spec: Spec, lanes: int, cases: list[Case], meta: dict) -> None:
    import json

    arrays: dict[str, np.ndarray] = {}
    index = []
    for c in cases:
        p = f"c{c.index}_"
        head = {"index": c.index, "kind": c.kind, "seed": c.seed, "reset_before": list(c.reset_before),
                "state_after": list(c.state_after), "has_v0": c.v0 is not None}
        index.append(head)
        for f in ("mask_in", "mask_h", "mask_out", "xq", "out", "state", "spike_words", "spikes", "cycles"):
            arrays[p + f] = getattr(c, f)
        if c.v0 is not None:
            arrays[p + "v0"] = c.v0
    arrays["meta"] = np.asarray(json.dumps({"spec": spec.to_dict(), "lanes": lanes, "cases": index, **meta}))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_cases(path: Path) -> tuple[Spec, int, list[Case], dict]:
    import json

    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        spec = Spec.from_dict(meta.pop("spec"))
        lanes = meta.pop("lanes")
        cases = []
        for h in meta.pop("cases"):
            p = f"c{h['index']}_"
            c = Case(h["index"], h["kind"], h["seed"], z[p + "mask_in"], z[p + "mask_h"], z[p + "mask_out"],
                     z[p + "xq"], z[p + "v0"] if h["has_v0"] else None, tuple(h["reset_before"]),
                     tuple(h["state_after"]))
            for f in ("out", "state", "spike_words", "spikes", "cycles"):
                setattr(c, f, z[p + f])
            cases.append(c)
    return spec, lanes, cases, meta


def expected_compared(spec: Spec, cases: list[Case]) -> int:
    """How many integers the scoreboard compares for these cases when nothing mismatches."""
    per_step = spec.act_dim + 3  # OUT, STATUS, CYCLES, SPIKES
    per_state = 4 * spec.n_neurons + spec.row_words
    per_reset = 4 * spec.n_neurons + spec.row_words
    return sum(len(c.xq) * per_step + len(c.state_after) * per_state + len(c.reset_before) * per_reset
               for c in cases)
