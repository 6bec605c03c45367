"""k-means targets on the tiny synthetic corpus: aligned, deterministic, phonetically pure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from essl.data.manifest import read_manifest
from essl.errors import ConfigError, EsslError
from essl.models import Encoder, encoder_preset
from essl.targets import (
    LayerFeatures,
    MfccFeatures,
    TargetsConfig,
    encoder_frame_count,
    kmeans_targets,
    read_centroids,
    read_labels,
    sample_features,
)


def test_mfcc_units_are_aligned_saved_and_phonetically_pure(
    tiny_corpus: Path,
    tmp_path: Path,
) -> None:
    cfg = TargetsConfig(num_clusters=16, seed=0)
    res = kmeans_targets(tiny_corpus, tmp_path / "it1", MfccFeatures(), cfg)
    utts = read_manifest(tiny_corpus)
    for u in utts:
        assert len(res.labels[u.id]) == encoder_frame_count(round(u.duration * 16000))
    assert res.quality is not None
    q, chance = res.quality["all"], res.quality["phone_chance"]
    # 8 vowel classes + silence: k-means on MFCCs must beat the majority phone by far
    assert q["phone_purity"] > max(0.75, 3 * chance), res.quality
    assert q["pnmi"] > 0.6
    labels, meta = read_labels(tmp_path / "it1" / "labels.safetensors")
    assert set(labels) == {u.id for u in utts}
    assert meta["frame_rate"] == 50.0 and meta["num_classes"] == 16
    assert meta["features"] == "mfcc" and meta["inertia"] == pytest.approx(res.kmeans.inertia)
    for k, v in labels.items():
        np.testing.assert_array_equal(v, res.labels[k])
    centroids, _ = read_centroids(tmp_path / "it1" / "centroids.safetensors")
    assert centroids.shape == (16, 39)
    assert (tmp_path / "it1" / "quality.json").is_file()


def test_same_seed_gives_the_same_labels(tiny_corpus: Path) -> None:
    cfg = TargetsConfig(num_clusters=8, seed=3, max_frames=200)
    a = kmeans_targets(tiny_corpus, None, MfccFeatures(), cfg)
    b = kmeans_targets(tiny_corpus, None, MfccFeatures(), cfg)
    assert a.labels.keys() == b.labels.keys()
    assert all(np.array_equal(a.labels[k], b.labels[k]) for k in a.labels)


def test_fit_sample_respects_fraction_max_frames_and_split(tiny_corpus: Path) -> None:
    utts = read_manifest(tiny_corpus)
    all_frames = len(sample_features(tiny_corpus, utts, MfccFeatures(), TargetsConfig()))
    assert all_frames == sum(encoder_frame_count(round(u.duration * 16000)) for u in utts)
    capped = sample_features(tiny_corpus, utts, MfccFeatures(), TargetsConfig(max_frames=100))
    assert len(capped) == 100
    half = sample_features(tiny_corpus, utts, MfccFeatures(), TargetsConfig(sample_fraction=0.5))
    assert len(half) == all_frames // 2  # 4 of 8 equal-length utterances
    res = kmeans_targets(
        tiny_corpus, None, MfccFeatures(), TargetsConfig(num_clusters=4, split="train")
    )
    assert res.kmeans.num_frames == all_frames // 2 and len(res.labels) == len(utts)
    with pytest.raises(EsslError, match="no utterance has split 'nope'"):
        kmeans_targets(tiny_corpus, None, MfccFeatures(), TargetsConfig(split="nope"))
    with pytest.raises(ConfigError, match="sample_fraction"):
        TargetsConfig(sample_fraction=0.0).validate()


@pytest.mark.slow
def test_iteration_two_clusters_a_hidden_layer_of_an_encoder(
    tiny_corpus: Path,
    seed: int,
) -> None:
    tiny = encoder_preset("tiny")
    cfg = replace(
        tiny,
        conv_layers=tuple((64, k, s) for _, k, s in tiny.conv_layers),
        embed_dim=64,
        ffn_dim=128,
        num_layers=2,
    )
    source = LayerFeatures(model=Encoder(cfg), layer=2)
    res = kmeans_targets(tiny_corpus, None, source, TargetsConfig(num_clusters=8))
    assert res.kmeans.centroids.shape == (8, cfg.embed_dim)
    for u in read_manifest(tiny_corpus):
        assert len(res.labels[u.id]) == encoder_frame_count(round(u.duration * 16000))
    assert res.quality is not None and res.quality["all"]["num_frames"] > 0
