"""Frame-level phone labels and phone sequences from a manifest's phone alignments.

Frame ``t`` of a model running at ``frame_rate`` Hz covers ``[t / f, (t + 1) / f)`` seconds;
its label is the phone whose span contains the frame's centre ``(t + 0.5) / f`` (frames
past the last span take the last phone, frames before the first take the first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from essl.data.manifest import Span, Utterance

__all__ = ["SILENCE", "frame_phone_labels", "phone_sequence", "phone_vocabulary"]

SILENCE = frozenset({"sil", "SIL", "sp", "spn", "<sil>", ""})
"""Labels treated as pauses: excluded from phone sequences and from ABX centre phones."""


def phone_vocabulary(utts: Iterable[Utterance], with_silence: bool = True) -> list[str]:
    """Sorted phone labels used in the alignments of ``utts`` (pauses kept if ``with_silence``)."""
    labels = {p for u in utts for p, _, _ in (u.phones or ()) if with_silence or p not in SILENCE}
    return sorted(labels)


def frame_phone_labels(
    spans: Sequence[Span], num_frames: int, frame_rate: float, vocab: dict[str, int]
) -> np.ndarray:
    """(T,) int64 index in ``vocab`` of the phone at the centre of each of ``num_frames`` frames."""
    if num_frames <= 0 or not spans:
        return np.zeros(max(num_frames, 0), dtype=np.int64)
    starts = np.array([s for _, s, _ in spans], dtype=np.float64)
    ids = np.array([vocab[p] for p, _, _ in spans], dtype=np.int64)
    centres = (np.arange(num_frames) + 0.5) / frame_rate
    which = np.searchsorted(starts, centres, side="right") - 1
    return ids[np.clip(which, 0, len(spans) - 1)]


def phone_sequence(spans: Sequence[Span]) -> list[str]:
    """Phone labels of an alignment in order, pauses removed (the CTC target)."""
    return [p for p, _, _ in spans if p not in SILENCE]
