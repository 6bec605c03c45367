"""Labels have exactly one entry per encoder frame, and survive a write/read round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from essl.errors import EsslError
from essl.models import Encoder, conv_output_lengths, encoder_preset
from essl.models.config import STANDARD_CONV_LAYERS
from essl.targets import (
    LabelsError,
    LayerFeatures,
    MfccFeatures,
    encoder_frame_lengths,
    read_centroids,
    read_labels,
    to_encoder_rate,
    write_centroids,
    write_labels,
)

LENGTHS = [0, 1, 399, 400, 719, 720, 721, 1039, 1040, 4321, 16000, 16319, 16320, 23456]


def test_encoder_frames_follow_the_conv_formula_and_the_closed_form() -> None:
    s = np.arange(0, 50_000, 7)
    ours = encoder_frame_lengths(s)
    theirs = conv_output_lengths(torch.from_numpy(s), STANDARD_CONV_LAYERS).numpy()
    closed = np.where(s >= 400, 1 + (s - 400) // 320, 0)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, closed)


def test_mfcc_features_have_one_row_per_encoder_frame_for_any_length(seed: int) -> None:
    lengths = torch.tensor(LENGTHS)
    wavs = 0.1 * torch.randn(len(LENGTHS), int(lengths.max()))
    feats = MfccFeatures()(wavs, lengths)
    assert [f.shape for f in feats] == [(int(t), 39) for t in encoder_frame_lengths(LENGTHS)]


def test_mfcc_encoder_frame_t_is_the_100hz_frame_with_the_same_window(seed: int) -> None:
    from essl.targets.mfcc import mfcc_with_deltas

    wav = 0.1 * torch.randn(1, 8000)
    full, _ = mfcc_with_deltas(wav, torch.tensor([8000]))
    feats = MfccFeatures()(wav, torch.tensor([8000]))[0]
    np.testing.assert_array_equal(feats, full[0, ::2][: len(feats)].numpy())


def test_layer_features_of_a_tiny_encoder_match_its_frame_lengths(seed: int) -> None:
    cfg = encoder_preset("tiny")
    cfg.num_layers, cfg.embed_dim, cfg.ffn_dim, cfg.num_heads, cfg.pos_conv_groups = 2, 32, 64, 2, 4
    enc = Encoder(cfg)
    lengths = torch.tensor([400, 4321, 8000])
    wavs = 0.1 * torch.randn(3, 8000)
    feats = LayerFeatures(model=enc, layer=1)(wavs, lengths)
    expected = enc.frame_lengths(lengths).tolist()
    assert [f.shape for f in feats] == [(t, 32) for t in expected]
    alone = LayerFeatures(model=enc, layer=1)(wavs[1:2, :4321], lengths[1:2])[0]
    np.testing.assert_allclose(feats[1], alone, rtol=1e-4, atol=1e-4)


def test_layer_out_of_range_is_a_user_error() -> None:
    enc = Encoder(encoder_preset("tiny"))
    with pytest.raises(EsslError, match="layer:9"):
        LayerFeatures(model=enc, layer=9)


def test_to_encoder_rate_trims_extra_frames_and_repeats_the_last_missing_one() -> None:
    x = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(to_encoder_rate(x, 3, stride=2)[:, 0], [0, 2, 4])
    np.testing.assert_array_equal(to_encoder_rate(x, 6, stride=2)[:, 0], [0, 2, 4, 6, 8, 8])
    assert to_encoder_rate(x[:0], 0).shape == (0, 1)
    with pytest.raises(LabelsError):
        to_encoder_rate(x[:0], 2)


def test_labels_round_trip_with_metadata_and_compact_dtype(tmp_path: Path) -> None:
    labels = {"a": np.array([0, 5, 99]), "b/with:odd id": np.zeros(0, np.int64), "c": np.arange(49)}
    meta = {
        "frame_rate": 50.0,
        "num_classes": 100,
        "features": "mfcc",
        "inertia": 1.5,
        "manifest": "/x/manifest.jsonl",
    }
    path = write_labels(tmp_path / "labels.safetensors", labels, meta)
    back, meta2 = read_labels(path)
    assert meta2 == meta and set(back) == set(labels)
    for k in labels:
        np.testing.assert_array_equal(back[k], labels[k])
        assert back[k].dtype == np.int16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.safetensors"]  # no temporaries


def test_labels_beyond_int16_are_stored_as_int32(tmp_path: Path) -> None:
    path = write_labels(
        tmp_path / "l.safetensors", {"a": np.array([40_000])}, {"num_classes": 50_000}
    )
    assert read_labels(path)[0]["a"].dtype == np.int32


def test_bad_labels_and_missing_files_raise_labels_error(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="num_classes"):
        write_labels(tmp_path / "l.safetensors", {"a": np.array([3])}, {"num_classes": 3})
    with pytest.raises(LabelsError, match="1-D int"):
        write_labels(tmp_path / "l.safetensors", {"a": np.zeros((2, 2), int)}, {})
    with pytest.raises(LabelsError, match="not found"):
        read_labels(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(LabelsError, match="not a readable"):
        read_labels(tmp_path / "junk.safetensors")


def test_centroids_round_trip(tmp_path: Path) -> None:
    c = np.random.default_rng(0).standard_normal((7, 39)).astype(np.float32)
    path = write_centroids(tmp_path / "centroids.safetensors", c, {"features": "layer:3"})
    back, meta = read_centroids(path)
    np.testing.assert_array_equal(back, c)
    assert meta == {"features": "layer:3"}
