"""Layer-wise frozen features of a corpus, extracted once and kept per layer.

Any model with ``extract_features(wavs (B, S), lengths (B,), layers) -> ([(B, T, D)], (B,))``
and a ``frame_rate`` works: an essl :class:`~essl.models.Encoder`, an
:class:`~essl.evaluation.hf.HFEncoder`, or a model loaded by :func:`load_model` from an essl
run directory (``RUN_DIR``), a random-init preset (``preset:tiny``) or a local HF folder
(``hf:PATH``). Utterances are batched by duration (sorted, about ``batch_seconds`` of padded
audio per batch); the features are stored on the CPU as float32, one (T_u, D) tensor per
utterance and layer, so every probe reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from essl.data.manifest import Utterance, resolve_audio_path
from essl.errors import EsslError

__all__ = ["CorpusFeatures", "FeatureModel", "extract_corpus_features", "load_model"]


class FeatureModel(Protocol):
    """What evaluation needs from a model."""

    @property
    def frame_rate(self) -> float: ...

    def extract_features(
        self, wavs: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int] | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]: ...


@dataclass
class CorpusFeatures:
    """Frozen features of a list of utterances."""

    utts: list[Utterance]
    """The utterances, in the order of every per-utterance list below."""
    layers: list[list[torch.Tensor]]
    """``layers[l][u]``: (T_u, D) float32 CPU features of layer ``layer_ids[l]``."""
    layer_ids: list[int]
    """Model layer index of each stored layer (0 = input of the first Transformer layer)."""
    frame_rate: float
    """Frames per second."""
    seconds: float
    """Wall time of the extraction."""

    def pooled(self, layer: int) -> torch.Tensor:
        """(U, D) mean over frames of each utterance for stored layer ``layer``."""
        return torch.stack([f.mean(0) for f in self.layers[layer]])


def load_model(spec: str, device: str | torch.device = "cpu", seed: int = 0) -> Any:
    """A model for ``spec``: ``preset:NAME`` (random init from ``seed``), ``hf:PATH``,
    ``essl:DIR`` (an encoder saved by ``essl interop import``) or RUN_DIR."""
    if spec.startswith("preset:"):
        from essl.models import Encoder, encoder_preset

        torch.manual_seed(seed)
        model: Any = Encoder(encoder_preset(spec.split(":", 1)[1]))
    elif spec.startswith("essl:"):
        from essl.models.interop import load_encoder

        model = load_encoder(spec.split(":", 1)[1])
    elif spec.startswith("hf:"):
        from essl.evaluation.hf import HFEncoder

        model = HFEncoder.from_pretrained(spec.split(":", 1)[1])
    else:
        model = _load_run(Path(spec))
    return model.to(device).eval()


def _load_run(run_dir: Path) -> Any:
    """The encoder of the newest checkpoint of an essl run directory."""
    if not run_dir.is_dir():
        raise EsslError(
            f"model '{run_dir}': not a folder; give an essl RUN_DIR, "
            "preset:NAME (e.g. preset:tiny) or hf:PATH"
        )
    from essl.config import from_dict
    from essl.training.checkpoint import latest_checkpoint, load_checkpoint
    from essl.training.config import PretrainConfig
    from essl.training.trainer import build_task_for

    path = latest_checkpoint(run_dir / "checkpoints")
    if path is None:
        raise EsslError(
            f"{run_dir}: no checkpoint under {run_dir / 'checkpoints'}; train it "
            "with `essl pretrain` first or pass preset:NAME / hf:PATH"
        )
    ckpt = load_checkpoint(path)
    task = build_task_for(from_dict(PretrainConfig, ckpt.config, f"{path}/trainer.json config"))
    task.load_state_dict(ckpt.model)
    return task.encoder


def extract_corpus_features(
    model: Any,
    utts: Sequence[Utterance],
    manifest_path: str | Path,
    layers: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    batch_seconds: float = 16.0,
    sample_rate: int = 16000,
    progress: bool = False,
) -> CorpusFeatures:
    """Run ``model`` (in eval mode, no grad) over every utterance once; keep ``layers``."""
    import time

    from essl.data.audio import load_audio

    start = time.perf_counter()
    utts = list(utts)
    order = sorted(range(len(utts)), key=lambda i: utts[i].duration)
    out: list[list[torch.Tensor | None]] = []
    ids: list[int] = []
    batches = _batches([utts[i].duration for i in order], batch_seconds)
    it: Any = batches
    if progress:
        from tqdm import tqdm

        it = tqdm(batches, desc="features", unit="batch")
    model.eval()
    for b in it:
        idx = [order[k] for k in b]
        waves = [
            load_audio(resolve_audio_path(manifest_path, utts[i]), sample_rate=sample_rate)
            for i in idx
        ]
        feats, frames = _run_batch(model, waves, layers, device)
        if not out:
            out = [[None] * len(utts) for _ in feats]
            ids = list(layers) if layers is not None else list(range(len(feats)))
        for layer, f in enumerate(feats):
            for row, i in enumerate(idx):
                out[layer][i] = f[row, : int(frames[row])].float().cpu()
    layer_lists = [[t for t in lay if t is not None] for lay in out]
    return CorpusFeatures(
        utts=utts,
        layers=layer_lists,
        layer_ids=ids,
        frame_rate=float(model.frame_rate),
        seconds=time.perf_counter() - start,
    )


def _batches(durations: list[float], batch_seconds: float) -> list[list[int]]:
    batches: list[list[int]] = []
    cur: list[int] = []
    for k, d in enumerate(durations):  # sorted ascending: padded size = d × (len + 1)
        if cur and d * (len(cur) + 1) > batch_seconds:
            batches.append(cur)
            cur = []
        cur.append(k)
    return [*batches, cur] if cur else batches


@torch.inference_mode()
def _run_batch(
    model: Any, waves: list[np.ndarray], layers: Sequence[int] | None, device: str | torch.device
) -> tuple[list[torch.Tensor], torch.Tensor]:
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    wavs = torch.zeros(len(waves), int(lengths.max()))
    for r, w in enumerate(waves):
        wavs[r, : len(w)] = torch.from_numpy(w)
    feats, frames = model.extract_features(wavs.to(device), lengths.to(device), layers)
    return feats, frames.cpu()
