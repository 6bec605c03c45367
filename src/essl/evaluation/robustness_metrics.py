"""Robustness metrics as pure functions: degradation curves and representation similarity.

* :func:`relative_drop` — the relative loss of a score under a condition, normalised by
  the clean score (cf. the relative corruption error of Hendrycks & Dietterich,
  "Benchmarking Neural Network Robustness to Common Corruptions", ICLR 2019, §3).
* :func:`degradation_auc` — area under a score-vs-severity curve (trapezoid rule) divided
  by the severity span, i.e. the curve's mean score; a flat curve gives its value.
* :func:`worst_case` — the worst score over severities (or conditions).
* :func:`linear_cka` — linear centred kernel alignment between clean and perturbed
  features (Kornblith et al., "Similarity of Neural Network Representations Revisited",
  ICML 2019, §3, eq. for linear CKA): invariant to orthogonal transforms and isotropic
  scaling, 1 for identical features.
* :func:`frame_cosine_similarity` — the mean cosine similarity of matching frames.
* :func:`summarize_curve` — all of the above for one condition, as a dataclass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from essl.errors import EsslError

__all__ = [
    "DegradationSummary",
    "degradation_auc",
    "frame_cosine_similarity",
    "linear_cka",
    "relative_drop",
    "summarize_curve",
    "valid_frames",
    "worst_case",
]


def relative_drop(clean: float, perturbed: float, higher_is_better: bool = True) -> float:
    """Relative degradation: ``(clean - perturbed) / |clean|`` (sign flipped for errors).

    Positive means worse under the perturbation. For error rates
    (``higher_is_better=False``) it is ``(perturbed - clean) / |clean|``.
    """
    if clean == 0:
        raise EsslError("relative_drop: clean score is 0; the relative drop is undefined")
    diff = clean - perturbed if higher_is_better else perturbed - clean
    return diff / abs(clean)


def degradation_auc(scores: Sequence[float], severities: Sequence[float] | None = None) -> float:
    """Normalised area under a degradation curve: ∫ score d(severity) / severity span.

    Uses the trapezoid rule over ``severities`` (sorted with their scores; equally spaced
    positions when ``None``). A flat curve returns its value; a single point returns it.
    """
    if not scores:
        raise EsslError("degradation_auc: no scores; pass one score per severity")
    xs = list(range(len(scores))) if severities is None else [float(s) for s in severities]
    if len(xs) != len(scores):
        raise EsslError(
            f"degradation_auc: {len(scores)} scores but {len(xs)} severities; pass one each"
        )
    if len(scores) == 1:
        return float(scores[0])
    pts = sorted(zip(xs, (float(s) for s in scores), strict=True))
    span = pts[-1][0] - pts[0][0]
    if span == 0:
        raise EsslError("degradation_auc: all severities are equal; the curve has no span")
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(pts))
    return area / span


def worst_case(scores: Sequence[float], higher_is_better: bool = True) -> tuple[float, int]:
    """The worst score and its index (min if higher is better, else max)."""
    if not scores:
        raise EsslError("worst_case: no scores")
    pick = min if higher_is_better else max
    i = pick(range(len(scores)), key=lambda k: scores[k])
    return float(scores[i]), i


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between features ``x`` (N, D1) and ``y`` (N, D2) of the same N items.

    ``CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred
    ``Xc, Yc`` (Kornblith et al. 2019, §3). Computed in float64. Returns 0 when either
    side has no variance.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise EsslError(
            f"linear_cka: need (N, D1) and (N, D2) with the same N, got {tuple(x.shape)} "
            f"and {tuple(y.shape)}; flatten valid frames with valid_frames()"
        )
    xc = x.double() - x.double().mean(0, keepdim=True)
    yc = y.double() - y.double().mean(0, keepdim=True)
    yx = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    xx = torch.linalg.matrix_norm(xc.T @ xc)
    yy = torch.linalg.matrix_norm(yc.T @ yc)
    denom = float(xx * yy)
    return float(yx) / denom if denom > 0 else 0.0


def valid_frames(features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Stack the valid frames of ``features`` (B, T, D) given ``lengths`` (B,): (sum lengths, D)."""
    T = features.shape[1]
    mask = torch.arange(T, device=features.device)[None, :] < lengths.to(features.device)[:, None]
    return features[mask]


def frame_cosine_similarity(
    clean: torch.Tensor, perturbed: torch.Tensor, lengths: torch.Tensor
) -> float:
    """Mean cosine similarity between matching valid frames of (B, T, D) features.

    Frames must correspond one to one (perturbations that keep the length: not speed).
    """
    if clean.shape != perturbed.shape or clean.dim() != 3:
        raise EsslError(
            f"frame_cosine_similarity: need two (B, T, D) tensors of equal shape, got "
            f"{tuple(clean.shape)} and {tuple(perturbed.shape)}; frame-wise comparison needs "
            "a length-preserving perturbation"
        )
    a, b = valid_frames(clean, lengths), valid_frames(perturbed, lengths)
    if a.shape[0] == 0:
        raise EsslError("frame_cosine_similarity: no valid frames (all lengths are 0)")
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).mean())


@dataclass
class DegradationSummary:
    """One condition's degradation curve, summarised."""

    clean: float
    """Score without perturbation."""
    severities: list[float]
    """Severities, as given (mild to severe)."""
    scores: list[float]
    """Score at each severity."""
    relative_drops: list[float]
    """:func:`relative_drop` at each severity."""
    auc: float
    """:func:`degradation_auc` of the scores (over severity positions)."""
    worst: float
    """Worst score."""
    worst_severity: float
    """Severity at which the worst score occurs."""


def summarize_curve(
    clean: float,
    severities: Sequence[float],
    scores: Sequence[float],
    higher_is_better: bool = True,
) -> DegradationSummary:
    """Summarise one condition; AUC over equally spaced severity positions (mild to severe)."""
    if len(severities) != len(scores):
        raise EsslError("summarize_curve: pass one score per severity")
    worst, i = worst_case(scores, higher_is_better)
    drops = [relative_drop(clean, s, higher_is_better) if clean != 0 else math.nan for s in scores]
    return DegradationSummary(
        clean=float(clean),
        severities=[float(s) for s in severities],
        scores=[float(s) for s in scores],
        relative_drops=drops,
        auc=degradation_auc(scores),
        worst=worst,
        worst_severity=float(severities[i]),
    )
