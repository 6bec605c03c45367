"""The encoder: conv front end → feature LN → projection → (mask) → Transformer.

wav2vec 2.0 (Baevski et al. 2020, §2) and HuBERT (Hsu et al. 2021, §II) share it; options
give WavLM's gated relative position bias (Chen et al. 2022, §3.2) and data2vec's stacked
positional convolutions (Baevski et al. 2022, §3). Every
``forward`` takes ``(wavs, lengths)``; :meth:`Encoder.extract_features` is the evaluation
contract (per-layer states and frame lengths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from essl.errors import AudioError
from essl.models.config import EncoderConfig
from essl.models.frontend import ConvFrontEnd, conv_output_lengths, receptive_field
from essl.models.grad import scale_gradient
from essl.models.relative_position import GatedRelativeBias, RelativePositionBias
from essl.models.transformer import (
    PositionalConv,
    StackedPositionalConv,
    TransformerEncoder,
    TransformerLayer,
)

__all__ = ["Encoder", "EncoderOutput"]


@dataclass
class EncoderOutput:
    """What :meth:`Encoder.forward` returns (padded frames hold unspecified values)."""

    hidden: torch.Tensor
    """(B, T, D) last Transformer state (after the final LN when pre-LN)."""
    layer_states: list[torch.Tensor]
    """(B, T, D) each: all L + 1 states for ``layers=None`` (0 = input to layer 1 after the
    positional conv, i = output of layer i), else the requested ones in the requested order."""
    frame_lengths: torch.Tensor
    """(B,) valid frames per row."""
    features: torch.Tensor
    """(B, T, C) unmasked conv features after the feature LN (and ``dropout_features`` in
    training): the quantizer's input."""
    projected: torch.Tensor
    """(B, T, D) projected features before input dropout and masking."""
    padding_mask: torch.Tensor
    """(B, T) bool, True = padded."""
    feature_penalty: torch.Tensor
    """() mean squared conv features (before the LN) over valid frames (wav2vec 2.0 §3.2)."""


class Encoder(nn.Module):
    """wav2vec 2.0 / HuBERT encoder built from an :class:`EncoderConfig`."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.frontend = ConvFrontEnd(cfg.conv_layers, cfg.conv_norm, cfg.conv_bias)
        C, D = cfg.conv_dim, cfg.embed_dim
        self.feature_norm = nn.LayerNorm(C)
        self.projection = nn.Linear(C, D)
        self.mask_embedding = nn.Parameter(torch.empty(D).uniform_())
        self.dropout_input = nn.Dropout(cfg.dropout_input)
        self.dropout_features = nn.Dropout(cfg.dropout_features)
        wavlm = cfg.relative_position == "wavlm"
        layers = [
            TransformerLayer(
                D,
                cfg.num_heads,
                cfg.ffn_dim,
                cfg.dropout,
                cfg.attention_dropout,
                cfg.activation_dropout,
                cfg.layer_norm_first,
                GatedRelativeBias(cfg.num_heads, D // cfg.num_heads) if wavlm else None,
            )
            for _ in range(cfg.num_layers)
        ]
        pos: PositionalConv | StackedPositionalConv
        if cfg.pos_conv_type == "data2vec":
            pos = StackedPositionalConv(
                D, cfg.pos_conv_kernel, cfg.pos_conv_groups, cfg.pos_conv_depth
            )
        else:
            pos = PositionalConv(D, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        rel = RelativePositionBias(cfg.num_heads, cfg.num_buckets, cfg.max_distance)
        self.transformer = TransformerEncoder(
            layers,
            pos,
            D,
            cfg.dropout,
            cfg.layer_drop,
            cfg.layer_norm_first,
            rel if wavlm else None,
        )
        self._receptive_field = receptive_field(cfg.conv_layers)

    @property
    def frame_rate(self) -> float:
        """Frames per second (50.0 for 16 kHz and the standard front end)."""
        return self.cfg.sample_rate / math.prod(s for _, _, s in self.cfg.conv_layers)

    @property
    def receptive_field(self) -> int:
        """Samples seen by one frame; also the shortest accepted input (400 as standard)."""
        return self._receptive_field

    @property
    def num_layers(self) -> int:
        """L, the number of Transformer layers."""
        return self.cfg.num_layers

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        """(B,) valid frames for (B,) valid samples."""
        return conv_output_lengths(sample_lengths, self.cfg.conv_layers)

    def _check(self, wavs: torch.Tensor, lengths: torch.Tensor) -> None:
        if wavs.dim() != 2 or lengths.shape != (wavs.shape[0],):
            raise AudioError(
                f"encoder input: expected wavs (B, S) and lengths (B,), got "
                f"{tuple(wavs.shape)} and {tuple(lengths.shape)}"
            )
        if wavs.shape[0] == 0:
            raise AudioError("encoder input: empty batch (B = 0)")
        shortest, longest = int(lengths.min()), int(lengths.max())
        if shortest < self.receptive_field:
            row = int(lengths.argmin())
            raise AudioError(
                f"encoder input: row {row} has {shortest} samples, shorter than the minimum "
                f"{self.receptive_field} (one frame's receptive field); drop or pad such audio"
            )
        if longest > wavs.shape[1]:
            raise AudioError(
                f"encoder input: a length of {longest} exceeds the padded size {wavs.shape[1]}"
            )

    def _conv(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(wavs, lengths)
        mult = self.cfg.feature_grad_mult
        if mult == 0:
            with torch.no_grad():
                raw, frames = self.frontend(wavs, lengths)
        else:
            raw, frames = self.frontend(wavs, lengths)
            if mult != 1.0 and raw.requires_grad:
                raw = scale_gradient(raw, mult)
        return raw, frames  # (B, T, C), (B,)

    def forward_features(
        self, wavs: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S), (B,) samples → conv features (B, T, C) after the feature LN, (B,) frames."""
        raw, frames = self._conv(wavs, lengths)
        return self.feature_norm(raw), frames

    def forward(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        mask: torch.Tensor | None = None,
        layers: Sequence[int] | None = None,
        mask_values: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """Encode (B, S) waveforms with (B,) valid samples.

        Args:
            mask: (B, T) bool, True = replace that frame by the learned mask embedding.
            layers: layer states to return (None = all L + 1, ``()`` = none).
            mask_values: (B, T, D) what masked frames get instead of the mask embedding
                (e.g. BEST-RQ's noise), or None.
        """
        raw, frames = self._conv(wavs, lengths)
        T = raw.shape[1]
        padding_mask = torch.arange(T, device=raw.device)[None, :] >= frames[:, None]  # (B, T)
        valid = (~padding_mask).to(raw.dtype)[..., None]
        penalty = (raw.float().pow(2) * valid).sum() / (valid.sum() * raw.shape[-1])
        features = self.feature_norm(raw)
        projected = self.projection(features)  # (B, T, D)
        x = self.dropout_input(projected)
        if mask is not None:
            fill = self.mask_embedding if mask_values is None else mask_values
            x = torch.where(mask[..., None], fill.to(x.dtype), x)
        keep = list(range(self.num_layers + 1)) if layers is None else list(layers)
        for i in keep:
            if not 0 <= i <= self.num_layers:
                raise ValueError(f"layers: {i} is not in [0, {self.num_layers}]")
        any_pad = bool(frames.min() < T)
        hidden, states = self.transformer(x, padding_mask if any_pad else None, set(keep))
        return EncoderOutput(
            hidden=hidden,
            layer_states=[states[i] for i in keep],
            frame_lengths=frames,
            features=self.dropout_features(features),
            projected=projected,
            padding_mask=padding_mask,
            feature_penalty=penalty,
        )

    def extract_features(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        layers: Sequence[int] | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-layer states [(B, T, D)] (None = all L + 1; padded frames zeroed), (B,) frames.

        No masking; call ``.eval()`` first for deterministic features (no dropout/LayerDrop).
        """
        out = self.forward(wavs, lengths, mask=None, layers=layers)
        keep = (~out.padding_mask)[..., None].to(out.hidden.dtype)
        return [s * keep for s in out.layer_states], out.frame_lengths
