"""The context network: convolutional positional embedding + Transformer (wav2vec 2.0 §2).

Attention uses :func:`torch.nn.functional.scaled_dot_product_attention` with a key-padding
mask; Q, K and V come from one fused projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = ["PositionalConv", "TransformerEncoder", "TransformerLayer"]


class PositionalConv(nn.Module):
    """Grouped conv over time (kernel k, padding k//2, weight norm over time), GELU; the last
    frame is dropped for even k so T is preserved (wav2vec 2.0 §2, fairseq/HF layout)."""

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        nn.init.normal_(conv.weight, mean=0.0, std=(4.0 / (kernel * dim)) ** 0.5)
        assert conv.bias is not None
        nn.init.zeros_(conv.bias)
        self.conv = weight_norm(conv, name="weight", dim=2)
        self.trim = 1 if kernel % 2 == 0 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) with zeros at padded frames → (B, T, D) positional embedding."""
        T = x.shape[1]
        y = self.conv(x.transpose(1, 2))[:, :, :T]  # (B, D, T)
        return F.gelu(y).transpose(1, 2)


class TransformerLayer(nn.Module):
    """Self-attention + feed-forward block, post-LN (base) or pre-LN (large)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        ffn_dim: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        layer_norm_first: bool,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.attn_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.act_dropout = nn.Dropout(activation_dropout)
        self.attention_dropout = attention_dropout
        self.layer_norm_first = layer_norm_first

    def attention(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B,H,T,d)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D))

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act_dropout(F.gelu(self.fc1(x))))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, T, D) → (B, T, D); ``attn_mask`` (B, 1, 1, T) bool, True = attend, or None."""
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attn_norm(x), attn_mask))
            return x + self.dropout(self.ffn(self.ffn_norm(x)))
        x = self.attn_norm(x + self.dropout(self.attention(x, attn_mask)))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


class TransformerEncoder(nn.Module):
    """Positional conv → (LN) → L layers with LayerDrop → (final LN when pre-LN)."""

    def __init__(
        self,
        layers: list[TransformerLayer],
        pos_conv: PositionalConv,
        dim: int,
        dropout: float,
        layer_drop: float,
        layer_norm_first: bool,
    ) -> None:
        super().__init__()
        self.pos_conv = pos_conv
        self.layer_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.layer_drop = layer_drop
        self.layer_norm_first = layer_norm_first

    def forward(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None,
        keep: set[int] | None = None,
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Run the context network.

        Args:
            x: (B, T, D) projected (and masked) features.
            padding_mask: (B, T) bool, True = padded, or None when nothing is padded.
            keep: layer-state indices to return (0 = input to layer 1, i = output of layer i;
                the last one after the final LN when pre-LN, as in HF transformers).

        Returns:
            (B, T, D) last hidden state (after the final LN when pre-LN), and the kept states.
        """
        attn_mask = None
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
            attn_mask = ~padding_mask[:, None, None, :]  # (B, 1, 1, T) True = attend
        x = x + self.pos_conv(x)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        keep = keep or set()
        states = {0: x} if 0 in keep else {}
        drops = torch.rand(len(self.layers)) if self.training and self.layer_drop > 0 else None
        for i, layer in enumerate(self.layers, start=1):
            if drops is None or drops[i - 1] >= self.layer_drop:
                x = layer(x, attn_mask)
            if i == len(self.layers) and self.layer_norm_first:
                x = self.layer_norm(x)
            if i in keep:
                states[i] = x
        return x, states
