"""Quality of discrete units against phone alignments: purities and PNMI.

Definitions of HuBERT (Hsu et al. 2021, §IV-E, "Analysis"): from frame-level co-occurrence of
phone ``y`` and code ``z`` form the joint distribution ``p(y, z)``; then

* phone purity   ``= E_{p(z)} [max_y p(y | z)]`` (how well a code predicts a phone);
* cluster purity ``= E_{p(y)} [max_z p(z | y)]`` (how concentrated a phone is on one code);
* PNMI           ``= I(y; z) / H(y)`` (phone-normalised mutual information: the fraction of
  the phone entropy that the codes explain; 1 when codes determine phones, ~0 when
  independent).

All three are invariant to renaming codes or phones. Frames whose phone or code is negative
(e.g. -100 padding) are ignored. Pure numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["UnitQuality", "joint_distribution", "unit_quality"]


@dataclass(frozen=True)
class UnitQuality:
    """Scores of codes against phones on the same frames."""

    phone_purity: float
    """E over codes of the probability of the code's most frequent phone (1 is best)."""
    cluster_purity: float
    """E over phones of the probability of the phone's most frequent code (1 is best)."""
    pnmi: float
    """I(phone; code) / H(phone) in [0, 1] (1 is best)."""
    num_frames: int
    """Frames counted (ignored frames excluded)."""
    num_phones: int
    """Distinct phones seen."""
    num_codes: int
    """Distinct codes seen."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def joint_distribution(phones: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(num phones seen, num codes seen) frame co-occurrence ``p(phone, code)``, summing to 1.

    ``phones`` and ``codes`` are ``(T,)`` integer arrays of the same frames; negative values
    mark frames to ignore. Rows and columns follow the sorted distinct values.
    """
    y, z = np.asarray(phones).ravel(), np.asarray(codes).ravel()
    if y.shape != z.shape:
        raise ValueError(f"phones and codes must label the same frames: {y.shape} vs {z.shape}")
    keep = (y >= 0) & (z >= 0)
    y, z = y[keep], z[keep]
    if y.size == 0:
        raise ValueError("no frame has both a phone and a code; nothing to score")
    _, yi = np.unique(y, return_inverse=True)
    _, zi = np.unique(z, return_inverse=True)
    counts = np.zeros((int(yi.max()) + 1, int(zi.max()) + 1), dtype=np.float64)
    np.add.at(counts, (yi, zi), 1.0)
    return counts / counts.sum()


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def unit_quality(phones: np.ndarray, codes: np.ndarray) -> UnitQuality:
    """Phone purity, cluster purity and PNMI of ``codes (T,)`` against ``phones (T,)``."""
    pyz = joint_distribution(phones, codes)
    py, pz = pyz.sum(axis=1), pyz.sum(axis=0)
    phone_purity = float(pyz.max(axis=0).sum())  # sum_z p(z) max_y p(y|z) = sum_z max_y p(y,z)
    cluster_purity = float(pyz.max(axis=1).sum())
    nz = pyz > 0
    mi = float((pyz[nz] * np.log(pyz[nz] / np.outer(py, pz)[nz])).sum())
    h = _entropy(py)
    pnmi = mi / h if h > 0 else 1.0  # one phone only: codes explain all there is
    n = int(((np.asarray(phones) >= 0) & (np.asarray(codes) >= 0)).sum())
    return UnitQuality(
        phone_purity=phone_purity,
        cluster_purity=cluster_purity,
        pnmi=min(max(pnmi, 0.0), 1.0),
        num_frames=n,
        num_phones=len(py),
        num_codes=len(pz),
    )
