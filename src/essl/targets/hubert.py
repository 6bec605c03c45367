"""HuBERT k-means targets for a corpus: sample frames, fit, label, score (Hsu et al. 2021).

Iteration 1 clusters MFCCs (``MfccFeatures``, K=100 in the paper); iteration 2 clusters an
intermediate layer of the iteration-1 model (``LayerFeatures``, layer 6 of 12 for base, K=500;
for ``tiny`` (4 layers) layer 3 is the analogue). Both go through :func:`kmeans_targets`::

    from essl.targets import MfccFeatures, TargetsConfig, kmeans_targets
    res = kmeans_targets("corpus/manifest.jsonl", "units/it1", MfccFeatures(),
                         TargetsConfig(num_clusters=100))
    # iteration 2 with a trained encoder:
    res = kmeans_targets(manifest, "units/it2", LayerFeatures(model=encoder, layer=3),
                         TargetsConfig(num_clusters=500))

Fitting reads a seeded sample (``sample_fraction`` of the utterances of ``split``, then at most
``max_frames`` frames drawn uniformly); labelling runs the feature source again over every
utterance of the manifest (so the labels also cover dev/test for unit-quality evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from essl._io import write_json
from essl.data.manifest import Utterance, read_manifest
from essl.errors import ConfigError, EsslError
from essl.evaluation.units import unit_quality
from essl.targets.features import FeatureSource, iter_corpus_features
from essl.targets.kmeans import KMeansConfig, KMeansModel, assign, fit_kmeans
from essl.targets.labels import (
    ENCODER_FRAME_RATE,
    encoder_frame_count,
    read_centroids,
    write_centroids,
    write_labels,
)

__all__ = [
    "TargetsConfig",
    "TargetsResult",
    "apply_centroids",
    "kmeans_targets",
    "label_utterances",
    "labels_quality",
    "sample_features",
]


@dataclass(kw_only=True)
class TargetsConfig:
    """How k-means targets are fitted for one HuBERT iteration."""

    num_clusters: int = 100
    """K (HuBERT: 100 on MFCC, 500 on layer features)."""
    sample_fraction: float = 1.0
    """Fraction of the ``split`` utterances whose frames may be used for fitting (HuBERT: 0.1
    of LibriSpeech 960 h); lower it on large corpora, since sampled audio is read twice."""
    max_frames: int = 250_000
    """At most this many frames (drawn with ``seed``) fit the k-means."""
    seed: int = 0
    """Seeds the utterance/frame sample and the k-means++ initialisation."""
    split: str | None = None
    """Fit only on utterances of this manifest split (None: all); all are labelled."""
    iterations: int = 30
    """Lloyd iterations."""
    batch_seconds: float = 60.0
    """Padded audio seconds per feature-extraction batch."""
    device: str = "cpu"
    """Where k-means distances are computed (the feature source has its own device)."""

    def validate(self) -> None:
        if not 0.0 < self.sample_fraction <= 1.0:
            raise ConfigError("targets.sample_fraction: must be in (0, 1]; e.g. 0.1")
        if self.max_frames < 1:
            raise ConfigError("targets.max_frames: must be a positive integer, e.g. 250000")
        if self.batch_seconds <= 0:
            raise ConfigError("targets.batch_seconds: must be > 0, e.g. 60")
        self.kmeans_config().validate()

    def kmeans_config(self) -> KMeansConfig:
        return KMeansConfig(
            num_clusters=self.num_clusters,
            iterations=self.iterations,
            seed=self.seed,
            device=self.device,
        )


@dataclass
class TargetsResult:
    """What :func:`kmeans_targets` produced."""

    labels: dict[str, np.ndarray]
    """Utterance id -> (T,) int labels at 50 Hz."""
    kmeans: KMeansModel
    """The fitted codebook (centroids, inertia on the fitted sample)."""
    quality: dict[str, Any] | None
    """:func:`labels_quality` of the labels, None without phone alignments."""
    out_dir: Path | None
    """Where labels.safetensors, centroids.safetensors and quality.json were written."""


def _frame_plan(utts: Sequence[Utterance], cfg: TargetsConfig) -> dict[str, np.ndarray | None]:
    """Per sampled utterance id: frame indices to keep (None: all)."""
    rng = np.random.default_rng(cfg.seed)
    n_pick = max(1, math.ceil(cfg.sample_fraction * len(utts)))
    picked = [utts[i] for i in sorted(rng.permutation(len(utts))[:n_pick])]
    counts = [encoder_frame_count(round(u.duration * 16000)) for u in picked]  # read at 16 kHz
    total = sum(counts)
    if total <= cfg.max_frames:
        return {u.id: None for u in picked}
    chosen = np.sort(rng.choice(total, size=cfg.max_frames, replace=False))
    bounds = np.cumsum([0, *counts])
    return {
        u.id: chosen[(chosen >= lo) & (chosen < hi)] - lo
        for u, lo, hi in zip(picked, bounds[:-1], bounds[1:], strict=True)
    }


def sample_features(
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    source: FeatureSource,
    cfg: TargetsConfig,
    progress: bool = False,
) -> np.ndarray:
    """(N, D) float32 frames sampled for fitting, in a seed-determined order."""
    plan = _frame_plan(utts, cfg)
    chosen = [u for u in utts if u.id in plan]
    parts: dict[str, np.ndarray] = {}
    for u, f in iter_corpus_features(
        manifest_path,
        chosen,
        source,
        batch_seconds=cfg.batch_seconds,
        progress="features (fit sample)" if progress else None,
    ):
        keep = plan[u.id]
        parts[u.id] = f if keep is None else f[keep[keep < len(f)]]
    rows = [parts[u.id] for u in chosen if len(parts[u.id])]
    if not rows:
        raise EsslError(
            f"{manifest_path}: the sampled utterances have no frame (all shorter than "
            "25 ms); raise --sample-fraction or check the audio"
        )
    return np.concatenate(rows).astype(np.float32, copy=False)


def label_utterances(
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    source: FeatureSource,
    centroids: np.ndarray,
    *,
    batch_seconds: float = 60.0,
    progress: bool = False,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Utterance id -> (T,) nearest-centroid labels at the encoder frame rate (manifest order)."""
    out: dict[str, np.ndarray] = {}
    for u, f in iter_corpus_features(
        manifest_path,
        utts,
        source,
        batch_seconds=batch_seconds,
        progress="features (labels)" if progress else None,
    ):
        out[u.id] = assign(f, centroids, device=device)[0]
    return {u.id: out[u.id] for u in utts}


def labels_quality(
    utts: Sequence[Utterance],
    labels: dict[str, np.ndarray],
    frame_rate: float = ENCODER_FRAME_RATE,
) -> dict[str, Any] | None:
    """Phone purity, cluster purity, PNMI (all utterances and per split) against alignments.

    Frame phones come from :func:`essl.evaluation.frames.frame_phone_labels`; utterances
    without alignments or labels are skipped; None when none is left.
    """
    from essl.evaluation.frames import frame_phone_labels, phone_vocabulary

    aligned = [u for u in utts if u.has_alignments and u.id in labels and len(labels[u.id])]
    if not aligned:
        return None
    vocab = {p: i for i, p in enumerate(phone_vocabulary(aligned))}
    phones = {
        u.id: frame_phone_labels(u.phones or (), len(labels[u.id]), frame_rate, vocab)
        for u in aligned
    }

    def score(group: list[Utterance]) -> dict[str, Any]:
        y = np.concatenate([phones[u.id] for u in group])
        z = np.concatenate([labels[u.id] for u in group]).astype(np.int64)
        return unit_quality(y, z).to_dict()

    splits = sorted({u.split for u in aligned if u.split is not None})
    return {
        "all": score(aligned),
        "by_split": {s: score([u for u in aligned if u.split == s]) for s in splits},
        "phone_chance": float(
            max(np.bincount(np.concatenate(list(phones.values()))))
            / sum(len(v) for v in phones.values())
        ),
    }


def kmeans_targets(
    manifest_path: str | Path,
    out_dir: str | Path | None,
    source: FeatureSource,
    cfg: TargetsConfig | None = None,
    *,
    progress: bool = False,
) -> TargetsResult:
    """Fit k-means on a sample of ``source`` features, label every utterance, score, save.

    Writes ``out_dir/labels.safetensors`` (:func:`~essl.targets.labels.write_labels`),
    ``out_dir/centroids.safetensors`` and ``out_dir/quality.json`` (None: write nothing).
    """
    cfg = cfg or TargetsConfig()
    cfg.validate()
    utts = read_manifest(manifest_path)
    fit_utts = [u for u in utts if cfg.split is None or u.split == cfg.split]
    if not fit_utts:
        raise EsslError(
            f"{manifest_path}: no utterance has split '{cfg.split}'; pick one of "
            f"{sorted({str(u.split) for u in utts})} or omit --split"
        )
    feats = sample_features(manifest_path, fit_utts, source, cfg, progress)
    km = fit_kmeans(feats, cfg.kmeans_config())
    labels = label_utterances(
        manifest_path,
        utts,
        source,
        km.centroids,
        batch_seconds=cfg.batch_seconds,
        progress=progress,
        device=cfg.device,
    )
    quality = labels_quality(utts, labels)
    result = TargetsResult(labels=labels, kmeans=km, quality=quality, out_dir=None)
    if out_dir is not None:
        result.out_dir = _save(Path(out_dir), manifest_path, source, cfg, result)
    return result


def _save(
    out: Path, manifest: str | Path, source: FeatureSource, cfg: TargetsConfig, res: TargetsResult
) -> Path:
    meta = {
        "frame_rate": ENCODER_FRAME_RATE,
        "num_classes": res.kmeans.num_clusters,
        "features": source.name,
        "manifest": str(Path(manifest).resolve()),
        "inertia": res.kmeans.inertia,
        "fit_frames": res.kmeans.num_frames,
        "seed": cfg.seed,
        "split": cfg.split,
        "sample_fraction": cfg.sample_fraction,
        "max_frames": cfg.max_frames,
        "iterations": cfg.iterations,
    }
    write_centroids(out / "centroids.safetensors", res.kmeans.centroids, meta)
    write_labels(out / "labels.safetensors", res.labels, meta)
    write_json(out / "quality.json", {"meta": meta, "quality": res.quality})
    return out


def apply_centroids(
    manifest_path: str | Path,
    centroids_path: str | Path,
    out_dir: str | Path | None,
    source: FeatureSource,
    *,
    batch_seconds: float = 60.0,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """Label a (new) corpus with stored centroids; write labels.safetensors and quality.json.

    ``source`` must be the feature source the centroids were fitted on (its ``name`` is
    checked against their metadata). Returns ``(labels, quality)``.
    """
    centroids, fit_meta = read_centroids(centroids_path)
    if fit_meta.get("features", source.name) != source.name:
        raise EsslError(
            f"{centroids_path}: fitted on '{fit_meta['features']}' features, not "
            f"'{source.name}'; pass --features {fit_meta['features']}"
        )
    utts = read_manifest(manifest_path)
    labels = label_utterances(
        manifest_path, utts, source, centroids,
        batch_seconds=batch_seconds, progress=progress, device=device,
    )  # fmt: skip
    quality = labels_quality(utts, labels)
    if out_dir is not None:
        meta = {
            **fit_meta,
            "manifest": str(Path(manifest_path).resolve()),
            "centroids": str(Path(centroids_path).resolve()),
            "num_classes": len(centroids),
        }
        write_labels(Path(out_dir) / "labels.safetensors", labels, meta)
        write_json(Path(out_dir) / "quality.json", {"meta": meta, "quality": quality})
    return labels, quality
