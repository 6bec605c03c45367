"""Tiny configs for tests: a model that runs a training step in milliseconds on a CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from essl.masking import MaskingConfig, RandomSpanConfig
from essl.models import STANDARD_CONV_LAYERS, EncoderConfig

if TYPE_CHECKING:
    from essl.objectives.base import SSLTask

__all__ = ["TINY_ENCODER", "TINY_MASKING", "tiny_task"]

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


def tiny_task(objective: str) -> SSLTask:
    """A 1-layer × 32 task of ``objective`` (wav2vec2 or hubert with 5 classes) over the
    standard front end's geometry (7 convs, 320-sample hop) at 32 channels, default dropout."""
    from essl.objectives import ObjectiveConfig, build_task

    enc = EncoderConfig(
        conv_layers=tuple((32, k, s) for _, k, s in STANDARD_CONV_LAYERS),
        embed_dim=32,
        num_layers=1,
        num_heads=2,
        ffn_dim=64,
        pos_conv_kernel=16,
        pos_conv_groups=4,
    )
    obj = ObjectiveConfig(name=objective)  # type: ignore[arg-type]
    obj.wav2vec2.num_vars, obj.wav2vec2.codevector_dim, obj.wav2vec2.final_dim = 8, 16, 16
    obj.wav2vec2.num_negatives = 5
    obj.hubert.num_classes, obj.hubert.final_dim = 5, 16
    return build_task(enc, MaskingConfig(), obj)
