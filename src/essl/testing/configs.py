"""Tiny configs for tests: a model that runs a training step in milliseconds on a CPU."""

from __future__ import annotations

from essl.masking import MaskingConfig, RandomSpanConfig
from essl.models import EncoderConfig

__all__ = ["TINY_ENCODER", "TINY_MASKING"]

TINY_ENCODER = EncoderConfig(
    conv_layers=((32, 10, 5), (32, 3, 2), (32, 3, 2)),
    embed_dim=32,
    num_layers=2,
    num_heads=2,
    ffn_dim=64,
    pos_conv_kernel=16,
    pos_conv_groups=4,
    layer_drop=0.0,
    dropout=0.0,
    attention_dropout=0.0,
    dropout_input=0.0,
    dropout_features=0.0,
    feature_grad_mult=1.0,
)
"""3 convs × 32 channels (hop 20 samples), 2 Transformer layers × 32, no dropout."""

TINY_MASKING = MaskingConfig(random_span=RandomSpanConfig(mask_prob=0.5, mask_length=4))
"""Random spans of 4 frames at mask_prob 0.5 (sequences are short)."""
