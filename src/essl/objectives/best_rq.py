"""BEST-RQ pretraining (Chiu et al. 2022, §2): BERT-style prediction of the codes of a
frozen random-projection quantizer.

Targets: 80-bin log-Mel frames at 100 Hz (:func:`essl.targets.mfcc.log_mel_spectrogram`),
normalised per utterance (mean 0, std 1 per bin over valid frames; the paper normalises
globally), ``stack_frames`` = 2 consecutive frames stacked to 50 Hz to align with the
encoder frames, projected by a frozen Xavier-initialised matrix, L2-normalised and assigned
to the nearest (cosine) entry of a frozen N(0, 1), L2-normalised codebook (§2.1). Each of
the ``num_codebooks`` quantizers has its own projection, codebook and softmax head.

Masking (§2.2): the paper replaces masked *input features* by N(0, 0.1) noise. Our encoder
reads waveforms, so masked frames of the *projected conv features* (where wav2vec 2.0 puts
its mask embedding) get N(0, ``noise_std``²) noise instead; the learned mask embedding
exists (so checkpoints stay interchangeable) but is unused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from essl.data.batch import Batch
from essl.masking.base import Masker
from essl.models.encoder import Encoder
from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.config import BestRQLossConfig
from essl.objectives.losses import masked_prediction_loss

__all__ = ["BestRQTask", "RandomProjectionQuantizer", "stacked_log_mel"]


def stacked_log_mel(
    wavs: torch.Tensor, lengths: torch.Tensor, num_mel_bins: int, stack: int, num_frames: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S), (B,) → per-utterance-normalised stacked log-Mel (B, T, stack · M) aligned to
    ``num_frames`` = T encoder frames (truncated or zero-padded), and (B, T) bool validity."""
    from essl.targets.mfcc import MfccConfig, log_mel_spectrogram

    with torch.no_grad(), torch.autocast(wavs.device.type, enabled=False):
        mel, frames = log_mel_spectrogram(wavs, lengths, MfccConfig(num_mel_bins=num_mel_bins))
        B, M, _ = mel.shape
        valid = torch.arange(M, device=mel.device)[None, :] < frames[:, None]  # (B, M)
        w = valid[..., None].float()
        n = w.sum(1, keepdim=True).clamp(min=1)
        mean = (mel * w).sum(1, keepdim=True) / n
        std = (((mel - mean) ** 2 * w).sum(1, keepdim=True) / n).sqrt().clamp(min=1e-5)
        mel = ((mel - mean) / std) * w
        Ms = M // stack
        x = mel[:, : Ms * stack].reshape(B, Ms, stack * num_mel_bins)  # (B, Ms, stack·M)
        ok = (frames // stack)[:, None] > torch.arange(Ms, device=mel.device)[None, :]
        x, ok = x[:, :num_frames] * ok[:, :num_frames, None], ok[:, :num_frames]
        if Ms < num_frames:
            x = F.pad(x, (0, 0, 0, num_frames - Ms))
            ok = F.pad(ok, (0, num_frames - Ms), value=False)
    return x, ok


class RandomProjectionQuantizer(nn.Module):
    """Frozen G × (projection, codebook) pairs (BEST-RQ §2.1); no parameters, only buffers
    (so they travel in checkpoints and never reach the optimizer)."""

    projection: torch.Tensor
    codebooks: torch.Tensor

    def __init__(self, input_dim: int, num_codebooks: int, size: int, dim: int) -> None:
        super().__init__()
        proj = torch.empty(num_codebooks, input_dim, dim)
        for g in range(num_codebooks):
            nn.init.xavier_uniform_(proj[g])
        books = F.normalize(torch.randn(num_codebooks, size, dim), dim=-1)
        self.register_buffer("projection", proj)  # (G, F, d)
        self.register_buffer("codebooks", books)  # (G, V, d)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) features → (N, G) long codes (nearest codeword by cosine)."""
        z = F.normalize(torch.einsum("nf,gfd->gnd", x.float(), self.projection), dim=-1)
        return torch.bmm(z, self.codebooks.transpose(1, 2)).argmax(-1).t()  # (N, G)


class BestRQTask(SSLTask):
    """Encoder + G softmax heads over the frozen quantizer's codes."""

    encoder: Encoder

    def __init__(self, encoder: Encoder, masker: Masker, cfg: BestRQLossConfig) -> None:
        super().__init__()
        cfg.validate()
        self.encoder, self.masker, self.cfg = encoder, masker, cfg
        feat = cfg.num_mel_bins * cfg.stack_frames
        self.quantizer = RandomProjectionQuantizer(
            feat, cfg.num_codebooks, cfg.codebook_size, cfg.codebook_dim
        )
        D = encoder.cfg.embed_dim
        self.heads = nn.ModuleList(
            nn.Linear(D, cfg.codebook_size) for _ in range(cfg.num_codebooks)
        )

    def targets(self, batch: Batch, num_frames: int) -> torch.Tensor:
        """(B, T, G) codes of the batch's stacked log-Mel frames, -100 where there are none."""
        x, ok = stacked_log_mel(
            batch.wavs, batch.lengths, self.cfg.num_mel_bins, self.cfg.stack_frames, num_frames
        )
        codes = self.quantizer(x.reshape(-1, x.shape[-1])).view(*x.shape[:2], -1)
        return codes.masked_fill(~ok[..., None], -100)

    def forward(self, batch: Batch, mask: torch.Tensor | None = None) -> TaskOutput:
        """Loss on ``batch``; ``mask`` (B, T) overrides the masker (for tests)."""
        frames = self.encoder.frame_lengths(batch.lengths)
        T = int(self.encoder.frame_lengths(torch.tensor([batch.wavs.shape[1]]))[0])
        if mask is None:
            mask = self.masker(frames, T, batch.segments).to(batch.wavs.device)
        codes = self.targets(batch, T)  # (B, T, G)
        D = self.encoder.cfg.embed_dim
        noise = torch.randn(*mask.shape, D, device=mask.device) * self.cfg.noise_std
        out = self.encoder(batch.wavs, batch.lengths, mask=mask, layers=(), mask_values=noise)
        hidden, target = out.hidden[mask], codes[mask]  # (N, D), (N, G)
        losses, accs = [], []
        for g, head in enumerate(self.heads):
            parts = masked_prediction_loss(head(hidden), target[:, g])
            losses.append(parts.masked)
            accs.append(parts.masked_accuracy)
        ce = torch.stack(losses).mean()
        total = ce + self.cfg.feature_penalty_weight * out.feature_penalty
        num_frames, masked = int(frames.sum()), int(mask.sum())
        stats = torch.stack([total, ce, out.feature_penalty, torch.stack(accs).mean()]).detach()
        logs = dict(
            zip(("loss", "masked_loss", "feature_penalty", "accuracy"), stats.tolist(), strict=True)
        )
        logs["mask_fraction"] = masked / max(num_frames, 1)
        return TaskOutput(loss=total, logs=logs, num_frames=num_frames, masked_frames=masked)
