"""Detectors by name, dev tuning and corpus evaluation (what ``essl boundaries`` runs).

Detector specs: ``spectral``; ``contrastive`` (train a Kreuk et al. model on the train split
now, briefly) or ``contrastive:DIR`` (one saved by ``essl boundaries train``);
``model:RUN_DIR`` / ``model:preset:tiny`` / ``model:hf:PATH`` (an SSL encoder's own features;
``preset:tiny`` alone is accepted too).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from essl.data.manifest import Utterance, by_split
from essl.errors import EsslError
from essl.masking.boundaries.detect import (
    BoundaryDetector,
    corpus_scores,
    load_waves,
    peak_times,
    tune_prominence,
)
from essl.masking.boundaries.metrics import evaluate_boundaries, reference_boundaries

__all__ = [
    "dev_split",
    "eval_split",
    "evaluate_detector",
    "make_detector",
    "train_split",
    "tune_on_dev",
]


def train_split(utts: Sequence[Utterance]) -> list[Utterance]:
    """The ``train`` utterances, or all of them when the manifest has no splits."""
    return by_split(utts, "train") or list(utts)


def dev_split(utts: Sequence[Utterance]) -> list[Utterance]:
    """The aligned ``dev`` utterances (every 5th aligned one when there is no dev split)."""
    dev = [u for u in by_split(utts, "dev") if u.has_alignments]
    return dev or [u for u in utts if u.has_alignments][::5]


def eval_split(utts: Sequence[Utterance], split: str) -> list[Utterance]:
    """Aligned utterances of ``split`` (``all`` = every aligned one)."""
    chosen = list(utts) if split == "all" else by_split(utts, split)
    out = [u for u in chosen if u.has_alignments]
    if not out:
        raise EsslError(
            f"no aligned utterance in split '{split}'; boundary evaluation needs phone "
            "alignments (use --split all, or a manifest with 'phones')"
        )
    return out


def make_detector(
    spec: str,
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    seed: int = 0,
    layer: int | None = None,
    train_steps: int = 1000,
    train_seconds: float = 120.0,
    progress: bool = False,
) -> BoundaryDetector:
    """The detector named by ``spec`` (see the module docstring), not yet tuned."""
    if spec == "spectral":
        from essl.masking.boundaries.spectral import SpectralDetector

        return SpectralDetector()
    if spec == "contrastive":
        from essl.masking.boundaries.contrastive import ContrastiveConfig, train_contrastive

        waves = load_waves(manifest_path, train_split(utts))
        cfg = ContrastiveConfig(steps=train_steps, max_seconds=train_seconds, seed=seed)
        det, _ = train_contrastive(waves, cfg, progress=progress)
        return det
    if spec.startswith("contrastive:"):
        from essl.masking.boundaries.contrastive import ContrastiveDetector

        return ContrastiveDetector.load(spec.split(":", 1)[1])
    if spec.startswith(("model:", "preset:", "hf:")):
        from essl.masking.boundaries.from_model import load_model_detector

        target = spec.split(":", 1)[1] if spec.startswith("model:") else spec
        return load_model_detector(target, layer=layer, seed=seed)
    raise EsslError(
        f"detector '{spec}': unknown; use spectral, contrastive, contrastive:DIR, "
        "model:RUN_DIR or preset:tiny"
    )


def tune_on_dev(
    detector: BoundaryDetector, manifest_path: str | Path, utts: Sequence[Utterance]
) -> float:
    """Tune the prominence on the dev split; return it (also set on the detector)."""
    dev = dev_split(utts)
    if not dev:
        raise EsslError("prominence tuning needs aligned dev utterances; pass --prominence")
    best, _ = tune_prominence(detector, dev, corpus_scores(detector, manifest_path, dev))
    return best


def evaluate_detector(
    detector: BoundaryDetector,
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    tolerance: float = 0.02,
) -> dict[str, Any]:
    """Pooled lenient and one-to-one scores of ``detector`` on ``utts`` (aligned)."""
    scores = corpus_scores(detector, manifest_path, utts)
    pairs = [
        (
            reference_boundaries(u),
            peak_times(
                s, detector.prominence, detector.frame_rate, detector.time_offset, u.duration
            ),
        )
        for u, s in zip(utts, scores)
    ]
    result = evaluate_boundaries(pairs, tolerance)
    return {
        "detector": detector.name,
        "params": detector.params(),
        "tolerance": tolerance,
        "num_utterances": len(utts),
        **result,
    }
