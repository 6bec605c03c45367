"""The convolutional waveform front end (wav2vec 2.0 §2, "feature encoder").

Padding-exact: a frame is valid when its whole receptive field lies in valid samples, so
valid frames never see padding through the convolutions; the only cross-time statistic, the
first layer's per-channel group norm, is computed over valid frames only
(:func:`masked_channel_norm`). A padded batch therefore gives the same valid features as
per-utterance runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from essl.models._conv_gemm import conv1d_time_major

__all__ = ["ConvFrontEnd", "conv_output_lengths", "masked_channel_norm", "receptive_field"]


def conv_output_lengths(
    lengths: torch.Tensor, layers: Sequence[tuple[int, int, int]]
) -> torch.Tensor:
    """(B,) valid frames after the convolutions, for (B,) valid samples (no padding, floor)."""
    out = lengths.long()
    for _, kernel, stride in layers:
        out = torch.div(out - kernel, stride, rounding_mode="floor") + 1
    return out.clamp(min=0)


def receptive_field(layers: Sequence[tuple[int, int, int]]) -> int:
    """Samples seen by one output frame (400 for the standard front end)."""
    field = 1
    for _, kernel, stride in reversed(layers):
        field = (field - 1) * stride + kernel
    return field


def masked_channel_norm(
    x: torch.Tensor,
    lengths: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """GroupNorm(C groups, C channels) of time-major features, over valid time steps only.

    Args:
        x: (B, T, C) conv output.
        lengths: (B,) valid steps per row (>= 1), or None when no row is padded.
        weight, bias: (C,) affine parameters.
    """
    xf = x.float()  # statistics in fp32, also under autocast
    if lengths is None:
        var, mean = torch.var_mean(xf, dim=1, correction=0, keepdim=True)  # (B, 1, C)
        scale = torch.rsqrt(var + eps) * weight.float()  # (B, 1, C)
        return torch.addcmul(bias.float() - mean * scale, xf, scale).to(x.dtype)
    T = x.shape[1]
    valid = (torch.arange(T, device=x.device)[None, :] < lengths[:, None]).float()
    valid = valid[..., None]  # (B, T, 1)
    count = lengths.float().clamp(min=1)[:, None, None]  # (B, 1, 1)
    centered = xf - (xf * valid).sum(1, keepdim=True) / count
    var = (centered * centered * valid).sum(1, keepdim=True) / count
    scale = torch.rsqrt(var + eps) * weight.float()  # (B, 1, C)
    return torch.addcmul(bias.float(), centered, scale).to(x.dtype)


class ConvLayer(nn.Module):
    """One conv → norm → GELU block on time-major (B, T, C) activations; ``norm`` is "group"
    (per channel over valid time steps), "layer" (per frame over channels) or "none"."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool, norm: str):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)
        self.stride = stride
        self.norm: nn.Module | None = None
        if norm == "group":
            self.norm = nn.GroupNorm(out_ch, out_ch, affine=True)
        elif norm == "layer":
            self.norm = nn.LayerNorm(out_ch, elementwise_affine=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T_in, C_in) → (B, T, C); ``lengths`` (B,) are valid output steps."""
        x = conv1d_time_major(x, self.conv.weight, self.conv.bias, self.stride)
        if isinstance(self.norm, nn.GroupNorm):
            n = self.norm
            padded = None if bool((lengths == x.shape[1]).all()) else lengths
            x = masked_channel_norm(x, padded, n.weight, n.bias, n.eps)
        elif isinstance(self.norm, nn.LayerNorm):
            x = self.norm(x)
        return F.gelu(x)


class ConvFrontEnd(nn.Module):
    """Waveform (B, S) → conv features (B, T, C) and frame lengths (B,).

    Runs time-major throughout (convolutions as GEMMs, see :mod:`essl.models._conv_gemm`);
    the weights keep ``nn.Conv1d``'s layout, so checkpoints map one to one.
    """

    def __init__(self, layers: Sequence[tuple[int, int, int]], norm: str, bias: bool) -> None:
        super().__init__()
        self.layer_specs = tuple((int(c), int(k), int(s)) for c, k, s in layers)
        blocks, in_ch = [], 1
        for i, (ch, kernel, stride) in enumerate(self.layer_specs):
            kind = norm if norm == "layer" or i == 0 else "none"
            blocks.append(ConvLayer(in_ch, ch, kernel, stride, bias, kind))
            in_ch = ch
        self.layers = nn.ModuleList(blocks)

    def forward(
        self, wavs: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = wavs[:, :, None]  # (B, S, 1)
        for layer, spec in zip(self.layers, self.layer_specs, strict=True):
            lengths = conv_output_lengths(lengths, [spec])
            x = layer(x, lengths)  # (B, T, C)
        return x, lengths
