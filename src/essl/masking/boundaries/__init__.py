"""Unsupervised phone-boundary detection, its metrics, and precomputed corpus boundaries.

Detectors (:class:`BoundaryDetector`: a change score per frame, then peak picking with a
prominence tuned on dev): :class:`SpectralDetector` (log-Mel spectral change),
:class:`ContrastiveDetector` (Kreuk, Keshet & Adi 2020) and :class:`ModelDetector` (an SSL
encoder's own features). Metrics: :func:`evaluate_boundaries` (20 ms tolerance; lenient and
one-to-one precision, recall, F1, over-segmentation, R-value). Storage:
:func:`write_boundaries` / :func:`read_boundaries` (``boundaries.jsonl`` next to the
manifest), turned into crop frame segments by :func:`essl.masking.segment.crop_segments`.
"""

from essl.masking.boundaries.contrastive import (
    ContrastiveConfig,
    ContrastiveDetector,
    NextFrameModel,
    next_frame_loss,
    train_contrastive,
)
from essl.masking.boundaries.detect import (
    PROMINENCE_GRID,
    BoundaryDetector,
    corpus_scores,
    detect_corpus,
    peak_times,
    tune_prominence,
)
from essl.masking.boundaries.from_model import ModelDetector, load_model_detector
from essl.masking.boundaries.metrics import (
    BoundaryCounts,
    BoundaryScores,
    boundary_counts,
    evaluate_boundaries,
    reference_boundaries,
)
from essl.masking.boundaries.spectral import SpectralConfig, SpectralDetector
from essl.masking.boundaries.store import (
    Boundaries,
    BoundaryFileError,
    default_boundaries_path,
    oracle_boundaries,
    read_boundaries,
    write_boundaries,
)

__all__ = [
    "PROMINENCE_GRID",
    "Boundaries",
    "BoundaryCounts",
    "BoundaryDetector",
    "BoundaryFileError",
    "BoundaryScores",
    "ContrastiveConfig",
    "ContrastiveDetector",
    "ModelDetector",
    "NextFrameModel",
    "SpectralConfig",
    "SpectralDetector",
    "boundary_counts",
    "corpus_scores",
    "default_boundaries_path",
    "detect_corpus",
    "evaluate_boundaries",
    "load_model_detector",
    "next_frame_loss",
    "oracle_boundaries",
    "peak_times",
    "read_boundaries",
    "reference_boundaries",
    "train_contrastive",
    "tune_prominence",
    "write_boundaries",
]
