"""The masking interface.

Convention for every boolean mask in essl: ``True`` means *masked* (for time masks) or
*padded* (for padding masks). A time mask never marks padding frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

__all__ = ["Masker", "Segments"]

Segments = Sequence[Sequence[tuple[int, int]]]
"""Per utterance, a list of ``(start_frame, end_frame)`` segments (end exclusive)."""


class Masker(ABC):
    """Turns frame lengths (and optionally segment boundaries) into a (B, T) time mask."""

    @abstractmethod
    def __call__(
        self,
        lengths: torch.Tensor,
        num_frames: int,
        segments: Segments | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return a (B, T=num_frames) bool mask, True = masked; padding frames stay False.

        Args:
            lengths: (B,) valid frames per row.
            num_frames: T, the padded frame count.
            segments: per-row frame segments, for maskers that use them.
            generator: RNG on CPU; None uses torch's default generator.
        """
