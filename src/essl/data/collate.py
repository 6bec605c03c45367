"""Collation of loaded crops into a padded :class:`~essl.data.batch.Batch`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from essl.data.batch import Batch
from essl.data.dataset import Example

__all__ = ["collate"]


def collate(examples: Sequence[Example], pad_multiple: int = 0) -> Batch:
    """Zero-pad waveforms to ``(B, S)`` and labels to ``(B, T)`` with -100, in input order.

    ``S`` is the longest crop rounded up to a multiple of ``pad_multiple`` (a multiple of the
    320-sample encoder stride; 0 = no rounding); labels get the matching extra frames.
    Labels are kept only when every example has them (else ``labels=None``).
    """
    if not examples:
        raise ValueError("cannot collate an empty batch")
    # Padded in numpy, then wrapped: element-wise torch copies cost ~50x more on a busy CPU.
    lengths = np.array([len(e.wav) for e in examples], dtype=np.int64)
    longest = int(lengths.max())
    S = -(-longest // pad_multiple) * pad_multiple if pad_multiple else longest
    wavs = np.zeros((len(examples), S), dtype=np.float32)  # (B, S)
    for row, e in enumerate(examples):
        wavs[row, : len(e.wav)] = e.wav
    labels = None
    if all(e.labels is not None for e in examples):
        frames = [len(e.labels) for e in examples if e.labels is not None]
        extra = -(-(S - longest) // 320)  # frames added by the padding (at 320 samples each)
        labels = np.full((len(examples), max(frames) + extra), -100, dtype=np.int64)  # (B, T)
        for row, e in enumerate(examples):
            if e.labels is not None:
                labels[row, : len(e.labels)] = e.labels
    return Batch(
        wavs=torch.from_numpy(wavs),
        lengths=torch.from_numpy(lengths),
        utterances=[e.utterance for e in examples],
        offsets=torch.tensor([e.offset for e in examples], dtype=torch.long),
        labels=None if labels is None else torch.from_numpy(labels),
    )
