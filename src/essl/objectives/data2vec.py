"""data2vec pretraining for speech (Baevski et al. 2022, §3).

A student encoder sees the masked input; an EMA teacher (same encoder, weights Δ ← τΔ +
(1 − τ)θ, τ rising linearly from 0.999 to 0.9999 over the first updates then constant, §3.3)
sees the unmasked input in eval mode without gradients. The target of a masked frame is the
mean of the teacher's top-K Transformer layer outputs, each instance-normalised over time
per utterance (valid frames only, §3.3 "Targets"). The loss regresses a linear projection of
the student's last state onto it: L2 by default (fairseq's audio base, ``loss_beta: 0``) or
the paper's smooth L1 (§3.3).

The EMA weights (and the update count of the last EMA step) are buffers of this task
(``ema.*``, ``ema_updates``: in ``state_dict``, so checkpoints and
resumes carry them, never in ``parameters()``, so the optimizer and parameter counts ignore
them); the teacher runs the student's modules on them with
:func:`torch.func.functional_call`. τ is a pure function of the update count given to
:meth:`Data2VecTask.on_update`. With ``ema_transformer_only`` (default, as fairseq) only the
Transformer is averaged; the front end and projection are the student's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from essl.data.batch import Batch
from essl.masking.base import Masker
from essl.models.encoder import Encoder
from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.config import Data2VecLossConfig

__all__ = ["Data2VecTask", "instance_norm_frames", "regression_loss"]


def instance_norm_frames(x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) → per utterance and channel, zero mean and unit variance over the valid
    frames ((B, T) ``padding_mask``, True = padded); padded frames become 0."""
    w = (~padding_mask)[..., None].to(x.dtype)  # (B, T, 1)
    n = w.sum(1, keepdim=True).clamp(min=1)
    mean = (x * w).sum(1, keepdim=True) / n
    var = ((x - mean) ** 2 * w).sum(1, keepdim=True) / n
    return (x - mean) * torch.rsqrt(var + 1e-5) * w


def regression_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: str = "l2", beta: float = 0.25
) -> torch.Tensor:
    """() mean over frames of the per-frame mean L2 (or smooth L1) error; (N, D) inputs."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred.float(), target.float(), beta=beta)
    return F.mse_loss(pred.float(), target.float())


class Data2VecTask(SSLTask):
    """Student encoder + regression head + EMA teacher weights (buffers)."""

    encoder: Encoder
    ema_updates: torch.Tensor

    def __init__(self, encoder: Encoder, masker: Masker, cfg: Data2VecLossConfig) -> None:
        super().__init__()
        cfg.validate()
        if cfg.top_k > encoder.num_layers:
            raise ValueError(
                f"objective.data2vec.top_k: {cfg.top_k} > the encoder's {encoder.num_layers} "
                "layers; lower it"
            )
        self.encoder, self.masker, self.cfg = encoder, masker, cfg
        D = encoder.cfg.embed_dim
        self.final_proj = nn.Linear(D, D)
        self.ema = nn.Module()
        for name, p in self._averaged():
            self.ema.register_buffer(name.replace(".", "__"), p.detach().clone())
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))

    @property
    def tau(self) -> float:
        """The EMA decay of the last :meth:`on_update` (``ema_start`` before any)."""
        return self.cfg.tau(int(self.ema_updates))

    def _averaged(self) -> list[tuple[str, nn.Parameter]]:
        keep = lambda n: not self.cfg.ema_transformer_only or n.startswith("transformer.")  # noqa: E731
        return [(n, p) for n, p in self.encoder.named_parameters() if keep(n)]

    @torch.no_grad()
    def on_update(self, num_updates: int) -> None:
        """EMA step with τ(num_updates): teacher ← τ · teacher + (1 − τ) · student."""
        self.ema_updates.fill_(num_updates)
        tau = self.tau
        for name, p in self._averaged():
            buf = self.ema.get_buffer(name.replace(".", "__"))
            buf.mul_(tau).add_(p.detach().to(buf.dtype), alpha=1.0 - tau)

    @torch.no_grad()
    def teacher_targets(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) mean of the teacher's top-K instance-normalised layers, (B, T) padding."""
        weights = {n.replace("__", "."): b for n, b in self.ema.named_buffers()}
        L, K = self.encoder.num_layers, self.cfg.top_k
        kwargs = {"mask": None, "layers": list(range(L - K + 1, L + 1))}
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            out = torch.func.functional_call(
                self.encoder, weights, (batch.wavs, batch.lengths), kwargs, strict=False
            )
        finally:
            self.encoder.train(was_training)
        layers = [instance_norm_frames(s.float(), out.padding_mask) for s in out.layer_states]
        return torch.stack(layers).mean(0), out.padding_mask

    def forward(self, batch: Batch, mask: torch.Tensor | None = None) -> TaskOutput:
        """Loss on ``batch``; ``mask`` (B, T) overrides the masker (for tests)."""
        frames = self.encoder.frame_lengths(batch.lengths)
        T = int(self.encoder.frame_lengths(torch.tensor([batch.wavs.shape[1]]))[0])
        if mask is None:
            mask = self.masker(frames, T, batch.segments).to(batch.wavs.device)
        target, _ = self.teacher_targets(batch)
        out = self.encoder(batch.wavs, batch.lengths, mask=mask, layers=())
        pred, y = self.final_proj(out.hidden[mask]), target[mask]  # (N, D) each
        reg = regression_loss(pred, y, self.cfg.loss, self.cfg.smooth_l1_beta)
        total = reg + self.cfg.feature_penalty_weight * out.feature_penalty
        num_frames, masked = int(frames.sum()), int(mask.sum())
        pred_var = pred.detach().float().var(0).mean() if masked > 1 else reg.detach() * 0
        target_var = y.float().var(0).mean() if masked > 1 else reg.detach() * 0
        stats = torch.stack([total, reg, out.feature_penalty, pred_var, target_var]).detach()
        names = ("loss", "regression", "feature_penalty", "pred_var", "target_var")
        logs = dict(zip(names, stats.float().tolist(), strict=True))
        logs["ema_decay"] = self.tau
        logs["mask_fraction"] = masked / max(num_frames, 1)
        return TaskOutput(loss=total, logs=logs, num_frames=num_frames, masked_frames=masked)
