"""Encoder: exact shapes from kernels/strides, padding invariance, errors, presets."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from essl.errors import AudioError, ConfigError
from essl.models import Encoder, EncoderConfig, encoder_preset, receptive_field

TINY = EncoderConfig(
    conv_layers=((32, 10, 5), (32, 3, 2), (32, 3, 2)),
    embed_dim=32,
    num_layers=2,
    num_heads=2,
    ffn_dim=64,
    pos_conv_kernel=16,
    pos_conv_groups=4,
    layer_drop=0.0,
)


def expected_frames(samples: int, layers: tuple[tuple[int, int, int], ...]) -> int:
    for _, kernel, stride in layers:
        samples = (samples - kernel) // stride + 1
    return samples


def test_output_shapes_follow_kernels_and_strides(seed: int) -> None:
    enc = Encoder(TINY)
    B, S = 3, 1600
    T = expected_frames(S, TINY.conv_layers)
    assert T == 79
    out = enc(torch.randn(B, S), torch.full((B,), S))
    assert out.hidden.shape == (B, T, 32)
    assert out.features.shape == (B, T, 32)
    assert out.projected.shape == (B, T, 32)
    assert out.padding_mask.shape == (B, T) and not out.padding_mask.any()
    assert len(out.layer_states) == TINY.num_layers + 1
    assert out.frame_lengths.tolist() == [T] * B
    assert out.feature_penalty.dim() == 0


def test_frame_lengths_per_row_and_frame_rate() -> None:
    enc = Encoder(TINY)
    lengths = torch.tensor([1600, 1000, 400, 25])
    expect = [expected_frames(int(n), TINY.conv_layers) for n in lengths]
    assert enc.frame_lengths(lengths).tolist() == expect
    assert enc.frame_rate == 16000 / 20
    assert enc.receptive_field == receptive_field(TINY.conv_layers) == 10 + 5 * 2 + 5 * 2 * 2


def test_standard_front_end_is_50_hz_with_400_sample_receptive_field() -> None:
    enc = Encoder(encoder_preset("tiny"))
    assert enc.frame_rate == 50.0
    assert enc.receptive_field == 400
    assert enc.frame_lengths(torch.tensor([16000, 400, 719, 720])).tolist() == [49, 1, 1, 2]


@pytest.mark.parametrize(
    ("conv_norm", "pre_ln", "bias"), [("group", False, False), ("layer", True, True)]
)
def test_padded_batch_equals_per_utterance_runs(
    seed: int, conv_norm: str, pre_ln: bool, bias: bool
) -> None:
    cfg = replace(TINY, conv_norm=conv_norm, layer_norm_first=pre_ln, conv_bias=bias)
    enc = Encoder(cfg).eval()
    lengths = torch.tensor([2400, 1700, 900])
    wavs = torch.randn(3, 2400) * (torch.arange(2400)[None, :] < lengths[:, None])
    batched, frames = enc.extract_features(wavs, lengths)
    for b, n in enumerate(lengths.tolist()):
        single, f1 = enc.extract_features(wavs[b : b + 1, :n], lengths[b : b + 1])
        T = int(f1[0])
        assert int(frames[b]) == T
        for layer_b, layer_1 in zip(batched, single, strict=True):
            assert (layer_b[b, :T] - layer_1[0]).abs().max() < 1e-4
            assert not layer_b[b, T:].any()  # padding is zeroed


def test_padding_content_does_not_leak_into_valid_frames(seed: int) -> None:
    enc = Encoder(TINY).eval()
    lengths = torch.tensor([2400, 1200])
    wavs = torch.randn(2, 2400)
    noisy = wavs.clone()
    noisy[1, 1200:] = 100.0 * torch.randn(1200)
    a, frames = enc.extract_features(wavs, lengths)
    b, _ = enc.extract_features(noisy, lengths)
    T = int(frames[1])
    assert (a[-1][1, :T] - b[-1][1, :T]).abs().max() < 1e-4


@pytest.mark.parametrize("n", [0, 1, 24])
def test_audio_shorter_than_receptive_field_raises(n: int) -> None:
    enc = Encoder(TINY)
    with pytest.raises(AudioError, match=rf"{n} samples.*minimum {enc.receptive_field}"):
        enc(torch.zeros(2, 100), torch.tensor([100, n]))


def test_extract_features_returns_all_or_requested_layers(seed: int) -> None:
    enc = Encoder(TINY).eval()
    wavs, lengths = torch.randn(2, 1600), torch.tensor([1600, 1600])
    states, _ = enc.extract_features(wavs, lengths)
    assert len(states) == TINY.num_layers + 1
    some, _ = enc.extract_features(wavs, lengths, layers=[2, 0])
    assert torch.equal(some[0], states[2]) and torch.equal(some[1], states[0])
    assert torch.equal(enc(wavs, lengths).hidden, states[-1])


def test_fully_masked_input_ignores_the_audio(seed: int) -> None:
    enc = Encoder(TINY).eval()
    lengths = torch.tensor([1600])
    T = int(enc.frame_lengths(lengths)[0])
    mask = torch.ones(1, T, dtype=torch.bool)
    a = enc(torch.randn(1, 1600), lengths, mask=mask).hidden
    b = enc(torch.randn(1, 1600), lengths, mask=mask).hidden
    c = enc(torch.randn(1, 1600), lengths).hidden
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-3)


def test_feature_grad_mult_scales_front_end_gradient(seed: int) -> None:
    wavs, lengths = torch.randn(2, 1600), torch.tensor([1600, 1600])
    grads = []
    for mult in (1.0, 0.1):
        torch.manual_seed(0)
        enc = Encoder(replace(TINY, feature_grad_mult=mult, dropout=0.0, dropout_input=0.0))
        enc(wavs, lengths).hidden.sum().backward()
        grads.append(enc.frontend.layers[0].conv.weight.grad)
    assert torch.allclose(grads[1], 0.1 * grads[0], rtol=1e-4, atol=1e-7)


def test_runs_under_bf16_autocast(seed: int) -> None:
    enc = Encoder(TINY)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(torch.randn(2, 1600), torch.tensor([1600, 1200]))
    out.hidden.float().sum().backward()
    assert torch.isfinite(out.hidden.float()).all()


def test_tiny_preset_matches_hf_parameter_count() -> None:
    # HF Wav2Vec2Model with the same dims: 4,802,432 (5,180,416 with pretraining heads).
    enc = Encoder(encoder_preset("tiny"))
    assert sum(p.numel() for p in enc.parameters()) == 4_802_432


@pytest.mark.slow
def test_base_preset_matches_hf_wav2vec2_base_parameter_count() -> None:
    enc = Encoder(encoder_preset("base"))
    assert sum(p.numel() for p in enc.parameters()) == 94_371_712  # REFERENCE.md


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="tiny, base, large"):
        encoder_preset("huge")


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="num_heads"):
        replace(TINY, num_heads=3).validate()
    with pytest.raises(ConfigError, match=r"conv_layers\[1\]"):
        replace(TINY, conv_layers=((32, 10, 5), (32, 0, 2))).validate()
    with pytest.raises(ConfigError, match="layer_drop"):
        replace(TINY, layer_drop=1.5).validate()
