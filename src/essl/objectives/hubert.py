"""HuBERT pretraining (Hsu et al. 2021, §II): predict frame labels (e.g. k-means units) of
masked frames from the context; logits are cosine similarities between a projection of the
last hidden state and learned label embeddings, divided by τ = 0.1 (§II-C / fairseq).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from essl.data.batch import Batch
from essl.errors import EsslError
from essl.masking.base import Masker
from essl.models.encoder import Encoder
from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.config import HubertLossConfig
from essl.objectives.losses import masked_prediction_loss

__all__ = ["HubertTask", "align_labels"]

MAX_LABEL_SLACK = 2
"""Label sequences may differ from the encoder's frame count by at most this many frames."""


def align_labels(
    labels: torch.Tensor, frame_lengths: torch.Tensor, num_frames: int
) -> torch.Tensor:
    """(B, T_labels) → (B, T=num_frames): truncate or pad with -100, and -100 on padding.

    Raises EsslError when T_labels and T differ by more than 2 frames (wrong frame rate?).
    """
    TL = labels.shape[1]
    if abs(TL - num_frames) > MAX_LABEL_SLACK:
        raise EsslError(
            f"batch.labels: {TL} frames per row but the encoder gives {num_frames}; labels "
            "must be at the encoder frame rate (50 Hz for the standard front end)"
        )
    out = labels[:, :num_frames]
    if num_frames > TL:
        out = F.pad(out, (0, num_frames - TL), value=-100)
    pad = torch.arange(num_frames, device=labels.device)[None, :] >= frame_lengths[:, None]
    return out.masked_fill(pad, -100)


class HubertTask(SSLTask):
    """Encoder + final projection + label embeddings; needs ``batch.labels``."""

    required_fields: ClassVar[tuple[str, ...]] = ("labels",)

    encoder: Encoder

    def __init__(self, encoder: Encoder, masker: Masker, cfg: HubertLossConfig) -> None:
        super().__init__()
        cfg.validate()
        cfg.require_classes()
        self.encoder = encoder
        self.masker = masker
        self.cfg = cfg
        self.final_proj = nn.Linear(encoder.cfg.embed_dim, cfg.final_dim)
        self.label_embeddings = nn.Parameter(torch.empty(cfg.num_classes, cfg.final_dim))
        nn.init.uniform_(self.label_embeddings)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, D) hidden states → (N, num_classes) cosine / τ logits."""
        x = self.final_proj(hidden)
        with torch.autocast(x.device.type, enabled=False):  # similarities in fp32
            x = F.normalize(x.float(), dim=-1)
            emb = F.normalize(self.label_embeddings.float(), dim=-1)
            return x @ emb.t() / self.cfg.logit_temp

    def forward(self, batch: Batch, mask: torch.Tensor | None = None) -> TaskOutput:
        """Loss on ``batch``; ``mask`` (B, T) overrides the masker (for tests)."""
        if batch.labels is None:
            raise EsslError("HuBERT needs batch.labels (frame targets, e.g. k-means units)")
        frames = self.encoder.frame_lengths(batch.lengths)
        T = int(self.encoder.frame_lengths(torch.tensor([batch.wavs.shape[1]]))[0])
        labels = align_labels(batch.labels.to(frames.device), frames, T)
        if mask is None:
            mask = self.masker(frames, T, batch.segments).to(batch.wavs.device)
        out = self.encoder(batch.wavs, batch.lengths, mask=mask, layers=())
        unmasked_logits = unmasked_targets = None
        if self.cfg.unmasked_weight > 0:
            keep = ~mask & ~out.padding_mask
            unmasked_logits, unmasked_targets = self.logits(out.hidden[keep]), labels[keep]
        parts = masked_prediction_loss(
            self.logits(out.hidden[mask]),
            labels[mask],
            unmasked_logits,
            unmasked_targets,
            self.cfg.masked_weight,
            self.cfg.unmasked_weight,
        )
        total = parts.total + self.cfg.feature_penalty_weight * out.feature_penalty
        num_frames, masked = int(frames.sum()), int(mask.sum())
        stats = torch.stack(
            [total, parts.masked, parts.unmasked, out.feature_penalty, parts.masked_accuracy]
        ).detach()
        names = ("loss", "masked_loss", "unmasked_loss", "feature_penalty", "accuracy")
        logs = dict(zip(names, stats.float().tolist(), strict=True))
        logs["mask_fraction"] = masked / max(num_frames, 1)
        return TaskOutput(loss=total, logs=logs, num_frames=num_frames, masked_frames=masked)
