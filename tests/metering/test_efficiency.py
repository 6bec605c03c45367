import json

import numpy as np
import pytest

from essl.cli.main import main
from essl.errors import EsslError
from essl.metering.efficiency import (
    Curve,
    auc,
    cost_to_target,
    gain_per_cost,
    lower_is_better,
    read_curve,
    seed_band,
    seed_costs_to_target,
)


def test_cost_to_target_interpolates_the_first_crossing():
    x = np.array([0.0, 10.0, 20.0, 30.0])
    y = np.array([4.0, 3.0, 1.0, 2.0])
    assert cost_to_target(x, y, 2.0, lower=True) == pytest.approx(15.0)
    assert cost_to_target(x, y, 0.5, lower=True) is None
    assert cost_to_target(x, y, 5.0, lower=True) == 0.0
    assert cost_to_target(x, -y, -2.0, lower=False) == pytest.approx(15.0)


def test_gain_is_positive_for_improvements_in_either_direction():
    x = np.array([0.0, 2.0, 4.0])
    assert gain_per_cost(x, np.array([3.0, 2.0, 2.0]), lower=True).tolist() == [0.5, 0.0]
    assert gain_per_cost(x, np.array([0.1, 0.5, 0.3]), lower=False).tolist() == pytest.approx(
        [0.2, -0.1]
    )


def test_auc_is_the_mean_level_over_the_range():
    x = np.array([0.0, 1.0, 2.0])
    assert auc(x, np.array([2.0, 2.0, 2.0])) == 2.0
    assert auc(x, np.array([0.0, 1.0, 2.0])) == pytest.approx(1.0)
    assert auc(x, np.array([0.0, 1.0, 2.0]), x_max=1.0) == pytest.approx(0.5)


def test_metric_direction():
    assert lower_is_better("loss") and lower_is_better("abx_within") and lower_is_better("per")
    assert not lower_is_better("phone_probe_accuracy") and not lower_is_better("pnmi")


def _fake_run(path, losses, flops_per_step):
    path.mkdir()
    with (path / "metrics.jsonl").open("w") as f:
        for i, loss in enumerate(losses, 1):
            f.write(
                json.dumps(
                    {
                        "step": i,
                        "loss": loss,
                        "cum_flops": i * flops_per_step,
                        "cum_audio_seconds": 8.0 * i,
                        "wall_time": 0.5 * i,
                        "step_time": 0.5,
                        "peak_memory_bytes": 1e9,
                        "energy_kwh": 1e-6 * i,
                    }
                )
                + "\n"
            )
    return path


def test_cli_writes_table_and_plots_and_ratio(tmp_path, capsys):
    a = _fake_run(tmp_path / "a", [5, 4, 3, 2, 1], 10.0)
    b = _fake_run(tmp_path / "b", [5, 4, 3, 2, 1], 20.0)
    out = tmp_path / "out"
    assert main(["efficiency", str(a), str(b), str(out), "--target", "3", "--cost", "flops"]) == 0
    res = json.loads((out / "efficiency.json").read_text())
    ra, rb = res["runs"]
    assert ra["cost_to_target"] == 30.0 and rb["cost_to_target"] == 60.0
    assert rb["cost_ratio_vs_first"] == 2.0
    for ext in ("png", "svg", "csv"):
        assert (out / f"efficiency.{ext}").stat().st_size > 0
    mem = read_curve(a, "loss", "memory")
    assert mem.x[-1] == pytest.approx(5 * 1e9 * 0.5)


def test_unknown_metric_names_the_run_and_the_fix(tmp_path):
    a = _fake_run(tmp_path / "a", [1.0], 1.0)
    with pytest.raises(EsslError, match="metric 'pnmi' is logged in neither"):
        read_curve(a, "pnmi", "flops")
    with pytest.raises(EsslError, match="no metrics.jsonl"):
        read_curve(tmp_path, "loss", "flops")


def test_seed_band_averages_point_by_point_and_truncates_to_the_shortest_run():
    a = Curve("a", "acc", "flops", np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.3, 0.5]))
    b = Curve("b", "acc", "flops", np.array([1.2, 2.2]), np.array([0.3, 0.5]))
    band = seed_band("arm", [a, b])
    assert np.allclose(band.x, [1.1, 2.1]) and np.allclose(band.y, [0.2, 0.4])
    assert np.allclose(band.sd, [np.sqrt(0.02)] * 2)  # sample sd of two values 0.2 apart
    assert [len(c.x) for c in band.runs] == [2, 2]
    # a (truncated to 2 points) peaks at 0.3; b crosses 0.4 halfway from 1.2 to 2.2
    assert seed_costs_to_target(band, 0.4, lower=False) == [None, pytest.approx(1.7)]
    assert seed_costs_to_target(band, 0.6, lower=False) == [None, None]
    assert np.all(seed_band("one", [a]).sd == 0)
    with pytest.raises(EsslError, match="no runs"):
        seed_band("empty", [])
