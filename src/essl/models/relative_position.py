"""WavLM's gated relative position bias (Chen et al. 2022, §3.2).

Offsets between key and query frames are bucketed (exact below ``num_buckets / 4``, then
log-spaced up to ``max_distance``, one half of the buckets per direction, as in T5); one
learned table gives an (H, T, T) bias shared by all layers, and each layer scales it per
head and query frame with a gate computed from its attention input ("gated relative
position bias", eq. 5-6): g = σ(a) · (σ(b) · w − 1) + 2. The bias is added to the attention
logits as a float ``attn_mask`` of :func:`torch.nn.functional.scaled_dot_product_attention`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GatedRelativeBias", "RelativePositionBias", "relative_position_buckets"]


def relative_position_buckets(
    offsets: torch.Tensor, num_buckets: int, max_distance: int
) -> torch.Tensor:
    """Bucket ids (same shape, long) of ``offsets`` = key frame − query frame."""
    half = num_buckets // 2
    buckets = (offsets > 0).long() * half
    dist = offsets.abs()
    max_exact = half // 2
    ratio = torch.log(dist.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + ratio * (half - max_exact)).long().clamp(max=half - 1)
    return buckets + torch.where(dist < max_exact, dist, large)


class RelativePositionBias(nn.Module):
    """(T,) → (H, T, T) learned bias of each key offset (WavLM's ``rel_attn_embed``)."""

    def __init__(self, num_heads: int, num_buckets: int, max_distance: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_buckets, num_heads)
        self.num_buckets, self.max_distance = num_buckets, max_distance

    def forward(self, num_frames: int) -> torch.Tensor:
        pos = torch.arange(num_frames, device=self.embed.weight.device)
        buckets = relative_position_buckets(
            pos[None, :] - pos[:, None], self.num_buckets, self.max_distance
        )  # (T, T)
        return self.embed(buckets).permute(2, 0, 1)  # (H, T, T)


class GatedRelativeBias(nn.Module):
    """Per-layer gate of the shared bias from the attention input (WavLM eq. 6)."""

    def __init__(self, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, num_heads, 1, 1))
        self.linear = nn.Linear(head_dim, 8)
        self.heads = num_heads

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) attention input, bias (H, T, T) → (B, H, T, T) gated bias."""
        B, T, D = x.shape
        h = x.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # (B, H, T, d)
        a, b = torch.sigmoid(self.linear(h).view(B, self.heads, T, 2, 4).sum(-1)).chunk(2, -1)
        gate = a * (b * self.const - 1.0) + 2.0  # (B, H, T, 1)
        return gate * bias[None]
