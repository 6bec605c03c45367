"""Multitask pretext targets: signal features regressed from the encoder (PASE, Pascual et al.
2019, §2.2; Zaiem, Parcollet & Essid 2021, §3 for the eGeMAPS-style candidates).

:func:`pretext_targets` stacks the requested features of :mod:`essl.targets.signal` into one
``(B, T, D)`` tensor at the encoder frame rate, with the column slice of each feature, so a
head per feature can be trained on it; :func:`utterance_summary` averages them over valid
frames (the utterance-level pseudo-labels of pretext-task selection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from essl.targets.signal import SIGNAL_FEATURES, signal_features

__all__ = [
    "PRETEXT_NAMES",
    "PretextTargets",
    "pretext_dims",
    "pretext_targets",
    "utterance_summary",
]

PRETEXT_NAMES = tuple(SIGNAL_FEATURES)
"""Every pretext target name."""


def pretext_dims(names: Sequence[str]) -> dict[str, int]:
    """``{name: width}``; raises ValueError naming an unknown target."""
    unknown = [n for n in names if n not in SIGNAL_FEATURES]
    if unknown:
        raise ValueError(
            f"pretext target '{unknown[0]}' is unknown; valid: {', '.join(PRETEXT_NAMES)}"
        )
    return {n: SIGNAL_FEATURES[n].dim for n in names}


@dataclass
class PretextTargets:
    """Stacked pretext targets of a batch."""

    values: torch.Tensor
    """(B, T, D) features, zero on padded frames."""
    lengths: torch.Tensor
    """(B,) valid frames."""
    slices: dict[str, slice]
    """Columns of each named feature in ``values``."""

    def get(self, name: str) -> torch.Tensor:
        """(B, T, dim) columns of ``name``."""
        return self.values[..., self.slices[name]]


def pretext_targets(
    wavs: torch.Tensor,
    lengths: torch.Tensor,
    names: Sequence[str],
    num_frames: int | None = None,
) -> PretextTargets:
    """Targets ``names`` of (B, S) waveforms, cut or zero-padded to ``num_frames`` frames."""
    dims = pretext_dims(names)
    feats, frames = signal_features(wavs, lengths, list(names))
    slices, start = {}, 0
    for n in names:
        slices[n] = slice(start, start + dims[n])
        start += dims[n]
    values = torch.cat([feats[n] for n in names], dim=-1)  # (B, T, D)
    if num_frames is not None:
        T = values.shape[1]
        values = values[:, :num_frames]
        if num_frames > T:
            values = torch.nn.functional.pad(values, (0, 0, 0, num_frames - T))
        frames = frames.clamp(max=num_frames)
    return PretextTargets(values=values, lengths=frames, slices=slices)


def utterance_summary(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, D) mean of (B, T, D) ``values`` over each row's valid frames (0 for empty rows)."""
    valid = torch.arange(values.shape[1], device=values.device)[None] < lengths[:, None]
    w = valid.to(values.dtype)[..., None]
    return (values * w).sum(1) / w.sum(1).clamp(min=1)
