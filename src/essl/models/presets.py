"""Named encoder presets: ``tiny`` (trainable on 2 CPU cores), ``base`` and ``large``.

``base`` is wav2vec 2.0 / HuBERT base (Baevski et al. 2020, §4.2: 12 layers × 768, 95M
parameters with pretraining heads); ``large`` is the LV-60 large layout (24 × 1024, layer-norm
front end, pre-LN). ``tiny`` keeps the standard front end geometry at 256 channels and a
4 × 256 Transformer.
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


def encoder_preset(name: str) -> EncoderConfig:
    """A fresh copy of the named preset ("tiny", "base" or "large")."""
    if name not in PRESETS:
        raise ConfigError(f"model preset '{name}': unknown; valid presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name])
