"""How far the integer network is from the paper's float network.

Same masks, same observations, same initial membrane (the integer v0 is the float v0 quantized),
state carried across env steps: firing rates and actions of the two networks over episodes.

    python bench/bench_int_vs_float.py [--episodes 8] [--steps 200] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from evoconn.spec import Spec
from evoconn.training import models as M


def episode(spec: Spec, density: float, steps: int, seed: int):
    """Masks at ``density``, a smooth random observation sequence with unit variance (like a
    normalized locomotion task), and an initial membrane in [0, 1): the same for both networks."""
    rng = np.random.default_rng(seed)
    masks = {k: rng.random(s) < density for k, s in spec.mask_shapes.items()}
    x = np.zeros((steps, spec.obs_dim), np.float32)
    z = rng.normal(size=spec.obs_dim)
    for t in range(steps):
        z = 0.9 * z + np.sqrt(1 - 0.81) * rng.normal(size=spec.obs_dim)
        x[t] = z
    v0 = rng.random(spec.n_neurons).astype(np.float32)
    return masks, x, v0


def run(spec: Spec, density: float, steps: int, seed: int) -> dict:
    masks, x, v0 = episode(spec, density, steps, seed)
    params = M.FloatParams.paper(spec)
    fstep = jax.jit(lambda s, xx: M.float_env_step(spec, params, tuple(masks.values()), s, xx))
    im = M.prepare_int_masks(spec, masks["mask_in"], masks["mask_h"], masks["mask_out"])
    istep = jax.jit(lambda s, xq: M.int_env_step(spec, im, s, xq))
    fs = M.float_init_state(spec, v0)
    is_ = M.int_init_state(spec, np.floor(v0 * spec.threshold).astype(np.int32))
    fa, ia, fi = [], [], []
    for t in range(steps):
        fs, fout = fstep(fs, x[t])
        is_, iout, fired = istep(is_, jnp.asarray(spec.quantize_obs(x[t])))
        fa.append(np.clip(np.asarray(fout), -1, 1))
        ia.append(spec.action_from_output(np.asarray(iout)))
        fi.append(int(np.asarray(fired).sum()))
    fa, ia = np.asarray(fa), np.asarray(ia)
    # Spikes per ms per neuron on the integer side; the float side's come from
    # float_spike_rate, which replays the same episode counting spikes.
    return {
        "seed": seed,
        "density": density,
        "int_spikes_per_ms_per_neuron": float(np.sum(fi) / (steps * spec.substeps * 0.5 * spec.n_neurons)),
        "float_abs_rate_mean": float(np.mean(np.abs(np.asarray(fs.rate)))),
        "int_abs_rate_mean": float(np.mean(np.abs(np.asarray(is_.rate)))) / (1 << spec.rate_frac),
        "action_mae": float(np.mean(np.abs(fa - ia))),
        "action_corr": float(np.corrcoef(fa.ravel(), ia.ravel())[0, 1]),
        "action_sign_agree": float(np.mean(np.sign(fa) == np.sign(ia))),
        "float_action_abs_mean": float(np.mean(np.abs(fa))),
    }


def float_spike_rate(spec: Spec, density: float, steps: int, seed: int) -> float:
    """Spikes per ms per neuron of the float network on the same episode as :func:`run`."""
    masks, x, v0 = episode(spec, density, steps, seed)
    params = M.FloatParams.paper(spec)
    mi, mh = jnp.asarray(masks["mask_in"], jnp.float32), jnp.asarray(masks["mask_h"], jnp.float32)
    exc = jnp.arange(spec.n_neurons) < spec.n_exc

    def env_step(carry, xx):
        v, isyn, s = carry
        i_in = params.r_in * (jnp.concatenate([xx, -xx]) @ mi)

        def sub(c, _):
            v, isyn, s = c
            isyn = params.alpha_syn * isyn + params.r * (s @ mh)
            v = params.alpha_m * v + (1 - params.alpha_m) * (isyn + i_in)
            z = v > 1.0
            v = jnp.where(z, 0.0, v)
            s = jnp.where(z, jnp.where(exc, 1.0, -1.0), 0.0)
            return (v, isyn, s), jnp.sum(z)

        c, n = jax.lax.scan(sub, (v, isyn, s), None, length=spec.substeps)
        return c, jnp.sum(n)

    z0 = jnp.zeros(spec.n_neurons)
    _, n = jax.lax.scan(env_step, (jnp.asarray(v0), z0, z0), jnp.asarray(x))
    return float(jnp.sum(n)) / (steps * spec.substeps * 0.5 * spec.n_neurons)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    spec = Spec()
    rows = []
    for density in (0.1, 0.5):
        for seed in range(args.episodes):
            r = run(spec, density, args.steps, seed)
            r["float_spikes_per_ms_per_neuron"] = float_spike_rate(spec, density, args.steps, seed)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = "python bench/bench_int_vs_float.py " + " ".join(sys.argv[1:])
    (args.out / "int_vs_float.json").write_text(json.dumps({"command": cmd, "rows": rows}, indent=1) + "\n")
    lines = [
        "# Integer network vs float network",
        "",
        f"Command: `{cmd}`. N=256, K=33, d=11, a=3; {args.episodes} random episodes of {args.steps} env "
        "steps per mask density (masks uniform at that density, observations an AR(1) process with "
        "unit variance, the same v0 for both, quantized for the integer one). Means over episodes.",
        "",
        "| mask density | float spikes/ms/neuron | int spikes/ms/neuron | action MAE | action corr. "
        "| action sign agreement | mean abs float action |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for density in (0.1, 0.5):
        rs = [r for r in rows if r["density"] == density]

        def m(k, rs=rs):
            return float(np.mean([r[k] for r in rs]))

        lines.append(
            f"| {density} | {m('float_spikes_per_ms_per_neuron'):.4f} | {m('int_spikes_per_ms_per_neuron'):.4f} "
            f"| {m('action_mae'):.3f} | {m('action_corr'):.3f} | {m('action_sign_agree'):.3f} "
            f"| {m('float_action_abs_mean'):.3f} |"
        )
    lines.append("")
    (args.out / "int_vs_float.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
