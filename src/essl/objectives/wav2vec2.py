"""wav2vec 2.0 pretraining (Baevski et al. 2020, §2-3): contrast masked-frame context vectors
with Gumbel-quantized local features against K distractors from the same utterance.

Only masked frames are projected, quantized and scored (as in fairseq); unmasked frames cost
nothing beyond the encoder.
"""

from __future__ import annotations

import torch
from torch import nn

from essl.data.batch import Batch
from essl.masking.base import Masker
from essl.models.encoder import Encoder
from essl.models.quantizer import GumbelVectorQuantizer
from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.config import Wav2Vec2LossConfig
from essl.objectives.losses import contrastive_loss, sample_negatives, wav2vec2_loss

__all__ = ["Wav2Vec2Task"]


class Wav2Vec2Task(SSLTask):
    """Encoder + quantizer + projections; ``forward(batch)`` returns the weighted loss."""

    encoder: Encoder

    def __init__(self, encoder: Encoder, masker: Masker, cfg: Wav2Vec2LossConfig) -> None:
        super().__init__()
        cfg.validate()
        self.encoder = encoder
        self.masker = masker
        self.cfg = cfg
        enc = encoder.cfg
        self.quantizer = GumbelVectorQuantizer(
            enc.conv_dim,
            cfg.num_groups,
            cfg.num_vars,
            cfg.vq_dim,
            cfg.max_temp,
            cfg.min_temp,
            cfg.temp_decay,
        )
        self.project_q = nn.Linear(cfg.vq_dim, cfg.final_dim)
        self.final_proj = nn.Linear(enc.embed_dim, cfg.final_dim)

    def on_update(self, num_updates: int) -> None:
        """Anneal the Gumbel temperature as a function of the update count."""
        self.quantizer.set_num_updates(num_updates)

    def make_mask(self, batch: Batch) -> torch.Tensor:
        """(B, T) time mask for the batch (torch's default generator)."""
        frames = self.encoder.frame_lengths(batch.lengths)
        T = int(self.encoder.frame_lengths(torch.tensor([batch.wavs.shape[1]]))[0])
        return self.masker(frames, T, batch.segments).to(batch.wavs.device)

    def forward(self, batch: Batch, mask: torch.Tensor | None = None) -> TaskOutput:
        """Loss on ``batch``; ``mask`` (B, T) overrides the masker (for tests)."""
        mask = self.make_mask(batch) if mask is None else mask
        out = self.encoder(batch.wavs, batch.lengths, mask=mask, layers=())
        context = self.final_proj(out.hidden[mask])  # (N, F)
        q = self.quantizer(out.features[mask])
        targets = self.project_q(q.quantized)  # (N, F)
        negatives, valid = sample_negatives(mask, self.cfg.num_negatives)
        c = contrastive_loss(
            context, targets, negatives, self.cfg.logit_temp, q.codes, negatives_valid=valid
        )
        parts = wav2vec2_loss(
            c.loss,
            q.prob_perplexity,
            self.cfg.num_groups * self.cfg.num_vars,
            out.feature_penalty,
            self.cfg.diversity_weight,
            self.cfg.feature_penalty_weight,
        )
        num_frames = int(out.frame_lengths.sum())
        masked = int(mask.sum())
        stats = torch.stack(
            [
                parts.total,
                parts.contrastive,
                parts.diversity,
                parts.feature_penalty,
                q.prob_perplexity,
                q.code_perplexity,
                c.accuracy,
            ]
        ).detach()
        names = (
            *("loss", "contrastive", "diversity", "feature_penalty"),
            *("prob_perplexity", "code_perplexity", "accuracy"),
        )
        logs = dict(zip(names, stats.float().tolist(), strict=True))
        logs["temperature"] = q.temperature
        logs["mask_fraction"] = masked / max(num_frames, 1)
        return TaskOutput(loss=parts.total, logs=logs, num_frames=num_frames, masked_frames=masked)
