"""Segment-informed masking: mask whole phones (or words, or runs of k phones).

Phonetically-informed masking masks linguistic units instead of fixed-length spans (cf.
Baevski et al. 2020 §3.1 for the random-span baseline; unit masking as in SpanBERT-style /
"phone-aware" masking studies, e.g. Yue et al. 2022 and the segment masks of Kreuk-style
boundary work). To compare fairly with random spans, the masked fraction is matched: each row
with ``n`` valid frames aims at ``target · n`` masked frames, where ``target`` is the random
span masker's exact expected fraction for ``n`` frames (:func:`random_span_fraction`;
``mask_prob`` 0.65, ``mask_length`` 10 → 0.49 on 2 s crops), or
:func:`~essl.masking.random_span.expected_mask_fraction` with ``match="formula"``, or
``target_fraction`` when set.

Per row: units are the row's segments (``span_segments = k > 1``: each run of k consecutive
segments starting at every segment); units are visited in random order and added while the
masked count stays within the goal; the unit that would overshoot is added with probability
``(goal − masked) / new_frames`` and the row stops. The expected masked count is therefore
the goal (as long as the segments cover enough frames), and every masked run starts and ends
on segment edges. Frames outside every segment and padding are never masked.

**Fallback.** Rows whose segment list is empty — and every row when ``segments`` is None —
get random spans (:class:`~essl.masking.random_span.RandomSpanMasker` with the same
``mask_prob`` and ``mask_length``), so a corpus with partial boundaries still trains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from essl.data.manifest import Utterance
from essl.errors import ConfigError
from essl.masking.base import Masker, Segments
from essl.masking.random_span import RandomSpanConfig, RandomSpanMasker, expected_mask_fraction

__all__ = [
    "SegmentMaskConfig",
    "SegmentMasker",
    "batch_segments",
    "crop_segments",
    "random_span_fraction",
]


@dataclass(kw_only=True)
class SegmentMaskConfig:
    """Segment (phone / word) masking with the random-span masked fraction."""

    target_fraction: float | None = None
    """Fraction of valid frames to mask; None = the random-span expected fraction."""
    mask_prob: float = 0.65
    """Random-span ``mask_prob`` whose expected fraction is matched (and used for fallback)."""
    mask_length: int = 10
    """Random-span ``mask_length`` whose expected fraction is matched (and used for fallback)."""
    min_masks: int = 2
    """Random-span ``min_masks`` (enters the exact expectation and the fallback)."""
    match: Literal["exact", "formula"] = "exact"
    """Target when ``target_fraction`` is None: ``exact`` = the random-span masker's true
    expected fraction for the row length (edge effects, rounding and ``min_masks``
    included: :func:`random_span_fraction`); ``formula`` =
    :func:`~essl.masking.random_span.expected_mask_fraction` (ignores edges: about 3 points
    higher on 2 s crops)."""
    span_segments: int = 1
    """k: consecutive segments masked together as one unit (1 = single phones/words)."""

    def validate(self) -> None:
        if self.target_fraction is not None and not 0.0 <= self.target_fraction <= 1.0:
            raise ConfigError(
                f"masking.segment.target_fraction: {self.target_fraction} must be in [0, 1] "
                "or null (match random spans)"
            )
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ConfigError(f"masking.segment.mask_prob: {self.mask_prob} must be in [0, 1]")
        if self.mask_length < 1 or self.span_segments < 1 or self.min_masks < 0:
            raise ConfigError(
                "masking.segment.mask_length/span_segments: must be >= 1 (min_masks >= 0)"
            )
        if self.match not in ("exact", "formula"):
            raise ConfigError("masking.segment.match: 'exact' or 'formula'")

    def target(self, num_frames: int) -> float:
        """Target masked fraction for a row of ``num_frames`` valid frames."""
        if self.target_fraction is not None:
            return self.target_fraction
        if self.match == "formula":
            return expected_mask_fraction(self.mask_prob, self.mask_length, num_frames)
        return random_span_fraction(self.mask_prob, self.mask_length, self.min_masks, num_frames)


@lru_cache(maxsize=4096)
def random_span_fraction(
    mask_prob: float, mask_length: int, min_masks: int, num_frames: int
) -> float:
    """Exact expected masked fraction of :class:`RandomSpanMasker` on ``num_frames`` frames.

    With ``W`` valid starts, ``n`` distinct starts drawn (``n = floor(p T / L + u)``, at least
    ``min_masks``, at most ``W``) and ``c_t`` starts covering frame ``t``, frame ``t`` stays
    unmasked with probability ``C(W − c_t, n) / C(W, n)``; average over ``t`` and ``n``.
    """
    T = num_frames
    if T <= 0 or mask_prob == 0:
        return 0.0
    span = min(mask_length, T)
    W = T - span + 1
    t = np.arange(T)
    c = np.minimum(t, W - 1) - np.maximum(0, t - span + 1) + 1  # (T,) covering starts
    x = mask_prob * T / mask_length
    lo = math.floor(x)
    total = 0.0
    for n, prob in ((lo, 1.0 - (x - lo)), (lo + 1, x - lo)):
        if prob <= 0:
            continue
        n = min(max(n, min_masks), W)
        i = np.arange(n)[:, None]
        free = np.clip((W - c[None, :] - i) / (W - i), 0.0, None).prod(axis=0) if n else 1.0
        total += prob * float(np.mean(1.0 - free))
    return total


class SegmentMasker(Masker):
    """Masks whole segments until the random-span fraction (see the module docstring)."""

    def __init__(self, cfg: SegmentMaskConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.fallback = RandomSpanMasker(
            RandomSpanConfig(
                mask_prob=cfg.mask_prob, mask_length=cfg.mask_length, min_masks=cfg.min_masks
            )
        )

    def __call__(
        self,
        lengths: torch.Tensor,
        num_frames: int,
        segments: Segments | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(B, T=num_frames) bool, True = masked; ``segments[b]`` are row b's frame segments."""
        lens = lengths.to("cpu", torch.long).clamp(min=0, max=num_frames)
        B = lens.numel()
        mask = torch.zeros(B, num_frames, dtype=torch.bool)
        if segments is not None and len(segments) != B:
            raise ValueError(f"segments: {len(segments)} rows for a batch of {B}")
        plain = [b for b in range(B) if segments is None or len(segments[b]) == 0]
        if plain:
            idx = torch.tensor(plain, dtype=torch.long)
            mask[idx] = self.fallback(lens[idx], num_frames, None, generator).cpu()
        for b in range(B):
            if segments is not None and len(segments[b]) > 0:
                mask[b] = torch.from_numpy(
                    self._row(int(lens[b]), num_frames, segments[b], generator)
                )
        return mask.to(lengths.device)

    def _row(
        self,
        n: int,
        size: int,
        segs: Sequence[tuple[int, int]],
        generator: torch.Generator | None,
    ) -> np.ndarray:
        """(size,) bool mask of whole units of one row with ``n`` valid frames."""
        row = np.zeros(size, dtype=bool)
        clipped = sorted((max(s, 0), min(e, n)) for s, e in segs if min(e, n) > max(s, 0))
        if n == 0 or not clipped:
            return row
        k = self.cfg.span_segments
        units = [
            (clipped[i][0], clipped[min(i + k, len(clipped)) - 1][1]) for i in range(len(clipped))
        ]
        goal, masked = self.cfg.target(n) * n, 0
        u = torch.rand(len(units) + 1, generator=generator, dtype=torch.float64).tolist()
        order = torch.randperm(len(units), generator=generator).tolist()
        for i in order:
            s, e = units[i]
            new = int((~row[s:e]).sum())
            if new == 0:
                continue
            if masked + new > goal and u[i] >= (goal - masked) / new:
                break
            row[s:e] = True
            masked += new
            if masked >= goal:
                break
        return row


def crop_segments(
    boundaries_s: Sequence[float],
    offset_samples: int,
    num_samples: int,
    *,
    sample_rate: int = 16000,
    hop: int = 320,
    window: int = 400,
) -> list[tuple[int, int]]:
    """Frame segments ``(start, end)`` (end exclusive) of a crop, from boundary times.

    The crop holds samples ``[offset, offset + num_samples)`` of the utterance; its frame
    ``t`` covers crop samples ``[hop t, hop t + window)`` (the standard encoder: 320 / 400)
    and belongs to the segment containing its centre, so a boundary at crop sample ``b``
    starts the segment at frame ``ceil((b − window / 2) / hop)``. Segments tile
    ``[0, T)`` with ``T = 1 + (num_samples − window) // hop`` (no frame: no segment).
    """
    T = 1 + (num_samples - window) // hop if num_samples >= window else 0
    if T <= 0:
        return []
    cuts = set()
    for b in boundaries_s:
        rel = b * sample_rate - offset_samples
        t = math.ceil((rel - window / 2) / hop - 1e-9)
        if 0 < t < T:
            cuts.add(t)
    edges = [0, *sorted(cuts), T]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def batch_segments(
    boundaries: Mapping[str, Sequence[float]],
    utterances: Sequence[Utterance],
    offsets: torch.Tensor,
    lengths: torch.Tensor,
) -> list[list[tuple[int, int]]] | None:
    """``Batch.segments`` for a batch: per row, :func:`crop_segments` of its stored times.

    Rows whose utterance has no stored boundaries get ``[]`` (the masker falls back to random
    spans for them); returns None when no row has boundaries.
    """
    out: list[list[tuple[int, int]]] = []
    for u, off, n in zip(utterances, offsets.tolist(), lengths.tolist()):
        times = boundaries.get(u.id)
        out.append([] if times is None else crop_segments(times, int(off), int(n)))
    return out if any(out) else None
