"""k-means for discrete speech units (HuBERT, Hsu et al. 2021, §III-A and §IV-B).

HuBERT fits scikit-learn's ``MiniBatchKMeans`` (k-means++ init) on a sample of frames and
labels every frame with its nearest centroid. We run full-batch Lloyd iterations in torch
(blocked GEMM distances on the chosen device) after a k-means++ initialisation (Arthur &
Vassilvitskii 2007) driven by a seeded numpy generator; ``benchmarks/kmeans.py`` compares
time and inertia with scikit-learn at equal K. Centroid sums avoid atomics (``index_add_``
on CPU, one-hot products on CUDA), so a fit depends only on the data, the seed and the
device. A cluster that empties is re-seeded with the frame farthest from its centroid. Data
are centred before fitting, which keeps ``|x|^2 - 2 x.c + |c|^2`` accurate in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from essl.errors import ConfigError, EsslError

__all__ = ["KMeansConfig", "KMeansModel", "assign", "fit_kmeans", "kmeans_plus_plus"]


@dataclass(kw_only=True)
class KMeansConfig:
    """How to fit the codebook."""

    num_clusters: int = 100
    """K; HuBERT uses 100 for iteration 1 (MFCC) and 500 for iteration 2."""
    iterations: int = 30
    """At most this many Lloyd iterations (stops early when no frame changes cluster)."""
    seed: int = 0
    """Seed of the initialisation (and of frame sampling upstream)."""
    init_sample: int = 20_000
    """At most this many frames (drawn with the seed) seed the k-means++ initialisation."""
    batch_size: int = 65_536
    """Frames per block of distance computations (bounds the (N, K) distance matrix)."""
    device: str = "cpu"
    """Where the distances are computed ("cpu", "cuda", ...)."""

    def validate(self) -> None:
        if self.num_clusters < 1:
            raise ConfigError("kmeans.num_clusters: must be >= 1; HuBERT uses 100 then 500")
        if self.iterations < 0:
            raise ConfigError("kmeans.iterations: must be >= 0; 20-50 is typical")
        if self.init_sample < 1 or self.batch_size < 1:
            raise ConfigError("kmeans.init_sample/batch_size: must be positive integers")


@dataclass
class KMeansModel:
    """A fitted codebook."""

    centroids: np.ndarray
    """(K, D) float32."""
    inertia: float
    """Sum over the fitted frames of the squared distance to the nearest centroid."""
    num_frames: int
    """N, frames the codebook was fitted on."""

    @property
    def num_clusters(self) -> int:
        return int(self.centroids.shape[0])

    def predict(
        self,
        feats: np.ndarray,
        batch_size: int = 65_536,
        device: str = "cpu",
    ) -> np.ndarray:
        """(N,) nearest-centroid index for ``feats (N, D)``."""
        return assign(feats, self.centroids, batch_size, device)[0]


def _as_matrix(x: np.ndarray, what: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must be (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise EsslError(
            f"{what}: {int((~np.isfinite(x)).sum())} non-finite values; check the "
            "features (silent or corrupt audio) before clustering"
        )
    return x


def _nearest(
    x: torch.Tensor, c: torch.Tensor, batch_size: int, x_sq: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) nearest centroid (long) and squared distance of ``x (N, D)`` to ``c (K, D)``."""
    c_sq = (c * c).sum(1)
    x_sq = (x * x).sum(1) if x_sq is None else x_sq  # (N,)
    labels, dists = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        d = torch.addmm(c_sq[None] + x_sq[i : i + batch_size, None], xb, c.t(), alpha=-2.0)
        v, idx = d.min(dim=1)  # (b,)
        labels.append(idx)
        dists.append(v.clamp(min=0.0))
    return torch.cat(labels), torch.cat(dists)


def assign(
    feats: np.ndarray, centroids: np.ndarray, batch_size: int = 65_536, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid ``(N,)`` int64 and its squared distance ``(N,)`` for ``feats (N, D)``."""
    x, c = _as_matrix(feats, "features"), _as_matrix(centroids, "centroids")
    if x.shape[1] != c.shape[1]:
        raise EsslError(
            f"features have D={x.shape[1]} but the centroids D={c.shape[1]}; use "
            "the centroids fitted on the same feature source"
        )
    if len(x) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    mean = x.mean(0, dtype=np.float64).astype(np.float32)  # centring: exact distances
    xt, ct = torch.from_numpy(x - mean).to(device), torch.from_numpy(c - mean).to(device)
    labels, dists = _nearest(xt, ct, batch_size)
    return labels.cpu().numpy(), dists.cpu().numpy()


def kmeans_plus_plus(x: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """(k, D) initial centroids drawn by D² sampling (Arthur & Vassilvitskii 2007, §2.2)."""
    n = len(x)
    picks = [int(rng.integers(n))]
    closest = ((x - x[picks[0]]) ** 2).sum(1).double()  # (N,)
    for _ in range(1, k):
        total = float(closest.sum())
        if total <= 0:  # fewer distinct points than k: repeat one (re-seeded when empty)
            picks.append(int(rng.integers(n)))
            continue
        target = torch.tensor([rng.random() * total], dtype=torch.float64, device=x.device)
        pick = min(int(torch.searchsorted(torch.cumsum(closest, 0), target)), n - 1)
        picks.append(pick)
        closest = torch.minimum(closest, ((x - x[pick]) ** 2).sum(1).double())
    return x[torch.tensor(picks, device=x.device)].clone()


def _update(
    x: torch.Tensor, labels: torch.Tensor, dists: torch.Tensor, c: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Means of the clusters; an empty cluster takes the frame farthest from its centroid.

    On CPU ``index_add_`` is sequential per row (deterministic); on CUDA it would use atomics,
    so the sums are one-hot matrix products there.
    """
    K = len(c)
    if x.is_cuda:
        sums = torch.zeros_like(c)
        for i in range(0, len(x), batch_size):
            onehot = torch.nn.functional.one_hot(labels[i : i + batch_size], K).to(x.dtype)
            sums += onehot.t() @ x[i : i + batch_size]  # (K, D)
    else:
        sums = torch.zeros_like(c).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=K)
    new = (sums / counts.clamp(min=1)[:, None]).to(c.dtype)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        far = torch.argsort(dists, descending=True, stable=True)[: len(empty)]
        new[empty] = x[far]
    return new


def fit_kmeans(feats: np.ndarray, cfg: KMeansConfig | None = None) -> KMeansModel:
    """Fit K centroids on ``feats (N, D)`` (N >= K): k-means++ then Lloyd iterations."""
    cfg = cfg or KMeansConfig()
    cfg.validate()
    x_np = _as_matrix(feats, "features")
    n, k = len(x_np), cfg.num_clusters
    if n < k:
        raise EsslError(
            f"{n} frames cannot make {k} clusters; lower --clusters or raise "
            "--sample-fraction/--max-frames"
        )
    mean = x_np.mean(0, dtype=np.float64).astype(np.float32)
    x = torch.from_numpy(x_np - mean).to(cfg.device)  # (N, D) centred
    rng = np.random.default_rng(cfg.seed)
    init_idx = np.sort(rng.choice(n, size=min(n, cfg.init_sample), replace=False))
    c = kmeans_plus_plus(x[torch.from_numpy(init_idx).to(x.device)], k, rng)
    x_sq = (x * x).sum(1)
    labels, dists = _nearest(x, c, cfg.batch_size, x_sq)
    for _ in range(cfg.iterations):
        c = _update(x, labels, dists, c, cfg.batch_size)
        new_labels, dists = _nearest(x, c, cfg.batch_size, x_sq)
        converged = bool(torch.equal(new_labels, labels))
        labels = new_labels
        if converged:
            break
    centroids = c.cpu().numpy() + mean
    return KMeansModel(centroids=centroids, inertia=float(dists.double().sum()), num_frames=n)
