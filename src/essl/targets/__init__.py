"""Pretraining targets: HuBERT k-means units (Hsu et al. 2021) and their features.

**HuBERT iterations.** Iteration 1 clusters 39-dim MFCC + Δ + ΔΔ frames (Kaldi recipe of
HuBERT's ``dump_mfcc_feature.py``; :mod:`essl.targets.mfcc`) into K=100 units; the model
pretrained on them then provides iteration 2's features: the output of an intermediate
Transformer layer (layer 6 of 12 for base; for the 4-layer ``tiny`` preset we use layer 3),
clustered into K=500 units. Both are one call (:func:`kmeans_targets` with
:class:`MfccFeatures` or :class:`LayerFeatures`) or one command::

    essl targets kmeans corpus/manifest.jsonl units/it1 --features mfcc --clusters 100
    essl targets kmeans corpus/manifest.jsonl units/it2 --features layer:3 \\
        --model runs/hubert_it1 --clusters 500

Labels are at the encoder's 50 Hz frame rate, exactly one per encoder frame (see
:mod:`essl.targets.labels` for the alignment rule), stored with :func:`write_labels` and
read by the loader with :func:`read_labels`. The fitted centroids are stored too, so new data
can be labelled with :func:`apply_centroids` (``essl targets apply``).
"""

from essl.targets.features import (
    FeatureSource,
    LayerFeatures,
    MfccFeatures,
    iter_corpus_features,
)
from essl.targets.hubert import (
    TargetsConfig,
    TargetsResult,
    apply_centroids,
    kmeans_targets,
    label_utterances,
    labels_quality,
    sample_features,
)
from essl.targets.kmeans import KMeansConfig, KMeansModel, assign, fit_kmeans
from essl.targets.labels import (
    ENCODER_FRAME_RATE,
    LabelsError,
    encoder_frame_count,
    encoder_frame_lengths,
    read_centroids,
    read_labels,
    to_encoder_rate,
    write_centroids,
    write_labels,
)
from essl.targets.mfcc import MfccConfig, compute_deltas, mfcc, mfcc_with_deltas

__all__ = [
    "ENCODER_FRAME_RATE",
    "FeatureSource",
    "KMeansConfig",
    "KMeansModel",
    "LabelsError",
    "LayerFeatures",
    "MfccConfig",
    "MfccFeatures",
    "TargetsConfig",
    "TargetsResult",
    "apply_centroids",
    "assign",
    "compute_deltas",
    "encoder_frame_count",
    "encoder_frame_lengths",
    "fit_kmeans",
    "iter_corpus_features",
    "kmeans_targets",
    "label_utterances",
    "labels_quality",
    "mfcc",
    "mfcc_with_deltas",
    "read_centroids",
    "read_labels",
    "sample_features",
    "to_encoder_rate",
    "write_centroids",
    "write_labels",
]
