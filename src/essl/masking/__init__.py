"""Time masks for masked-prediction objectives.

Convention for every boolean mask in essl: ``True`` means *masked* (time masks) or *padded*
(padding masks). A time mask never marks padding frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from essl.errors import ConfigError
from essl.masking.base import Masker, Segments
from essl.masking.random_span import RandomSpanConfig, RandomSpanMasker, expected_mask_fraction
from essl.masking.segment import (
    SegmentMaskConfig,
    SegmentMasker,
    batch_segments,
    crop_segments,
    random_span_fraction,
)

__all__ = [
    "Masker",
    "MaskingConfig",
    "RandomSpanConfig",
    "RandomSpanMasker",
    "SegmentMaskConfig",
    "SegmentMasker",
    "Segments",
    "batch_segments",
    "build_masker",
    "crop_segments",
    "expected_mask_fraction",
    "random_span_fraction",
]


@dataclass(kw_only=True)
class MaskingConfig:
    """Which masker to use, with one sub-config per masker."""

    name: Literal["random_span", "segment"] = "random_span"
    """The masking strategy: blind random spans, or whole phone/word segments from
    precomputed boundaries (``data.boundaries``) at the same expected masked fraction."""
    random_span: RandomSpanConfig = field(default_factory=RandomSpanConfig)
    """Settings of "random_span" (wav2vec 2.0 / HuBERT span masking)."""
    segment: SegmentMaskConfig = field(default_factory=SegmentMaskConfig)
    """Settings of "segment" (Yue & Li 2021-style phonetically informed masks)."""

    def validate(self) -> None:
        if self.name not in ("random_span", "segment"):
            raise ConfigError(
                f"masking.name: {self.name!r} is unknown; valid: 'random_span', 'segment'"
            )
        self.random_span.validate()
        self.segment.validate()


def build_masker(cfg: MaskingConfig) -> Masker:
    """The masker named by ``cfg.name``."""
    cfg.validate()
    if cfg.name == "segment":
        return SegmentMasker(cfg.segment)
    return RandomSpanMasker(cfg.random_span)
