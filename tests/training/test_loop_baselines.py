"""The baselines the learning curve is drawn against come from the run's own first generation."""

from __future__ import annotations

from evoconn.training.config import TrainConfig
from evoconn.training.loop import baselines, plot_curve, plot_diagnostics


def _row(g, mean, ev=None):
    r = {"generation": g, "env_steps": 100 * g, "train/fitness_mean": mean, "train/fitness_max": mean + 5}
    if ev is not None:
        r["eval/fitness"] = ev
    return r


def test_ec_baselines_are_generation_ones_returns():
    rows = [_row(1, 774.0, 1010.0), _row(2, 900.0, 1100.0)]
    b = baselines(TrainConfig(algo="ec"), rows)
    assert sorted(b.values()) == [774.0, 1010.0]
    assert any("zero action" in k and v == 1010.0 for k, v in b.items())
    assert any("random masks" in k and v == 774.0 for k, v in b.items())


def test_no_baselines_where_generation_one_does_not_say():
    assert baselines(TrainConfig(algo="es", population=258), [_row(1, 50.0, 20.0)]) == {}
    assert baselines(TrainConfig(algo="ec"), [_row(3, 50.0, 20.0)]) == {}  # not the run's start
    assert baselines(TrainConfig(algo="ec"), []) == {}
    # without evaluation copies only the random-mask line is measured
    assert list(baselines(TrainConfig(algo="ec", eval_copies=0), [_row(1, 60.0)]).values()) == [60.0]


def test_the_curve_draws_them(tmp_path):
    rows = [_row(1, 774.0, 1010.0), _row(2, 900.0, 1100.0)]
    assert plot_curve(rows, tmp_path / "c.png", "t", baselines(TrainConfig(algo="ec"), rows))
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curve(rows, tmp_path / "plain.png", "t")
    assert (tmp_path / "c.png").read_bytes() != (tmp_path / "plain.png").read_bytes()


def test_diagnostics_plot_draws_what_the_rows_carry(tmp_path):
    """The paper's diagnostics (mean ρ, density, entropy, firing rate in spikes/ms) as a PNG; rows
    without any of them (an ES run, a Core runner without rates) draw nothing."""
    rows = [{**_row(g, 800.0 + g), "train/mean_rho": 0.5 - 0.01 * g, "train/density": 0.5 - 0.02 * g,
             "train/entropy": 1.0 - 0.05 * g, "train/firing_rate": 0.03 + 0.001 * g} for g in (1, 2, 3)]
    assert plot_diagnostics(rows, tmp_path / "d.png", "t")
    full = (tmp_path / "d.png").read_bytes()
    assert full[:8] == b"\x89PNG\r\n\x1a\n"
    no_rate = [{k: v for k, v in r.items() if k != "train/firing_rate"} for r in rows]
    assert plot_diagnostics(no_rate, tmp_path / "n.png", "t")
    assert (tmp_path / "n.png").read_bytes() != full  # the firing-rate line is drawn
    assert not plot_diagnostics([_row(1, 50.0), _row(2, 60.0)], tmp_path / "es.png", "t")
    assert not (tmp_path / "es.png").exists()
