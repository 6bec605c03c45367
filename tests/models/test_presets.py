"""Published architectures: parameter counts equal HF transformers' models built from the
same configurations (random init, counted on the meta device: nothing is allocated or run),
and the encoder options they need keep essl's invariants."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from essl.errors import ConfigError
from essl.models import Encoder, EncoderConfig, encoder_preset
from essl.models.relative_position import relative_position_buckets

transformers = pytest.importorskip("transformers")

LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    conv_bias=True,
    do_stable_layer_norm=True,
)
# preset -> (HF model class, HF config class, published config overrides, REFERENCE.md count)
PUBLISHED: dict[str, tuple[str, str, dict[str, Any], int | None]] = {
    "wav2vec2-base": ("Wav2Vec2Model", "Wav2Vec2Config", {}, 94_371_712),
    "wav2vec2-large": ("Wav2Vec2Model", "Wav2Vec2Config", LARGE, 315_438_720),
    "hubert-base": ("HubertModel", "HubertConfig", {}, 94_371_712),
    "hubert-large": ("HubertModel", "HubertConfig", LARGE, None),
    "wavlm-base-plus": ("WavLMModel", "WavLMConfig", {}, 94_381_936),
    "data2vec-base": ("Data2VecAudioModel", "Data2VecAudioConfig", {}, None),
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def hf_count(model_cls: str, config_cls: str, overrides: dict[str, Any]) -> int:
    cfg = getattr(transformers, config_cls)(**overrides)
    with torch.device("meta"):
        return count(getattr(transformers, model_cls)(cfg))


@pytest.mark.parametrize("preset", list(PUBLISHED))
def test_encoder_preset_has_exactly_the_hf_parameter_count(preset: str) -> None:
    model_cls, config_cls, overrides, reference = PUBLISHED[preset]
    with torch.device("meta"):
        ours = count(Encoder(encoder_preset(preset)))
    assert ours == hf_count(model_cls, config_cls, overrides)
    if reference is not None:
        assert ours == reference


def _task_params(preset: str, overrides: list[str] | None = None) -> tuple[int, int]:
    from essl.training.presets import load_config
    from essl.training.trainer import build_task_for

    cfg = load_config(preset, overrides or [])
    with torch.device("meta"):
        task = build_task_for(cfg)
    return count(task), count(task.encoder)


@pytest.mark.parametrize(
    ("preset", "config"),
    [
        ("wav2vec2-base", {}),
        ("wav2vec2-large", dict(LARGE, codevector_dim=768, proj_codevector_dim=768)),
    ],
)
def test_wav2vec2_training_presets_equal_hf_pretraining_models(
    preset: str, config: dict[str, Any]
) -> None:
    params, encoder_params = _task_params(preset)
    assert params == hf_count("Wav2Vec2ForPreTraining", "Wav2Vec2Config", config)
    assert encoder_params == hf_count("Wav2Vec2Model", "Wav2Vec2Config", config)


def test_other_training_presets_add_only_their_published_heads() -> None:
    D = 768
    params, enc = _task_params("hubert-base", ["data.labels=x"])
    assert enc == 94_371_712 and params == enc + D * 256 + 256 + 500 * 256
    params, enc = _task_params("hubert-large", ["data.labels=x"])
    assert params == enc + 1024 * 768 + 768 + 500 * 768
    params, enc = _task_params("wavlm-base-plus", ["data.labels=x"])
    assert enc == 94_381_936 and params == enc + D * 256 + 256 + 500 * 256
    params, enc = _task_params("data2vec-base")  # EMA teacher weights are buffers
    assert enc == hf_count("Data2VecAudioModel", "Data2VecAudioConfig", {})
    assert params == enc + D * D + D


TINY = EncoderConfig(
    conv_layers=((32, 10, 5), (32, 3, 2), (32, 3, 2)),
    embed_dim=32,
    num_layers=2,
    num_heads=4,
    ffn_dim=64,
    pos_conv_kernel=16,
    pos_conv_groups=4,
    layer_drop=0.0,
)
VARIANTS = {
    "wavlm": replace(TINY, relative_position="wavlm", num_buckets=32, max_distance=50),
    "data2vec": replace(TINY, conv_norm="layer", pos_conv_type="data2vec", pos_conv_kernel=5),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_encoder_variants_give_padded_rows_their_unpadded_features(variant: str, seed: int) -> None:
    enc = Encoder(VARIANTS[variant]).eval()
    lengths = torch.tensor([4000, 2600])
    wavs = torch.randn(2, 4000) * (torch.arange(4000)[None, :] < lengths[:, None])
    with torch.no_grad():
        batch, frames = enc.extract_features(wavs, lengths)
        alone, _ = enc.extract_features(wavs[1:, :2600], lengths[1:])
    T = int(frames[1])
    for b, a in zip(batch, alone, strict=True):
        torch.testing.assert_close(b[1, :T], a[0], atol=1e-5, rtol=1e-4)
        assert b[1, T:].abs().max() == 0


def test_relative_position_buckets_are_exact_near_zero_and_split_by_direction() -> None:
    offsets = torch.arange(-1000, 1001)
    b = relative_position_buckets(offsets, 320, 800)
    assert b.min() >= 0 and b.max() < 320
    assert b[1000] == 0
    assert torch.equal(b[1001:1080], torch.arange(1, 80) + 160)  # +k → exact, upper half
    assert torch.equal(b[1000 - 79 : 1000].flip(0), torch.arange(1, 80))  # −k → exact, lower
    assert (b[1080:].diff() >= 0).all() and b[-1] == 319  # log-spaced, saturating


def test_encoder_variant_fields_are_validated() -> None:
    with pytest.raises(ConfigError, match="relative_position"):
        replace(TINY, relative_position="t5").validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pos_conv_type"):
        replace(TINY, pos_conv_type="sinusoidal").validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_buckets"):
        replace(TINY, relative_position="wavlm", num_buckets=2).validate()
