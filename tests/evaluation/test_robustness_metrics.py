import math

import pytest
import torch

from essl.errors import EsslError
from essl.evaluation.robustness_metrics import (
    degradation_auc,
    frame_cosine_similarity,
    linear_cka,
    relative_drop,
    summarize_curve,
    valid_frames,
    worst_case,
)


def _features(n: int = 500, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cka_of_identical_features_is_one():
    x = _features()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x, y = _features(seed=0), _features(d=8, seed=1)
    y = y + x[:, :8]  # related features, CKA strictly between 0 and 1
    q, _ = torch.linalg.qr(_features(n=16, d=16, seed=2))
    base = linear_cka(x, y)
    assert 0.05 < base < 0.95
    assert linear_cka(x @ q, y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(3.7 * x, 0.01 * y) == pytest.approx(base, rel=1e-9)


def test_cka_is_not_invariant_to_anisotropic_scaling():
    x, y = _features(seed=0), _features(d=8, seed=1)
    y = y + x[:, :8]
    scale = torch.ones(16, dtype=torch.float64)
    scale[:8] = 10.0
    assert abs(linear_cka(x * scale, y) - linear_cka(x, y)) > 0.01


def test_cka_of_features_with_orthogonal_centred_spans_is_zero():
    x = _features(d=4)
    xc = x - x.mean(0)
    z = _features(d=4, seed=3)
    z = z - z.mean(0)
    proj = xc @ torch.linalg.pinv(xc)
    y = z - proj @ z  # centred and orthogonal to every centred column of x
    assert linear_cka(x, y) == pytest.approx(0.0, abs=1e-12)


def test_cka_of_independent_random_features_is_near_zero():
    assert linear_cka(_features(n=4000, d=8), _features(n=4000, d=8, seed=9)) < 0.02


def test_cka_rejects_mismatched_items():
    with pytest.raises(EsslError, match="same N"):
        linear_cka(_features(n=10), _features(n=11))


def test_auc_of_a_flat_curve_is_its_value():
    assert degradation_auc([0.7, 0.7, 0.7], [20, 10, 0]) == pytest.approx(0.7)
    assert degradation_auc([0.4]) == 0.4


def test_auc_is_the_trapezoid_mean_over_the_severity_span():
    # linear from 1 to 0 over severities 0..10: mean 0.5
    assert degradation_auc([1.0, 0.5, 0.0], [0, 5, 10]) == pytest.approx(0.5)
    # unequal spacing is weighted by its width: (2*(1+0.8)/2 + 8*(0.8+0)/2) / 10
    assert degradation_auc([1.0, 0.8, 0.0], [0, 2, 10]) == pytest.approx(0.5)
    # order of the points does not matter
    assert degradation_auc([0.0, 0.8, 1.0], [10, 2, 0]) == pytest.approx(0.5)


def test_auc_rejects_mismatched_or_degenerate_input():
    with pytest.raises(EsslError, match="severities"):
        degradation_auc([1.0, 2.0], [1.0])
    with pytest.raises(EsslError, match="equal"):
        degradation_auc([1.0, 2.0], [3.0, 3.0])


def test_relative_drop_for_scores_and_for_error_rates():
    assert relative_drop(0.8, 0.6) == pytest.approx(0.25)
    assert relative_drop(0.8, 0.9) == pytest.approx(-0.125)
    assert relative_drop(0.1, 0.15, higher_is_better=False) == pytest.approx(0.5)
    with pytest.raises(EsslError, match="clean"):
        relative_drop(0.0, 0.1)


def test_worst_case_picks_min_for_scores_and_max_for_errors():
    assert worst_case([0.9, 0.5, 0.7]) == (0.5, 1)
    assert worst_case([0.1, 0.3, 0.2], higher_is_better=False) == (0.3, 1)


def test_summary_collects_drops_auc_and_worst():
    s = summarize_curve(0.8, [20, 10, 0], [0.8, 0.6, 0.4])
    assert s.relative_drops == pytest.approx([0.0, 0.25, 0.5])
    assert s.auc == pytest.approx(0.6)
    assert (s.worst, s.worst_severity) == (0.4, 0.0)


def test_frame_cosine_similarity_ignores_padding_frames():
    feats = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([5, 2])
    other = feats.clone()
    other[1, 2:] = -feats[1, 2:]  # differs only in padding
    assert frame_cosine_similarity(feats, other, lengths) == pytest.approx(1.0)
    assert frame_cosine_similarity(feats, -feats, lengths) == pytest.approx(-1.0)
    assert valid_frames(feats, lengths).shape == (7, 3)
    with pytest.raises(EsslError, match="length-preserving"):
        frame_cosine_similarity(feats, feats[:, :4], lengths)
    assert not math.isnan(frame_cosine_similarity(feats, 2 * feats, lengths))
