"""Group fairness metrics on constructed outcomes, cross-checked against fairlearn."""

from __future__ import annotations

import numpy as np
import pytest

from essl.evaluation import group_metrics as gm


def test_pooled_error_sums_errors_and_units_over_the_group_not_mean_of_rates() -> None:
    errors = np.array([1, 9, 2, 2])
    totals = np.array([10, 10, 100, 4])
    rates = gm.pooled_rate_by_group(errors, totals, ["a", "a", "b", "b"])
    assert rates == pytest.approx({"a": 10 / 20, "b": 4 / 104})
    assert rates["b"] != pytest.approx((2 / 100 + 2 / 4) / 2)


def test_gap_reports_absolute_relative_and_ratio_with_worst_group() -> None:
    g = gm.gap({"female": 0.10, "male": 0.25})
    assert g.absolute == pytest.approx(0.15)
    assert g.relative == pytest.approx(1.5) and g.ratio == pytest.approx(2.5)
    assert (g.worst, g.best) == ("male", "female")
    assert gm.gap({"a": 0.0, "b": 0.0}).relative == 0.0
    assert gm.gap({"a": 0.0, "b": 0.1}).relative == float("inf")


def test_per_speaker_std_is_population_std_of_pooled_speaker_rates() -> None:
    std = gm.per_speaker_std(np.array([1, 1, 3]), np.array([2, 2, 4]), ["s1", "s1", "s2"])
    assert std == pytest.approx(np.std([0.5, 0.75]))


def test_demographic_parity_and_equalized_odds_on_a_hand_built_case() -> None:
    # group a: 4 positives predicted 3 / 4, 4 negatives predicted 1 / 4 (TPR .75, FPR .25)
    # group b: TPR .25, FPR .5 → EO = max(.5, .25) = .5; selection a .5, b .375 → DP .125
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0] * 2)
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0])
    groups = ["a"] * 8 + ["b"] * 8
    assert gm.demographic_parity_difference(y_pred, groups) == pytest.approx(0.5 - 0.375)
    assert gm.equalized_odds_difference(y_true, y_pred, groups) == pytest.approx(0.5)


def test_metrics_agree_with_fairlearn_on_random_binary_predictions() -> None:
    fl = pytest.importorskip("fairlearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, 1 - y_true)
    groups = rng.choice(["f", "m", "x"], 300, p=[0.2, 0.5, 0.3])
    assert gm.demographic_parity_difference(y_pred, groups) == pytest.approx(
        fl.demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
    )
    assert gm.equalized_odds_difference(y_true, y_pred, groups) == pytest.approx(
        fl.equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    )
    err = (y_true != y_pred).astype(float)
    frame = fl.MetricFrame(
        metrics=lambda a, b: float(np.mean(a != b)),
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    ours = gm.pooled_rate_by_group(err, np.ones(300), groups)
    assert ours == pytest.approx(frame.by_group.to_dict())
    assert gm.gap(ours).absolute == pytest.approx(frame.difference())


def _speaker_data(speakers_per_group: int, seed: int) -> tuple[np.ndarray, np.ndarray, list, list]:
    rng = np.random.default_rng(seed)
    errors, totals, groups, spk = [], [], [], []
    for g, base in (("f", 0.3), ("m", 0.1)):
        for s in range(speakers_per_group):
            rate = np.clip(base + rng.normal(0, 0.05), 0, 1)
            for _ in range(5):
                n = int(rng.integers(10, 30))
                errors.append(rng.binomial(n, rate))
                totals.append(n)
                groups.append(g)
                spk.append(f"{g}{s}")
    return np.array(errors), np.array(totals), groups, spk


def test_speaker_bootstrap_ci_contains_the_estimate_and_shrinks_with_more_speakers() -> None:
    widths: dict[int, list[float]] = {4: [], 48: []}
    for n_spk in widths:
        for data_seed in range(4):  # a 4-speaker draw alone is too noisy to compare
            e, t, g, s = _speaker_data(n_spk, seed=data_seed)
            point = gm.pooled_rate_by_group(e, t, g)
            ci = gm.bootstrap_pooled_rates(e, t, g, s, num_resamples=200, seed=0)
            for name, v in point.items():
                assert ci[name]["low"] <= v <= ci[name]["high"]
            gap = gm.gap(point).absolute
            assert ci["gap"]["low"] <= gap <= ci["gap"]["high"]
            widths[n_spk].append(ci["gap"]["high"] - ci["gap"]["low"])
    assert np.mean(widths[48]) < 0.6 * np.mean(widths[4])


def test_bootstrap_is_seeded() -> None:
    e, t, g, s = _speaker_data(5, seed=2)
    a = gm.bootstrap_pooled_rates(e, t, g, s, num_resamples=50, seed=3)
    b = gm.bootstrap_pooled_rates(e, t, g, s, num_resamples=50, seed=3)
    assert a == b


def test_eer_of_separable_inverted_and_weighted_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0])
    targets = np.array([1, 1, 1, 0, 0, 0], bool)
    assert gm.equal_error_rate(scores, targets) == pytest.approx(0.0)
    assert gm.equal_error_rate(-scores, targets) == pytest.approx(1.0)
    mixed = np.array([1, 0, 1, 0, 1, 0], bool)  # one target below one non-target per pair
    eer = gm.equal_error_rate(scores, mixed)
    assert 0.0 < eer < 1.0
    w = np.array([2, 1, 1, 3, 1, 1])
    dup = np.repeat(np.arange(6), w)
    assert gm.equal_error_rate(scores, mixed, w) == pytest.approx(
        gm.equal_error_rate(scores[dup], mixed[dup])
    )
