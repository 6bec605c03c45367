"""The context network: convolutional positional embedding + Transformer (wav2vec 2.0 §2).

Attention uses :func:`torch.nn.functional.scaled_dot_product_attention` with a key-padding
mask (and, for WavLM, the gated relative position bias as a float mask); Q, K and V come
from one fused projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from essl.models.relative_position import GatedRelativeBias, RelativePositionBias

__all__ = ["PositionalConv", "StackedPositionalConv", "TransformerEncoder", "TransformerLayer"]


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


class StackedPositionalConv(nn.Module):
    """data2vec's positional embedding (Baevski et al. 2022, §3 / fairseq ``conv_pos_depth``):
    ``depth`` grouped convs, each followed by a non-affine LN over channels and GELU.

    Padded frames are re-zeroed between the convs (given ``padding_mask``) so a padded batch
    gives the same valid frames as per-utterance runs; HF transformers does not re-zero, so
    its padded outputs differ (unpadded ones are identical)."""

    def __init__(self, dim: int, kernel: int, groups: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups) for _ in range(depth)
        )
        for conv in self.layers:
            assert isinstance(conv, nn.Conv1d) and conv.bias is not None
            nn.init.normal_(conv.weight, mean=0.0, std=(4.0 / (kernel * dim)) ** 0.5)
            nn.init.zeros_(conv.bias)
        self.trim = 1 if kernel % 2 == 0 else 0
        self.dim = dim

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) with zeros at padded frames → (B, T, D) positional embedding."""
        T = x.shape[1]
        for i, conv in enumerate(self.layers):
            if i and padding_mask is not None:
                x = x.masked_fill(padding_mask[..., None], 0.0)
            y = conv(x.transpose(1, 2))[:, :, :T].transpose(1, 2)  # (B, T, D)
            x = F.gelu(F.layer_norm(y, (self.dim,)))
        return x


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
        rel_gate: GatedRelativeBias | None = None,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.rel_gate = rel_gate
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

    def attention(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, T, D = x.shape
        if bias is not None and self.rel_gate is not None:
            gated = self.rel_gate(x, bias).to(x.dtype)  # (B, H, T, T)
            attn_mask = gated if attn_mask is None else gated.masked_fill(~attn_mask, -torch.inf)
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        p = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B,H,T,d)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D))

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act_dropout(F.gelu(self.fc1(x))))

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, D) → (B, T, D); ``attn_mask`` (B, 1, 1, T) bool, True = attend, or None;
        ``bias`` (H, T, T) shared relative position bias (gated here), or None."""
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attn_norm(x), attn_mask, bias))
            return x + self.dropout(self.ffn(self.ffn_norm(x)))
        x = self.attn_norm(x + self.dropout(self.attention(x, attn_mask, bias)))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


class TransformerEncoder(nn.Module):
    """Positional conv → (LN) → L layers with LayerDrop → (final LN when pre-LN)."""

    def __init__(
        self,
        layers: list[TransformerLayer],
        pos_conv: PositionalConv | StackedPositionalConv,
        dim: int,
        dropout: float,
        layer_drop: float,
        layer_norm_first: bool,
        rel_pos: RelativePositionBias | None = None,
    ) -> None:
        super().__init__()
        self.pos_conv = pos_conv
        self.rel_pos = rel_pos
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
        if isinstance(self.pos_conv, StackedPositionalConv):
            x = x + self.pos_conv(x, padding_mask)
        else:
            x = x + self.pos_conv(x)
        bias = self.rel_pos(x.shape[1]) if self.rel_pos is not None else None  # (H, T, T)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        keep = keep or set()
        states = {0: x} if 0 in keep else {}
        drops = torch.rand(len(self.layers)) if self.training and self.layer_drop > 0 else None
        for i, layer in enumerate(self.layers, start=1):
            if drops is None or drops[i - 1] >= self.layer_drop:
                x = layer(x, attn_mask, bias)
            if i == len(self.layers) and self.layer_norm_first:
                x = self.layer_norm(x)
            if i in keep:
                states[i] = x
        return x, states
