"""Frame labels at the encoder's frame rate, and their storage (safetensors + metadata).

**Frame rate.** The encoder's front end (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2) gives
frame ``t`` the samples ``[320 t, 320 t + 400)`` (50 Hz) and, for ``S`` samples,
``T = 1 + (S - 400) // 320`` frames (0 when ``S < 400``); :func:`encoder_frame_lengths` applies
the per-layer formula ``L -> (L - k) // s + 1`` so other front ends work too.

**MFCC (100 Hz) to 50 Hz.** Kaldi frame ``m`` covers ``[160 m, 160 m + 400)``, so MFCC frame
``2 t`` has *exactly* encoder frame ``t``'s window, and ``ceil(M / 2) = T`` for every ``S``.
We therefore keep the even MFCC frames (:func:`to_encoder_rate`, ``stride=2``). This is what
fairseq's HuBERT does with its 100 Hz iteration-1 labels (``label_rate=100``: targets are
read at ``arange(T) * 2``), so the units match the paper's; stacking pairs would double the
feature size and blur the window, and a 20 ms MFCC hop would change the delta span.

**Pad/trim rule.** Features are cut or padded to exactly ``T`` frames per utterance: extra
frames at the end are dropped, and a missing last frame repeats the previous one. With the
geometry above no padding happens; the rule covers models whose ``extract_features``
returns another count.

**Storage.** :func:`write_labels` writes one safetensors file with one int16 (K <= 32767) or
int32 tensor ``(T,)`` per utterance id and the metadata as JSON under the ``"essl"`` key;
:func:`write_centroids` stores the fitted ``(K, D)`` centroids the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from essl._io import atomic_path
from essl.data.dataset import conv_frames
from essl.errors import EsslError
from essl.models.config import STANDARD_CONV_LAYERS

__all__ = [
    "ENCODER_FRAME_RATE",
    "LabelsError",
    "encoder_frame_count",
    "encoder_frame_lengths",
    "read_centroids",
    "read_labels",
    "to_encoder_rate",
    "write_centroids",
    "write_labels",
]

ENCODER_FRAME_RATE = 50.0
"""Frames per second of the standard front end (hop 320 samples at 16 kHz)."""

_META_KEY = "essl"


class LabelsError(EsslError):
    """A labels or centroids file that is missing, malformed or inconsistent."""


def encoder_frame_count(
    num_samples: int, conv_layers: Sequence[Sequence[int]] = STANDARD_CONV_LAYERS
) -> int:
    """T for ``num_samples`` through the convolutions ``(channels, kernel, stride)``."""
    return conv_frames(
        int(num_samples), [k for _, k, _ in conv_layers], [s for *_, s in conv_layers]
    )


def encoder_frame_lengths(
    num_samples: Sequence[int] | np.ndarray,
    conv_layers: Sequence[Sequence[int]] = STANDARD_CONV_LAYERS,
) -> np.ndarray:
    """(B,) encoder frames per row for (B,) sample counts (int64)."""
    return np.array([encoder_frame_count(int(s), conv_layers) for s in num_samples], np.int64)


def to_encoder_rate(feats: np.ndarray, num_frames: int, stride: int = 1) -> np.ndarray:
    """``(T, D)`` rows ``0, stride, 2 stride, ...`` of ``feats (M, D)``, cut/padded to ``T``.

    ``stride=2`` maps 100 Hz Kaldi frames to the 50 Hz encoder frames with the same window.
    Padding repeats the last frame; an utterance with no feature frame but ``T > 0`` is an
    error (it cannot be labelled).
    """
    picked = feats[::stride][:num_frames]
    missing = num_frames - len(picked)
    if missing > 0:
        if len(picked) == 0:
            raise LabelsError(
                f"no feature frame to label {num_frames} encoder frames; the "
                "utterance is shorter than one analysis window"
            )
        picked = np.concatenate([picked, np.repeat(picked[-1:], missing, axis=0)])
    return picked


def _save(
    path: str | os.PathLike[str],
    tensors: dict[str, np.ndarray],
    meta: Mapping[str, Any],
) -> Path:
    from safetensors.numpy import save_file

    tmp, final = atomic_path(path)
    try:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in tensors.items()},
            str(tmp),
            metadata={_META_KEY: json.dumps(dict(meta), sort_keys=True)},
        )
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _load(path: str | os.PathLike[str], what: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise LabelsError(f"{path}: {what} file not found; create it with `essl targets kmeans`")
    try:
        with safe_open(str(path), framework="np") as f:
            raw = (f.metadata() or {}).get(_META_KEY, "{}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise LabelsError(
            f"{path}: not a readable safetensors {what} file ({e}); "
            "regenerate it with `essl targets kmeans`"
        ) from None
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise LabelsError(f"{path}: metadata is not valid JSON; regenerate the file") from None
    return tensors, meta


def write_labels(
    path: str | os.PathLike[str], labels: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Atomically write ``{utterance id: (T,) ints}`` and JSON-able ``meta``; return the path.

    ``meta`` should hold ``frame_rate``, ``num_classes``, ``features``, ``inertia`` and
    ``manifest``; ``num_classes`` (if given) bounds the labels and picks int16 or int32.
    """
    k = meta.get("num_classes")
    top = max((int(v.max()) for v in labels.values() if v.size), default=0)
    if k is not None and top >= int(k):
        raise LabelsError(f"{path}: label {top} >= num_classes={k}; pass the right num_classes")
    dtype = np.int16 if max(top, int(k or 0)) <= np.iinfo(np.int16).max else np.int32
    tensors = {}
    for uid, v in labels.items():
        v = np.asarray(v)
        if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer):
            raise LabelsError(
                f"{path}: labels of '{uid}' must be a 1-D int array, got {v.dtype} {v.shape}"
            )
        tensors[uid] = v.astype(dtype)
    return _save(path, tensors, meta)


def read_labels(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``({utterance id: (T,) int array}, meta)`` as written by :func:`write_labels`."""
    return _load(path, "labels")


def write_centroids(
    path: str | os.PathLike[str], centroids: np.ndarray, meta: Mapping[str, Any]
) -> Path:
    """Atomically write ``(K, D)`` float32 centroids with JSON-able ``meta``."""
    c = np.asarray(centroids, dtype=np.float32)
    if c.ndim != 2:
        raise LabelsError(f"{path}: centroids must be (K, D), got shape {c.shape}")
    return _save(path, {"centroids": c}, meta)


def read_centroids(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """``((K, D) centroids, meta)`` as written by :func:`write_centroids`."""
    tensors, meta = _load(path, "centroids")
    if "centroids" not in tensors:
        raise LabelsError(f"{path}: no 'centroids' tensor; regenerate with `essl targets kmeans`")
    return tensors["centroids"], meta
