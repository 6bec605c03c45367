"""Frame features for k-means, aligned to the encoder's 50 Hz frames.

A feature source maps a padded batch ``wavs (B, S)``, ``lengths (B,)`` to one ``(T_b, D)``
float32 array per row with exactly ``T_b`` = encoder frames of that row (see
:mod:`essl.targets.labels` for the geometry and the pad/trim rule):

* :class:`MfccFeatures` — HuBERT iteration 1: 39-dim Kaldi MFCC + Δ + ΔΔ at 100 Hz, even
  frames kept (frame ``2 t`` has encoder frame ``t``'s window);
* :class:`LayerFeatures` — HuBERT iteration 2: the output of Transformer layer ``N`` of any
  model exposing ``extract_features(wavs, lengths, layers=[N]) -> ([(B, T, D)], (B,))``
  (an :class:`essl.models.Encoder`, an HF interop wrapper, ...).

:func:`iter_corpus_features` runs a source over manifest utterances in length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from essl.data.manifest import Utterance
from essl.errors import EsslError
from essl.models.config import STANDARD_CONV_LAYERS
from essl.targets.labels import encoder_frame_lengths, to_encoder_rate
from essl.targets.mfcc import MfccConfig, mfcc_with_deltas

__all__ = ["FeatureSource", "LayerFeatures", "MfccFeatures", "iter_corpus_features"]


class FeatureSource(Protocol):
    """Anything that turns a padded batch into per-utterance encoder-rate features."""

    name: str
    """"mfcc" or "layer:N" (stored in the labels' metadata)."""

    def __call__(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """One float32 ``(T_b, D)`` array per row, ``T_b`` = encoder frames of row b."""
        ...


@dataclass(kw_only=True)
class MfccFeatures:
    """39-dim MFCC + Δ + ΔΔ (Kaldi / HuBERT iteration 1) at the encoder frame rate."""

    mfcc: MfccConfig = field(default_factory=MfccConfig)
    """The MFCC recipe; its hop must divide the encoder hop."""
    conv_layers: Sequence[Sequence[int]] = STANDARD_CONV_LAYERS
    """(channels, kernel, stride) of the encoder front end the labels are for."""
    device: str = "cpu"
    """Where the MFCCs are computed."""
    name: str = "mfcc"

    def __post_init__(self) -> None:
        self.mfcc.validate()
        hop = int(np.prod([s for _, _, s in self.conv_layers]))
        if hop % self.mfcc.window_shift:
            raise EsslError(
                f"MFCC hop {self.mfcc.window_shift} samples does not divide the "
                f"encoder hop {hop}; use frame_shift_ms=10 or 20"
            )
        self.stride = hop // self.mfcc.window_shift

    def __call__(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        feats, frames = mfcc_with_deltas(wavs.to(self.device), lengths.to(self.device), self.mfcc)
        feats_np, frames_np = feats.cpu().numpy(), frames.cpu().numpy()
        targets = encoder_frame_lengths(lengths.tolist(), self.conv_layers)
        return [
            to_encoder_rate(feats_np[b, : frames_np[b]], int(targets[b]), self.stride)
            for b in range(len(targets))
        ]


@dataclass(kw_only=True)
class LayerFeatures:
    """Hidden states of one layer of a model (HuBERT iteration 2 uses an intermediate layer)."""

    model: Any
    """A torch module with ``extract_features(wavs, lengths, layers=[N])``; put in eval mode."""
    layer: int
    """N: 0 = input to the first Transformer layer, i = output of layer i."""
    conv_layers: Sequence[Sequence[int]] = STANDARD_CONV_LAYERS
    """(channels, kernel, stride) of the encoder front end the labels are for."""
    device: str = "cpu"
    """Where the model runs (the model is moved there)."""
    name: str = ""

    def __post_init__(self) -> None:
        if not callable(getattr(self.model, "extract_features", None)):
            raise EsslError(
                f"{type(self.model).__name__} has no extract_features(wavs, lengths, "
                "layers); wrap the model to expose it"
            )
        num_layers = getattr(self.model, "num_layers", None)
        if self.layer < 0 or (num_layers is not None and self.layer > num_layers):
            raise EsslError(
                f"layer:{self.layer} is not in [0, {num_layers}]; pick a middle layer "
                "(e.g. 6 of 12 for base, 3 of 4 for tiny)"
            )
        self.name = self.name or f"layer:{self.layer}"
        self.model.eval()
        self.model.to(self.device)

    @torch.inference_mode()
    def __call__(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        states, frames = self.model.extract_features(
            wavs.to(self.device), lengths.to(self.device), layers=[self.layer]
        )
        x = states[0].float().cpu().numpy()  # (B, T, D)
        frames_np = frames.cpu().numpy()
        targets = encoder_frame_lengths(lengths.tolist(), self.conv_layers)
        return [to_encoder_rate(x[b, : frames_np[b]], int(targets[b])) for b in range(len(x))]


def _batches(utts: Sequence[Utterance], batch_seconds: float) -> list[list[int]]:
    """Indices of ``utts`` sorted by duration, grouped to at most ``batch_seconds`` padded."""
    order = sorted(range(len(utts)), key=lambda i: (utts[i].duration, utts[i].id))
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * utts[i].duration <= batch_seconds:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def iter_corpus_features(
    manifest_path: str | Path,
    utts: Sequence[Utterance],
    source: FeatureSource,
    *,
    batch_seconds: float = 60.0,
    progress: str | None = None,
) -> Iterator[tuple[Utterance, np.ndarray]]:
    """Yield ``(utterance, (T, D) features)`` for each of ``utts`` (length-sorted order).

    Audio is read at 16 kHz with :func:`essl.data.audio.load_audio`; ``progress`` is the label
    of a tqdm bar (None: no bar).
    """
    from tqdm import tqdm

    from essl.data.audio import load_audio
    from essl.data.manifest import resolve_audio_path

    batches = _batches(utts, batch_seconds)
    with tqdm(total=len(utts), unit="utt", desc=progress, disable=progress is None) as bar:
        for idx in batches:
            waves = [load_audio(resolve_audio_path(manifest_path, utts[i])) for i in idx]
            lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
            wavs = torch.zeros(len(waves), int(lengths.max()))
            for b, w in enumerate(waves):
                wavs[b, : len(w)] = torch.from_numpy(w)
            for i, f in zip(idx, source(wavs, lengths), strict=True):
                yield utts[i], f
            bar.update(len(idx))
