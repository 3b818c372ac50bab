"""The baselines the learning curve is drawn against come from the run's own first generation."""

from __future__ import annotations

from evoconn.training.config import TrainConfig
from evoconn.training.loop import baselines, plot_curve


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
