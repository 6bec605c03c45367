"""Self-supervised contrastive phoneme segmentation (Kreuk, Keshet & Adi 2020, Interspeech).

Model (§3.1, and the authors' ``NextFrameClassifier``): five 1-D convolutions on the raw
waveform, kernels (10, 8, 4, 4, 4), strides (5, 4, 2, 2, 2), 256 channels, no padding and no
bias, BatchNorm + LeakyReLU between layers, then a linear projection to 64 dimensions: one
``z_t`` every 160 samples (10 ms, receptive field 465 samples). Training (§3.2): noise
contrastive estimation of the next frame — for each ``t`` the positive score is
``cos(z_t, z_{t+1})`` and the negatives ``cos(z_t, z_j)`` for random frames ``j`` of the same
utterance; the loss is ``−log softmax`` of the positive among them. Inference (§3.3): the
score is ``1 − minmax(cos(z_{t-1}, z_t))``, and peaks are picked with a prominence tuned on the
dev split. Score index ``t`` compares frames ``t − 1`` and ``t`` whose centres lie 232.5
samples after their starts, so its time is ``t / 100 + 0.00953`` s.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from essl.config import from_dict, to_dict
from essl.errors import ConfigError, EsslError
from essl.masking.boundaries.detect import BoundaryDetector

__all__ = [
    "ContrastiveConfig",
    "ContrastiveDetector",
    "NextFrameModel",
    "next_frame_loss",
    "train_contrastive",
]

KERNELS = (10, 8, 4, 4, 4)
STRIDES = (5, 4, 2, 2, 2)


@dataclass(kw_only=True)
class ContrastiveConfig:
    """Model and (brief, CPU-sized) training settings; model defaults follow the paper."""

    channels: int = 256
    """Conv channels (z dimension before the projection)."""
    proj_dim: int = 64
    """Width of the linear projection the cosine scores use."""
    num_negatives: int = 1
    """Distractors per frame, drawn from the same utterance (the authors' default is 1)."""
    lr: float = 1e-3
    """Adam learning rate (the authors use 2e-4 for 200 GPU epochs; 1e-3 suits a few hundred
    CPU steps)."""
    batch_size: int = 8
    crop_seconds: float = 1.0
    """Training crops (random windows of each utterance; shorter ones are zero-padded)."""
    steps: int = 300
    """Optimizer updates."""
    max_seconds: float = 0.0
    """Stop training after this wall time (0 = no limit)."""
    grad_clip: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        for name in ("channels", "proj_dim", "num_negatives", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"boundaries.contrastive.{name}: must be a positive integer")
        if self.lr <= 0 or self.crop_seconds < 0.1 or self.grad_clip <= 0:
            raise ConfigError(
                "boundaries.contrastive: lr and grad_clip must be > 0, crop_seconds >= 0.1"
            )


class NextFrameModel(nn.Module):
    """Raw waveform (B, S) → z (B, T, proj_dim) at 100 Hz (Kreuk et al. §3.1)."""

    def __init__(self, channels: int = 256, proj_dim: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, (k, s) in enumerate(zip(KERNELS, STRIDES)):
            layers.append(nn.Conv1d(c_in, channels, k, s, bias=False))
            if i < len(KERNELS) - 1:
                layers += [nn.BatchNorm1d(channels), nn.LeakyReLU()]
            c_in = channels
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Linear(channels, proj_dim)

    @staticmethod
    def frame_lengths(sample_lengths: torch.Tensor) -> torch.Tensor:
        """(B,) frames for (B,) samples: ``L -> (L - k) // s + 1`` per layer, 0 when too short."""
        n = sample_lengths.clone()
        for k, s in zip(KERNELS, STRIDES):
            n = torch.where(n >= k, torch.div(n - k, s, rounding_mode="floor") + 1, 0)
        return n

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        z = self.conv(wavs.unsqueeze(1)).transpose(1, 2)  # (B, T, C)
        return self.proj(z)  # (B, T, proj_dim)


def next_frame_loss(
    z: torch.Tensor, frames: torch.Tensor, num_negatives: int, generator: torch.Generator | None
) -> torch.Tensor:
    """NCE over the next frame with in-utterance negatives (Kreuk et al. §3.2, Eq. 1).

    Args:
        z: (B, T, D) frame representations.
        frames: (B,) valid frames per row; pairs ``(t, t + 1)`` with ``t + 1 < frames`` count.
    """
    B, T, _ = z.shape
    pos = F.cosine_similarity(z[:, :-1], z[:, 1:], dim=-1)  # (B, T-1)
    logits = [pos]
    for _ in range(num_negatives):  # random valid frame of the same row
        u = torch.rand(B, T - 1, generator=generator).to(z.device)
        j = (u * frames[:, None].clamp(min=1)).long().clamp(max=T - 1)  # (B, T-1)
        neg = z.gather(1, j[..., None].expand(-1, -1, z.shape[-1]))
        logits.append(F.cosine_similarity(z[:, :-1], neg, dim=-1))
    logp = torch.stack(logits, -1).log_softmax(-1)[..., 0]  # (B, T-1)
    valid = torch.arange(T - 1, device=z.device)[None, :] < (frames[:, None] - 1)
    return -(logp * valid).sum() / valid.sum().clamp(min=1)


class ContrastiveDetector(BoundaryDetector):
    """Boundaries from a trained :class:`NextFrameModel` (peaks of 1 − cos of adjacent z)."""

    name = "contrastive"
    frame_rate = 100.0
    time_offset = 0.00953

    def __init__(self, model: NextFrameModel, cfg: ContrastiveConfig, prominence: float = 0.05):
        self.model = model.eval()
        self.cfg = cfg
        self.prominence = prominence

    def params(self) -> dict[str, Any]:
        return {**super().params(), "model": to_dict(self.cfg)}

    @torch.inference_mode()
    def scores(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not waves:
            return []
        lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
        batch = torch.zeros(len(waves), max(int(lengths.max()), KERNELS[0]))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        dev = next(self.model.parameters()).device
        z = self.model(batch.to(dev)).float().cpu()
        frames = self.model.frame_lengths(lengths)
        out = []
        for i in range(len(waves)):
            zi = z[i, : int(frames[i])]
            cos = F.cosine_similarity(zi[:-1], zi[1:], dim=-1).double().numpy()
            out.append(np.concatenate([[cos[0] if len(cos) else 1.0], cos]) * -1.0 + 1.0)
        return out

    def save(self, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``detector.json`` (config, prominence) atomically."""
        from safetensors.torch import save_file

        from essl._io import atomic_path, write_json

        out = Path(out_dir)
        tmp, final = atomic_path(out / "model.safetensors")
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(tmp))
        tmp.replace(final)
        meta = {"detector": self.name, "prominence": self.prominence, "config": to_dict(self.cfg)}
        write_json(out / "detector.json", {**meta, **(extra or {})})
        return out

    @classmethod
    def load(cls, out_dir: str | Path, device: str | torch.device = "cpu") -> ContrastiveDetector:
        """A detector saved by :meth:`save` (``essl boundaries train``)."""
        from safetensors.torch import load_file

        out = Path(out_dir)
        meta_path, weights = out / "detector.json", out / "model.safetensors"
        if not meta_path.is_file() or not weights.is_file():
            raise EsslError(
                f"{out}: no trained boundary model (detector.json + model.safetensors); "
                "train one with `essl boundaries train MANIFEST OUT_DIR`"
            )
        meta = json.loads(meta_path.read_text())
        cfg = from_dict(ContrastiveConfig, meta["config"], f"{meta_path}: config")
        model = NextFrameModel(cfg.channels, cfg.proj_dim)
        model.load_state_dict(load_file(str(weights)))
        return cls(model.to(device), cfg, float(meta["prominence"]))


def _crops(
    waves: Sequence[np.ndarray], size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, size) random crops (zero-padded) and their (B,) valid lengths."""
    batch = np.zeros((len(waves), size), dtype=np.float32)
    lengths = []
    for i, w in enumerate(waves):
        start = int(rng.integers(0, max(len(w) - size, 0) + 1))
        piece = w[start : start + size]
        batch[i, : len(piece)] = piece
        lengths.append(len(piece))
    return torch.from_numpy(batch), torch.tensor(lengths, dtype=torch.long)


def train_contrastive(
    waves: Sequence[np.ndarray],
    cfg: ContrastiveConfig,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[ContrastiveDetector, list[float]]:
    """Train a :class:`NextFrameModel` on 16 kHz ``waves``; return the detector and losses.

    The prominence is left at its default: tune it with
    :func:`~essl.masking.boundaries.detect.tune_prominence` on dev data.
    """
    cfg.validate()
    if not waves:
        raise EsslError("boundary training: no training audio (the train split is empty)")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = NextFrameModel(cfg.channels, cfg.proj_dim).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    size = int(cfg.crop_seconds * 16000)
    losses: list[float] = []
    it: Any = range(cfg.steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="boundary model", unit="step")
    start = time.perf_counter()
    for _ in it:
        idx = rng.integers(0, len(waves), cfg.batch_size)
        wavs, lengths = _crops([waves[i] for i in idx], size, rng)
        z = model(wavs.to(device))
        loss = next_frame_loss(z, model.frame_lengths(lengths).to(device), cfg.num_negatives, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise EsslError("boundary training diverged (non-finite loss); lower --lr")
        if cfg.max_seconds and time.perf_counter() - start > cfg.max_seconds:
            break
    return ContrastiveDetector(model.eval(), cfg), losses
