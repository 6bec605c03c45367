"""Random span masking: wav2vec 2.0 (Baevski et al. 2020, §3.1), HuBERT (Hsu et al. 2021, §II-B).

Follows fairseq's ``compute_mask_indices`` ("static" lengths, overlap allowed): per utterance
with ``T_valid`` frames, ``num_spans = int(mask_prob * T_valid / mask_length + u)`` with
``u ~ U[0, 1)`` (probabilistic rounding), at least ``min_masks``; span starts are drawn without
replacement from the ``T_valid - mask_length + 1`` valid starts; each span masks
``mask_length`` frames, and spans may overlap, so the realised fraction is below
``mask_prob`` (about 49% of frames for 0.65 and span 10). Padding is never masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from essl.errors import ConfigError
from essl.masking.base import Masker, Segments

__all__ = ["RandomSpanConfig", "RandomSpanMasker", "expected_mask_fraction"]


@dataclass(kw_only=True)
class RandomSpanConfig:
    """Random span masking (wav2vec 2.0 §3.1)."""

    mask_prob: float = 0.65
    """Fraction of frames chosen as span starts × mask_length (before overlaps), in [0, 1]."""
    mask_length: int = 10
    """Frames per span."""
    min_masks: int = 2
    """Minimum spans per utterance (capped by the number of valid starts)."""
    channel_mask_prob: float = 0.0
    """Like mask_prob, for feature-channel masking (0 disables it)."""
    channel_mask_length: int = 64
    """Channels per channel-mask span."""

    def validate(self) -> None:
        for name in ("mask_prob", "channel_mask_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"masking.random_span.{name}: {v} must be in [0, 1]")
        for name in ("mask_length", "channel_mask_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"masking.random_span.{name}: must be a positive integer")
        if self.min_masks < 0:
            raise ConfigError("masking.random_span.min_masks: must be >= 0")


def expected_mask_fraction(mask_prob: float, mask_length: int, num_frames: int) -> float:
    """Expected masked fraction of ``num_frames`` valid frames, overlaps included (approx.).

    Each frame is covered by a span with probability ``1 - (1 - n/W)^m`` for ``n`` spans over
    ``W = num_frames - mask_length + 1`` starts and ``m = min(mask_length, ...)`` covering
    starts; it ignores edge effects and the ``min_masks`` floor.
    """
    starts = max(num_frames - mask_length + 1, 1)
    n = mask_prob * num_frames / mask_length
    return 1.0 - (1.0 - min(n / starts, 1.0)) ** mask_length


def _span_mask(
    lengths: torch.Tensor,
    size: int,
    prob: float,
    span: int,
    min_spans: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """(B, size) bool mask of random spans within each row's first ``lengths[b]`` positions."""
    lengths = lengths.to("cpu", torch.long).clamp(min=0, max=size)
    B = lengths.numel()
    span_len = lengths.clamp(max=span)  # (B,) shorter rows get one shorter span
    starts = (lengths - span_len + 1).clamp(min=0)  # (B,) valid start positions
    u = torch.rand(B, generator=generator, dtype=torch.float64)
    num = torch.floor(prob * lengths.double() / span + u).long()
    num = num.clamp(min=min_spans) if prob > 0 else num
    num = torch.minimum(num, starts)  # (B,)
    if size == 0 or B == 0 or int(num.max()) == 0:
        return torch.zeros(B, size, dtype=torch.bool)
    keys = torch.rand(B, size, generator=generator)
    pos = torch.arange(size)
    keys.masked_fill_(pos >= starts[:, None], 2.0)  # invalid starts sort last
    order = keys.argsort(dim=1)  # (B, size) random permutation of valid starts first
    picked = (pos < num[:, None]).to(torch.int32)  # first `num` in the permutation
    chosen = torch.zeros(B, size, dtype=torch.int32).scatter_(1, order, picked)
    csum = torch.nn.functional.pad(chosen.cumsum(1), (1, 0))  # (B, size + 1)
    lo = (pos[None, :] + 1 - span_len[:, None]).clamp(min=0)  # (B, size)
    covered = csum[:, 1:] - csum.gather(1, lo) > 0  # a start in [t - len + 1, t]
    return covered & (pos[None, :] < lengths[:, None])


class RandomSpanMasker(Masker):
    """Random span time masks (and optional channel masks), seeded by a torch generator."""

    def __init__(self, cfg: RandomSpanConfig) -> None:
        cfg.validate()
        self.cfg = cfg

    def __call__(
        self,
        lengths: torch.Tensor,
        num_frames: int,
        segments: Segments | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(B, T=num_frames) bool, True = masked; ``segments`` is ignored."""
        c = self.cfg
        mask = _span_mask(lengths, num_frames, c.mask_prob, c.mask_length, c.min_masks, generator)
        return mask.to(lengths.device)

    def channel_mask(
        self,
        batch_size: int,
        num_channels: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(B, D=num_channels) bool, True = channel zeroed for every frame of that row.

        Channel masking as in wav2vec 2.0 fine-tuning (§4.3) and fairseq ``mask_channel``;
        all False when ``channel_mask_prob`` is 0.
        """
        c = self.cfg
        lengths = torch.full((batch_size,), num_channels, dtype=torch.long)
        if c.channel_mask_prob == 0:
            return torch.zeros(batch_size, num_channels, dtype=torch.bool)
        return _span_mask(
            lengths, num_channels, c.channel_mask_prob, c.channel_mask_length, 0, generator
        )
