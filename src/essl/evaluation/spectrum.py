"""Label-free spectral metrics of a representation: RankMe and α-ReQ.

* **RankMe** (Garrido et al. 2023, "RankMe: Assessing the downstream performance of
  pretrained self-supervised representations by their rank", §3, eq. 1): the effective rank
  ``exp(-Σ p_k log p_k)`` with ``p_k = σ_k / Σ σ + ε`` over the singular values of the
  (N, D) embedding matrix. Isotropic data in D dims scores ≈ D; rank-r data ≈ r.
* **α-ReQ** (Agrawal et al. 2022, "α-ReQ: Assessing representation quality in
  self-supervised learning by measuring eigenspectrum decay", §3): the coefficient α of the
  power law ``λ_k ∝ k^-α`` followed by the eigenvalues of the feature covariance, fitted by
  least squares in log-log over a rank range; the fit's R² is reported with it.

Both take frames pooled over a corpus, ``(N, D)``; at most ``max_samples`` rows are used
(a seeded subsample; the RankMe paper uses 25,600 embeddings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from essl.evaluation._threads import single_thread_if_small

__all__ = ["AlphaReQ", "alpha_req", "rankme", "subsample_rows"]

RANKME_EPS = 1e-7
"""ε of Garrido et al. (2023), eq. 1."""


def subsample_rows(x: torch.Tensor, max_samples: int | None, seed: int = 0) -> torch.Tensor:
    """At most ``max_samples`` rows of (N, D) ``x``, drawn without replacement (seeded)."""
    if max_samples is None or x.shape[0] <= max_samples:
        return x
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x.shape[0], generator=g)[:max_samples].sort().values
    return x[idx.to(x.device)]


def rankme(x: torch.Tensor, max_samples: int | None = 25_600, seed: int = 0) -> float:
    """RankMe of (N, D) embeddings (no centring, as in the paper); in [1, min(N, D)]."""
    x = subsample_rows(_check(x, "rankme"), max_samples, seed).double()
    with single_thread_if_small(x.numel(), x.device):
        s = torch.linalg.svdvals(x)
    total = s.sum()
    if total <= 0:
        return 1.0
    p = s / total + RANKME_EPS
    return float(torch.exp(-(p * p.log()).sum()))


@dataclass(frozen=True, kw_only=True)
class AlphaReQ:
    """Result of :func:`alpha_req`."""

    alpha: float
    """Power-law decay coefficient (larger = faster decay, fewer effective dimensions)."""
    r2: float
    """Coefficient of determination of the log-log least-squares fit."""
    ranks: tuple[int, int]
    """First and last eigenvalue rank (1-based, inclusive) used in the fit."""


def alpha_req(
    x: torch.Tensor,
    min_rank: int = 1,
    max_rank: int | None = None,
    max_samples: int | None = 25_600,
    seed: int = 0,
    rel_tol: float = 1e-10,
) -> AlphaReQ:
    """α-ReQ of (N, D) features: fit ``log λ_k = c - α log k`` for ranks min_rank..max_rank.

    ``max_rank=None`` uses every eigenvalue above ``rel_tol · λ_1`` (numerically zero
    eigenvalues of rank-deficient data would dominate a log-log fit).
    """
    x = subsample_rows(_check(x, "alpha_req"), max_samples, seed).double()
    x = x - x.mean(dim=0, keepdim=True)
    with single_thread_if_small(x.numel(), x.device):
        cov = x.T @ x / max(x.shape[0] - 1, 1)
        lam = torch.linalg.eigvalsh(cov).flip(0)  # descending
    usable = int((lam > rel_tol * lam[0].clamp_min(1e-300)).sum())
    hi = usable if max_rank is None else min(max_rank, usable)
    lo = max(1, min_rank)
    if hi - lo + 1 < 2:
        return AlphaReQ(alpha=math.nan, r2=math.nan, ranks=(lo, hi))
    k = torch.arange(lo, hi + 1, dtype=torch.float64)
    lx, ly = k.log(), lam[lo - 1 : hi].log()
    slope, intercept = _least_squares(lx, ly)
    resid = ly - (slope * lx + intercept)
    ss_tot = ((ly - ly.mean()) ** 2).sum()
    r2 = 1.0 - float((resid**2).sum() / ss_tot) if ss_tot > 0 else 1.0
    return AlphaReQ(alpha=-slope, r2=r2, ranks=(lo, hi))


def _least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    xm, ym = x.mean(), y.mean()
    slope = ((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum()
    return float(slope), float(ym - slope * xm)


def _check(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{what}: expected (N, D) features with N >= 2, got {tuple(x.shape)}")
    return x
