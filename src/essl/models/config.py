"""The encoder's config: a convolutional waveform front end followed by a Transformer.

Field names follow wav2vec 2.0 (Baevski et al. 2020, §2) and its fairseq/HF implementations;
named presets live in :mod:`essl.models.presets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from essl.errors import ConfigError

__all__ = ["STANDARD_CONV_LAYERS", "EncoderConfig"]

STANDARD_CONV_LAYERS: tuple[tuple[int, int, int], ...] = (
    (512, 10, 5),
    (512, 3, 2),
    (512, 3, 2),
    (512, 3, 2),
    (512, 3, 2),
    (512, 2, 2),
    (512, 2, 2),
)
"""wav2vec 2.0's front end: 7 convolutions, 20 ms hop (320 samples), 25 ms receptive field."""


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"model.{name}: {value} is not a probability in [0, 1); set e.g. 0.1")


@dataclass(kw_only=True)
class EncoderConfig:
    """A wav2vec 2.0 / HuBERT style encoder (conv front end + Transformer)."""

    conv_layers: tuple[tuple[int, int, int], ...] = STANDARD_CONV_LAYERS
    """(channels, kernel, stride) of each 1-D convolution, first layer first."""
    conv_norm: Literal["group", "layer"] = "group"
    """"group": per-channel norm over time after the first conv only (wav2vec 2.0 base);
    "layer": per-frame layer norm after every conv (wav2vec 2.0 large LV-60)."""
    conv_bias: bool = False
    """Whether the convolutions have a bias."""
    embed_dim: int = 768
    """D, the Transformer width."""
    num_layers: int = 12
    """L, the number of Transformer layers."""
    num_heads: int = 12
    """Attention heads per layer (must divide embed_dim)."""
    ffn_dim: int = 3072
    """Hidden width of each feed-forward block."""
    layer_norm_first: bool = False
    """Pre-LN layers plus a final layer norm (large) instead of post-LN (base)."""
    dropout: float = 0.1
    """Dropout on residual branches (and after the positional conv)."""
    attention_dropout: float = 0.1
    """Dropout on attention probabilities."""
    activation_dropout: float = 0.0
    """Dropout after the feed-forward activation."""
    layer_drop: float = 0.05
    """Probability of skipping a whole Transformer layer during training (LayerDrop)."""
    dropout_input: float = 0.1
    """Dropout on the projected features before masking."""
    dropout_features: float = 0.1
    """Dropout on the unmasked conv features returned for quantizer targets."""
    pos_conv_kernel: int = 128
    """Kernel of the convolutional relative positional embedding."""
    pos_conv_groups: int = 16
    """Groups of the positional convolution (must divide embed_dim)."""
    pos_conv_type: Literal["wav2vec2", "data2vec"] = "wav2vec2"
    """"wav2vec2": one weight-normed conv + GELU (wav2vec 2.0 §2, HuBERT, WavLM);
    "data2vec": ``pos_conv_depth`` plain convs, each + non-affine LN + GELU (data2vec §3,
    fairseq ``conv_pos_depth``; base uses 5 layers of kernel 19)."""
    pos_conv_depth: int = 5
    """Stacked positional convolutions of the "data2vec" type (unused for "wav2vec2")."""
    relative_position: Literal["none", "wavlm"] = "none"
    """"wavlm": gated relative position bias added to every layer's attention logits
    (WavLM, Chen et al. 2022, §3.2; bucketed offsets, one bias table shared by all layers)."""
    num_buckets: int = 320
    """Relative-position buckets of the "wavlm" bias (half per direction)."""
    max_distance: int = 800
    """Offsets from this many frames on share the last (log-spaced) bucket."""
    feature_grad_mult: float = 0.1
    """Scale of the gradient reaching the conv front end (0 freezes it; 1 = plain)."""
    sample_rate: int = 16000
    """Input sample rate in Hz."""

    def validate(self) -> None:
        if not self.conv_layers:
            raise ConfigError(
                "model.conv_layers: empty; give at least one (channels, kernel, stride)"
            )
        for i, layer in enumerate(self.conv_layers):
            if len(layer) != 3 or min(layer) < 1:
                raise ConfigError(
                    f"model.conv_layers[{i}]: {layer!r} must be 3 positive ints "
                    "(channels, kernel, stride)"
                )
        if self.conv_norm not in ("group", "layer"):
            raise ConfigError(f"model.conv_norm: {self.conv_norm!r} is not 'group' or 'layer'")
        if self.pos_conv_type not in ("wav2vec2", "data2vec"):
            raise ConfigError(
                f"model.pos_conv_type: {self.pos_conv_type!r} is not 'wav2vec2' or 'data2vec'"
            )
        if self.relative_position not in ("none", "wavlm"):
            raise ConfigError(
                f"model.relative_position: {self.relative_position!r} is not 'none' or 'wavlm'"
            )
        if self.relative_position == "wavlm" and not 4 <= self.num_buckets <= 4 * self.max_distance:
            raise ConfigError(
                "model.num_buckets: need 4 <= num_buckets <= 4 * max_distance (WavLM: 320, 800)"
            )
        names = ("embed_dim", "num_layers", "num_heads", "ffn_dim", "pos_conv_kernel")
        for name in (*names, "pos_conv_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}: must be a positive integer")
        if self.embed_dim % self.num_heads:
            raise ConfigError(
                f"model.num_heads: {self.num_heads} does not divide embed_dim={self.embed_dim}"
            )
        if self.pos_conv_groups < 1 or self.embed_dim % self.pos_conv_groups:
            raise ConfigError(
                f"model.pos_conv_groups: {self.pos_conv_groups} does not divide "
                f"embed_dim={self.embed_dim}"
            )
        for name in ("dropout", "attention_dropout", "activation_dropout", "layer_drop"):
            _check_prob(name, getattr(self, name))
        for name in ("dropout_input", "dropout_features"):
            _check_prob(name, getattr(self, name))
        if self.feature_grad_mult < 0:
            raise ConfigError("model.feature_grad_mult: must be >= 0 (0 freezes the front end)")
        if self.sample_rate < 1:
            raise ConfigError("model.sample_rate: must be a positive integer (Hz), e.g. 16000")

    @property
    def conv_dim(self) -> int:
        """C, channels of the last convolution."""
        return self.conv_layers[-1][0]
