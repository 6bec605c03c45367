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

__all__ = [
    "Masker",
    "MaskingConfig",
    "RandomSpanConfig",
    "RandomSpanMasker",
    "Segments",
    "build_masker",
    "expected_mask_fraction",
]


@dataclass(kw_only=True)
class MaskingConfig:
    """Which masker to use, with one sub-config per masker."""

    name: Literal["random_span"] = "random_span"
    """The masking strategy."""
    random_span: RandomSpanConfig = field(default_factory=RandomSpanConfig)
    """Settings of "random_span" (wav2vec 2.0 / HuBERT span masking)."""

    def validate(self) -> None:
        if self.name != "random_span":
            raise ConfigError(f"masking.name: {self.name!r} is unknown; valid: 'random_span'")
        self.random_span.validate()


def build_masker(cfg: MaskingConfig) -> Masker:
    """The masker named by ``cfg.name``."""
    cfg.validate()
    return RandomSpanMasker(cfg.random_span)
