"""Phone-boundary metrics (Kreuk, Keshet & Adi 2020, §4; R-value: Räsänen et al. 2009, §3).

**Reference boundaries** of an utterance are the onsets of its phone spans *except* the first
one (the utterance start) — i.e. every internal phone-to-phone transition, pauses (``sil``)
included, since a pause onset is an acoustic change too — and never the utterance end.
:func:`reference_boundaries` returns them in seconds, sorted and de-duplicated.

**Matching** uses a tolerance (20 ms as in Kreuk et al.). Two countings, pooled over the corpus
(counts summed over utterances, then the ratios taken):

- *lenient* (the counting of Kreuk et al.'s code): a prediction is a hit if some reference lies
  within the tolerance, and a reference is found if some prediction does; several predictions
  may claim the same reference, so a detector that fires twice per boundary is not punished.
- *one-to-one*: each reference is matched to at most one prediction and vice versa; the match
  count is maximal (references sorted, each takes the earliest free prediction within the
  tolerance, which is optimal for 1-D interval constraints); P = matches / predictions,
  R = matches / references.

Then F1 = 2PR / (P + R), over-segmentation OS = R / P − 1, and the R-value
``1 − (|r1| + |r2|) / 2`` with ``r1 = √((1 − R)² + OS²)``, ``r2 = (−OS + R − 1) / √2``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from essl.data.manifest import Utterance

__all__ = [
    "BoundaryCounts",
    "BoundaryScores",
    "boundary_counts",
    "evaluate_boundaries",
    "reference_boundaries",
    "scores_from_counts",
]

_EPS = 1e-9


def reference_boundaries(utt: Utterance) -> list[float]:
    """Internal phone onsets of ``utt`` in seconds (first onset and utterance end excluded)."""
    if not utt.phones:
        return []
    first, end = utt.phones[0][1], utt.phones[-1][2]
    onsets = {round(s, 6) for _, s, _ in utt.phones[1:] if first < s < end}
    return sorted(onsets)


@dataclass
class BoundaryCounts:
    """Match counts of one utterance or pooled over many (add them up)."""

    num_predicted: int = 0
    num_reference: int = 0
    precise_hits: int = 0
    """Lenient: predictions within tolerance of some reference."""
    recalled_hits: int = 0
    """Lenient: references within tolerance of some prediction."""
    matched: int = 0
    """One-to-one: size of the maximal matching."""

    def __add__(self, other: BoundaryCounts) -> BoundaryCounts:
        return BoundaryCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})


@dataclass
class BoundaryScores:
    """Precision, recall, F1, over-segmentation and R-value of one counting."""

    precision: float
    recall: float
    f1: float
    over_segmentation: float
    r_value: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def boundary_counts(
    reference: Sequence[float], predicted: Sequence[float], tolerance: float = 0.02
) -> BoundaryCounts:
    """Lenient and one-to-one match counts of boundary times (seconds) of one utterance."""
    ref, pred = sorted(reference), sorted(predicted)
    tol = tolerance + _EPS
    return BoundaryCounts(
        num_predicted=len(pred),
        num_reference=len(ref),
        precise_hits=sum(_has_within(ref, p, tol) for p in pred),
        recalled_hits=sum(_has_within(pred, r, tol) for r in ref),
        matched=_one_to_one(ref, pred, tol),
    )


def _has_within(sorted_xs: Sequence[float], x: float, tol: float) -> bool:
    i = bisect.bisect_left(sorted_xs, x - tol)
    return i < len(sorted_xs) and sorted_xs[i] <= x + tol


def _one_to_one(ref: Sequence[float], pred: Sequence[float], tol: float) -> int:
    """Maximal matching: each reference takes the earliest unused prediction within ``tol``."""
    matched, j = 0, 0
    for r in ref:
        while j < len(pred) and pred[j] < r - tol:
            j += 1
        if j < len(pred) and pred[j] <= r + tol:
            matched += 1
            j += 1
    return matched


def scores_from_counts(hits_p: int, hits_r: int, n_pred: int, n_ref: int) -> BoundaryScores:
    """P, R, F1, OS and R-value from hit counts (0 predictions give P = 0)."""
    p = hits_p / n_pred if n_pred else 0.0
    r = hits_r / n_ref if n_ref else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    os_ = r / p - 1.0 if p > 0 else (0.0 if r == 0 else math.inf)
    if math.isinf(os_):
        r_value = 0.0
    else:
        r1 = math.sqrt((1 - r) ** 2 + os_**2)
        r2 = (-os_ + r - 1) / math.sqrt(2)
        r_value = 1 - (abs(r1) + abs(r2)) / 2
    return BoundaryScores(precision=p, recall=r, f1=f1, over_segmentation=os_, r_value=r_value)


def evaluate_boundaries(
    pairs: Iterable[tuple[Sequence[float], Sequence[float]]], tolerance: float = 0.02
) -> dict[str, dict[str, float]]:
    """Pooled scores of ``(reference, predicted)`` pairs: ``{"lenient": ..., "one_to_one": ...}``.

    Each value holds ``precision``, ``recall``, ``f1``, ``over_segmentation`` and ``r_value``;
    ``"counts"`` holds the pooled counts.
    """
    total = BoundaryCounts()
    for ref, pred in pairs:
        total = total + boundary_counts(ref, pred, tolerance)
    lenient = scores_from_counts(
        total.precise_hits, total.recalled_hits, total.num_predicted, total.num_reference
    )
    strict = scores_from_counts(
        total.matched, total.matched, total.num_predicted, total.num_reference
    )
    return {
        "lenient": lenient.to_dict(),
        "one_to_one": strict.to_dict(),
        "counts": {k: float(v) for k, v in asdict(total).items()},
    }
