"""Corpus-level constraints (RBA) and bias amplification, Zhao et al. 2017."""

from __future__ import annotations

import numpy as np
import pytest

from essl.fairness.rba import bias_amplification, bias_scores, rba_decode


def test_bias_scores_are_group_shares_per_output() -> None:
    b = bias_scores(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 1]), 3, 2)
    np.testing.assert_allclose(b[:2], [[2 / 3, 1 / 3], [0.0, 1.0]])
    assert np.isnan(b[2]).all()


def test_bias_amplification_averages_over_outputs_biased_in_training() -> None:
    train = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    pred = np.array([[0.9, 0.1], [0.3, 0.7], [0.9, 0.1]])
    assert bias_amplification(train, pred) == pytest.approx(((0.9 - 0.7) + (0.7 - 0.6)) / 2)


def _amplifying_case(n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    g = rng.integers(0, 2, n)
    y = np.where(g == 1, rng.random(n) < 0.66, rng.random(n) < 0.34).astype(int)
    logit = np.where(g == 1, 1.0, -1.0) + rng.normal(0, 1, n)  # leans on the group: amplifies
    s = np.stack([np.zeros(n), logit], 1)
    return s - np.log(np.exp(s).sum(1, keepdims=True)), g, y


def test_rba_keeps_predicted_ratios_within_the_margin_and_reduces_amplification() -> None:
    scores, g, y = _amplifying_case()
    train = bias_scores(y, g, 2, 2)
    before = bias_amplification(train, bias_scores(scores.argmax(1), g, 2, 2))
    res = rba_decode(scores, g, train, margin=0.05)
    after_b = bias_scores(res.predictions, g, 2, 2)
    assert res.satisfied
    assert np.all(np.abs(after_b - train) <= 0.05 + 1e-9)
    assert before > 0.1 and bias_amplification(train, after_b) < before / 2


def test_rba_leaves_unbiased_predictions_unchanged() -> None:
    scores, g, y = _amplifying_case()
    train = bias_scores(y, g, 2, 2)
    res = rba_decode(scores, g, train, margin=1.0)  # every ratio allowed
    np.testing.assert_array_equal(res.predictions, scores.argmax(1))
