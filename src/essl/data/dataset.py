"""A map-style dataset of waveform crops (plus optional frame labels) over a manifest.

Items are addressed by :class:`~essl.data.sampler.Crop` ``(item, offset, length)``, so the
crop is decided once, in the sampler (in the main process), and a worker only reads it:
crops are then identical for any number of workers and on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from essl.data.audio import load_audio
from essl.data.manifest import Utterance, resolve_audio_path
from essl.data.sampler import Crop
from essl.errors import EsslError

__all__ = [
    "SAMPLE_RATE",
    "WAV2VEC2_KERNELS",
    "WAV2VEC2_STRIDES",
    "CropDataset",
    "Example",
    "conv_frames",
]

SAMPLE_RATE = 16000
"""Waveforms are loaded at this rate (resampled when the file differs)."""
WAV2VEC2_KERNELS = (10, 3, 3, 3, 3, 2, 2)
WAV2VEC2_STRIDES = (5, 2, 2, 2, 2, 2, 2)
"""The wav2vec 2.0 convolutional front end (Baevski et al. 2020, Sec. 2): 320-sample hop."""


def conv_frames(
    num_samples: int,
    kernels: Sequence[int] = WAV2VEC2_KERNELS,
    strides: Sequence[int] = WAV2VEC2_STRIDES,
) -> int:
    """Output frames of a stack of unpadded 1-d convolutions over ``num_samples`` inputs."""
    n = num_samples
    for k, s in zip(kernels, strides, strict=True):
        n = (n - k) // s + 1 if n >= k else 0
    return n


@dataclass
class Example:
    """One loaded crop, before collation."""

    wav: np.ndarray
    """(S,) float32 waveform at 16 kHz."""
    utterance: Utterance
    offset: int
    """Start sample of the crop inside the utterance."""
    labels: np.ndarray | None = None
    """(T,) int64 frame labels of the crop (T = ``frames_fn(S)``), -100 where unknown."""


class CropDataset(torch.utils.data.Dataset[Example]):
    """Waveform crops of ``utterances`` (paths resolved against ``manifest_path``).

    ``labels`` maps an utterance id to its ``(T,)`` integer frame labels, one per
    ``label_hop`` samples from the utterance start; a crop at ``offset`` (a multiple of
    ``label_hop``) gets labels ``offset // label_hop`` onwards, ``frames_fn(S)`` of them
    (default :func:`conv_frames`: the wav2vec 2.0 front end), padded with -100.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        manifest_path: str | Path,
        *,
        labels: Mapping[str, np.ndarray] | None = None,
        frames_fn: Callable[[int], int] | None = None,
        label_hop: int = 320,
    ) -> None:
        self.utterances = list(utterances)
        self.manifest_path = Path(manifest_path)
        self.labels = labels
        self.frames_fn = frames_fn or conv_frames
        self.label_hop = label_hop
        if labels is not None:
            missing = [u.id for u in self.utterances if u.id not in labels]
            if missing:
                raise EsslError(
                    f"{self.manifest_path}: no frame labels for {len(missing)} utterance(s), "
                    f"e.g. '{missing[0]}'; label every utterance of the manifest (or split)"
                )

    def __len__(self) -> int:
        return len(self.utterances)

    def num_samples(self) -> np.ndarray:
        """(N,) lengths in samples at 16 kHz, from the manifest durations."""
        return np.array([round(u.duration * SAMPLE_RATE) for u in self.utterances], np.int64)

    def __getitem__(self, crop: Crop | int) -> Example:
        """Load ``crop`` (an int ``i`` means the whole utterance ``i``)."""
        if isinstance(crop, (int, np.integer)):
            crop = Crop(int(crop), 0, -1)
        utt = self.utterances[crop.item]
        path = resolve_audio_path(self.manifest_path, utt)
        wav = load_audio(path, sample_rate=SAMPLE_RATE, start=crop.offset, frames=crop.length)
        labels = None if self.labels is None else self._crop_labels(utt, crop.offset, len(wav))
        return Example(wav=wav, utterance=utt, offset=crop.offset, labels=labels)

    def _crop_labels(self, utt: Utterance, offset: int, num_samples: int) -> np.ndarray:
        assert self.labels is not None
        if offset % self.label_hop:
            raise EsslError(
                f"utterance '{utt.id}': crop offset {offset} is not a multiple of the label hop "
                f"({self.label_hop}); set loader.crop_alignment to a multiple of {self.label_hop}"
            )
        first = offset // self.label_hop
        out = np.full(self.frames_fn(num_samples), -100, dtype=np.int64)
        seg = np.asarray(self.labels[utt.id])[first : first + len(out)]
        out[: len(seg)] = seg
        return out
