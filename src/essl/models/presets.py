"""Named encoder presets: ``tiny`` (trainable on 2 CPU cores), ``base``, ``large`` and the
published architectures.

``base`` is wav2vec 2.0 / HuBERT base (Baevski et al. 2020, §4.2: 12 layers × 768, 95M
parameters with pretraining heads); ``large`` is the LV-60 large layout (24 × 1024, layer-norm
front end, pre-LN). ``tiny`` keeps the standard front end geometry at 256 channels and a
4 × 256 Transformer.

Published architectures, parameter for parameter equal to HF transformers' models built from
the same configurations (``tests/models/test_presets.py`` checks the counts):
``wav2vec2-base`` / ``hubert-base`` (= ``base``: 94,371,712 like ``Wav2Vec2Model`` and
``HubertModel``), ``wav2vec2-large`` / ``hubert-large`` (= ``large``, LV-60: 315,438,720),
``wavlm-base-plus`` (WavLM, Chen et al. 2022, §3.2: base + gated relative position bias,
94,381,936 like ``WavLMModel``) and ``data2vec-base`` (Baevski et al. 2022, §3 / fairseq
audio base: layer-norm front end without conv bias, 5 positional convs of kernel 19,
93,164,288 like ``Data2VecAudioModel``).
"""

from __future__ import annotations

from dataclasses import replace

from essl.errors import ConfigError
from essl.models.config import STANDARD_CONV_LAYERS, EncoderConfig

__all__ = ["PRESETS", "encoder_preset"]


def _conv(channels: int) -> tuple[tuple[int, int, int], ...]:
    return tuple((channels, k, s) for _, k, s in STANDARD_CONV_LAYERS)


PRESETS: dict[str, EncoderConfig] = {
    "tiny": EncoderConfig(
        conv_layers=_conv(256),
        embed_dim=256,
        num_layers=4,
        num_heads=4,
        ffn_dim=1024,
    ),
    "base": EncoderConfig(),
    "large": EncoderConfig(
        conv_layers=_conv(512),
        conv_norm="layer",
        conv_bias=True,
        embed_dim=1024,
        num_layers=24,
        num_heads=16,
        ffn_dim=4096,
        layer_norm_first=True,
        dropout=0.0,
        attention_dropout=0.0,
        layer_drop=0.0,
        dropout_input=0.0,
        dropout_features=0.0,
        feature_grad_mult=1.0,
    ),
}
PRESETS["wav2vec2-base"] = replace(PRESETS["base"])
PRESETS["hubert-base"] = replace(PRESETS["base"])
PRESETS["wav2vec2-large"] = replace(PRESETS["large"])
PRESETS["hubert-large"] = replace(PRESETS["large"])
PRESETS["wavlm-base-plus"] = EncoderConfig(relative_position="wavlm")
PRESETS["data2vec-base"] = EncoderConfig(
    conv_norm="layer",
    pos_conv_type="data2vec",
    pos_conv_kernel=19,
    pos_conv_depth=5,
    dropout_input=0.0,
    dropout_features=0.0,
    feature_grad_mult=1.0,
)


def encoder_preset(name: str) -> EncoderConfig:
    """A fresh copy of the named preset (see :data:`PRESETS`, e.g. "tiny", "wavlm-base-plus")."""
    if name not in PRESETS:
        raise ConfigError(f"model preset '{name}': unknown; valid presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name])
