"""Boundaries from an SSL encoder's own features: peaks of adjacent-frame cosine distance.

Any model with ``extract_features`` and ``frame_rate`` (an essl run, ``preset:NAME`` for a
random-init model, ``hf:PATH``; loaded with :func:`essl.evaluation.features.load_model`)
gives frame states of a chosen layer; the score at frame ``t`` is
``1 − cos(h_{t-1}, h_t)`` (index 0 repeats index 1), peak-picked like the other detectors
(the training-free recipe of e.g. Peng & Harwath's and Pasad et al.'s segment probing).
With the standard front end frame ``t`` covers samples ``[320 t, 320 t + 400)``; the midpoint
between the centres of frames ``t − 1`` and ``t`` is ``t / 50 + 0.0025`` s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from essl.masking.boundaries.detect import BoundaryDetector

__all__ = ["ModelDetector", "load_model_detector"]


class ModelDetector(BoundaryDetector):
    """Cosine-change peaks of layer ``layer`` of ``model`` (eval mode, no grad)."""

    name = "model"

    def __init__(self, model: Any, layer: int, spec: str = "", prominence: float = 0.05) -> None:
        self.model = model.eval()
        self.layer = layer
        self.spec = spec
        self.prominence = prominence
        self.frame_rate = float(model.frame_rate)
        hop = 16000.0 / self.frame_rate
        self.time_offset = (200.0 - hop / 2.0) / 16000.0 if hop == 320.0 else 0.0

    def params(self) -> dict[str, Any]:
        return {**super().params(), "model": self.spec, "layer": self.layer}

    def scores(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        if not waves:
            return []
        lengths = torch.tensor([max(len(w), 400) for w in waves], dtype=torch.long)
        batch = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        dev = next(self.model.parameters()).device
        with torch.inference_mode():
            feats, frames = self.model.extract_features(
                batch.to(dev), lengths.to(dev), [self.layer]
            )
        h = feats[0].float().cpu()
        out = []
        for i in range(len(waves)):
            hi = h[i, : int(frames[i])]
            cos = F.cosine_similarity(hi[:-1], hi[1:], dim=-1).double().numpy()
            first = cos[:1] if len(cos) else np.ones(1)
            out.append(1.0 - np.concatenate([first, cos]))
        return out


def load_model_detector(
    spec: str, layer: int | None = None, device: str = "cpu", seed: int = 0
) -> ModelDetector:
    """A :class:`ModelDetector` for ``RUN_DIR``, ``preset:NAME`` or ``hf:PATH``.

    ``layer`` defaults to the middle Transformer layer (``num_layers // 2``).
    """
    from essl.evaluation.features import load_model

    model = load_model(spec, device=device, seed=seed)
    if layer is None:
        layer = max(int(getattr(model, "num_layers", 2)) // 2, 0)
    return ModelDetector(model, layer, spec)
