"""Spectral-change boundary detector: distance between adjacent log-Mel windows.

A training-free baseline in the spirit of the spectral-transition detectors Kreuk et al. 2020
compare against (§4.2). Log-Mel energies (Kaldi recipe of :mod:`essl.targets.mfcc`: 25 ms
windows every 10 ms, ``num_mel_bins`` filters) are mean-normalised per utterance; the score at
frame ``t`` is the distance between the mean of frames ``[t - w, t)`` and of ``[t, t + w)``
(``w = window`` frames; Euclidean, or cosine distance). Score ``t`` is the change between
Kaldi frames ``t - 1`` and ``t``, whose centres are 12.5 ms after their starts, so its time is
``t / 100 + 0.0075`` s. Peaks are picked by :class:`~essl.masking.boundaries.detect.BoundaryDetector`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from essl.errors import ConfigError
from essl.masking.boundaries.detect import BoundaryDetector

__all__ = ["SpectralConfig", "SpectralDetector", "window_change_score"]


@dataclass(kw_only=True)
class SpectralConfig:
    """Settings of the log-Mel spectral-change detector."""

    num_mel_bins: int = 40
    """Mel filters of the log-Mel spectrogram."""
    window: int = 1
    """w, frames averaged on each side of a candidate boundary (10 ms each)."""
    distance: Literal["euclidean", "cosine"] = "cosine"
    """Distance between the two window means."""
    prominence: float = 0.05
    """Initial peak prominence (overwritten when tuned on dev)."""

    def validate(self) -> None:
        if self.num_mel_bins < 4:
            raise ConfigError("boundaries.spectral.num_mel_bins: use at least 4 (e.g. 40)")
        if self.window < 1:
            raise ConfigError("boundaries.spectral.window: must be >= 1 frame (e.g. 1)")
        if self.distance not in ("euclidean", "cosine"):
            raise ConfigError("boundaries.spectral.distance: 'euclidean' or 'cosine'")


def window_change_score(feats: np.ndarray, window: int, distance: str = "euclidean") -> np.ndarray:
    """(T,) distance between the means of ``feats[t-w:t]`` and ``feats[t:t+w]`` (0 at edges)."""
    T = feats.shape[0]
    out = np.zeros(T)
    if T < 2:
        return out
    csum = np.concatenate([np.zeros((1, feats.shape[1])), np.cumsum(feats, axis=0)])
    t = np.arange(1, T)
    lo, hi = np.maximum(t - window, 0), np.minimum(t + window, T)
    left = (csum[t] - csum[lo]) / (t - lo)[:, None]
    right = (csum[hi] - csum[t]) / (hi - t)[:, None]
    if distance == "cosine":
        num = (left * right).sum(1)
        den = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1) + 1e-12
        out[1:] = 1.0 - num / den
    else:
        out[1:] = np.linalg.norm(left - right, axis=1)
    return out


class SpectralDetector(BoundaryDetector):
    """Peaks of the log-Mel window-change score (100 Hz)."""

    name = "spectral"
    frame_rate = 100.0
    time_offset = 0.0075

    def __init__(self, cfg: SpectralConfig | None = None) -> None:
        self.cfg = cfg or SpectralConfig()
        self.cfg.validate()
        self.prominence = self.cfg.prominence

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "num_mel_bins": self.cfg.num_mel_bins,
            "window": self.cfg.window,
            "distance": self.cfg.distance,
        }

    def scores(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        from essl.targets.mfcc import MfccConfig, log_mel_spectrogram

        if not waves:
            return []
        lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
        batch = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        logmel, frames = log_mel_spectrogram(
            batch, lengths, MfccConfig(num_mel_bins=self.cfg.num_mel_bins)
        )
        out = []
        for i in range(len(waves)):
            f = logmel[i, : int(frames[i])].double().numpy()
            f = f - f.mean(0, keepdims=True) if len(f) else f
            out.append(window_change_score(f, self.cfg.window, self.cfg.distance))
        return out
