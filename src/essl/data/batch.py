"""The unit that flows from the loader to a task."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from essl.data.manifest import Utterance

__all__ = ["Batch"]


@dataclass
class Batch:
    """A padded batch of waveforms (what every :class:`~essl.objectives.SSLTask` receives)."""

    wavs: torch.Tensor
    """(B, S) float waveforms at 16 kHz, zero-padded."""
    lengths: torch.Tensor
    """(B,) valid samples per row (long)."""
    utterances: list[Utterance]
    """The manifest entries, in row order."""
    offsets: torch.Tensor
    """(B,) start sample of each crop inside its utterance (0 when not cropped)."""
    labels: torch.Tensor | None = None
    """(B, T) long frame targets at the encoder frame rate (e.g. k-means units), -100 = none."""
    segments: list[list[tuple[int, int]]] | None = None
    """Per row, ``(start_frame, end_frame)`` segments of the crop (phone/word boundaries),
    for segment-informed maskers; None when the corpus has no precomputed boundaries."""
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    """Other per-batch tensors (pretext targets, attribute ids, ...), each documented by its producer."""

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        mv = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(
            self,
            wavs=mv(self.wavs),
            lengths=mv(self.lengths),
            offsets=mv(self.offsets),
            labels=None if self.labels is None else mv(self.labels),
            extras={k: mv(v) for k, v in self.extras.items()},
        )

    @property
    def audio_seconds(self) -> float:
        """Seconds of real (unpadded) audio in the batch, at 16 kHz."""
        return float(self.lengths.sum()) / 16000.0
