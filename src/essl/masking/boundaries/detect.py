"""Boundary detectors: a per-frame change score, then peak picking with a tuned prominence.

Every detector turns a waveform into a 1-D score (higher = more likely a boundary) at its own
frame rate; score index ``t`` stands for the time ``t / frame_rate + time_offset`` seconds
(the midpoint between the centres of the two analysis windows it compares). Peaks are found
as in Kreuk et al. 2020 (§3, and their ``detect_peaks``): the score of each utterance is
min–max normalised to [0, 1], then ``scipy.signal.find_peaks(score, prominence=p)``. The
prominence ``p`` is tuned on the dev split by grid search, keeping the value with the best
lenient R-value (:func:`tune_prominence`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from essl.data.manifest import Utterance, resolve_audio_path
from essl.masking.boundaries.metrics import evaluate_boundaries, reference_boundaries

__all__ = [
    "PROMINENCE_GRID",
    "BoundaryDetector",
    "corpus_scores",
    "detect_corpus",
    "load_waves",
    "peak_times",
    "tune_prominence",
]

PROMINENCE_GRID = tuple(round(0.01 * i, 2) for i in range(0, 41))
"""Prominences tried by :func:`tune_prominence` (Kreuk et al. search 0..0.14; we go to 0.4)."""


class BoundaryDetector(ABC):
    """A change score per frame; ``prominence`` is the peak-picking threshold."""

    name: str = "detector"
    frame_rate: float = 100.0
    """Score frames per second."""
    time_offset: float = 0.0
    """Seconds added to ``t / frame_rate`` to get the boundary time of score index ``t``."""
    prominence: float = 0.05

    @abstractmethod
    def scores(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per waveform (16 kHz float32), a (T_u,) float64 change score."""

    def params(self) -> dict[str, Any]:
        """JSON-able settings stored with precomputed boundaries."""
        return {"prominence": self.prominence, "frame_rate": self.frame_rate}

    def detect(self, waves: Sequence[np.ndarray], sample_rate: int = 16000) -> list[list[float]]:
        """Boundary times in seconds for each waveform."""
        return [
            peak_times(s, self.prominence, self.frame_rate, self.time_offset, len(w) / sample_rate)
            for s, w in zip(self.scores(waves), waves)
        ]


def peak_times(
    score: np.ndarray, prominence: float, frame_rate: float, time_offset: float, duration: float
) -> list[float]:
    """Times (s) of the peaks of the min–max normalised ``score``, inside (0, duration)."""
    from scipy.signal import find_peaks

    x = np.asarray(score, dtype=np.float64)
    if x.size < 3:
        return []
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 1e-12:
        return []
    peaks, _ = find_peaks((x - lo) / (hi - lo), prominence=prominence)
    times = peaks / frame_rate + time_offset
    return [round(float(t), 5) for t in times if 0.0 < t < duration]


def load_waves(manifest_path: str | Path, utts: Sequence[Utterance]) -> list[np.ndarray]:
    """The 16 kHz mono audio of ``utts`` (float32)."""
    from essl.data.audio import load_audio

    return [load_audio(resolve_audio_path(manifest_path, u), sample_rate=16000) for u in utts]


def corpus_scores(
    detector: BoundaryDetector,
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    chunk: int = 16,
    progress: bool = False,
) -> list[np.ndarray]:
    """Scores of every utterance, computed ``chunk`` utterances at a time."""
    it: Any = range(0, len(utts), chunk)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"{detector.name} scores", unit="chunk")
    out: list[np.ndarray] = []
    for i in it:
        out.extend(detector.scores(load_waves(manifest_path, utts[i : i + chunk])))
    return out


def tune_prominence(
    detector: BoundaryDetector,
    utts: Sequence[Utterance],
    scores: Sequence[np.ndarray],
    grid: Sequence[float] = PROMINENCE_GRID,
    tolerance: float = 0.02,
) -> tuple[float, dict[float, float]]:
    """The prominence of ``grid`` with the best lenient R-value on ``utts``; all R-values.

    ``scores[i]`` is the detector score of ``utts[i]``, which need phone alignments. Sets
    ``detector.prominence`` to the chosen value.
    """
    refs = [reference_boundaries(u) for u in utts]
    table: dict[float, float] = {}
    for p in grid:
        preds = [
            peak_times(s, p, detector.frame_rate, detector.time_offset, u.duration)
            for s, u in zip(scores, utts)
        ]
        table[float(p)] = evaluate_boundaries(zip(refs, preds), tolerance)["lenient"]["r_value"]
    best = max(table, key=lambda k: (table[k], -k))
    detector.prominence = best
    return best, table


def detect_corpus(
    detector: BoundaryDetector,
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    progress: bool = False,
) -> dict[str, list[float]]:
    """``{utterance id: boundary times (s)}`` with the detector's current prominence."""
    scores = corpus_scores(detector, manifest_path, utts, progress=progress)
    return {
        u.id: peak_times(
            s, detector.prominence, detector.frame_rate, detector.time_offset, u.duration
        )
        for u, s in zip(utts, scores)
    }
