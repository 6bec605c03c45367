"""Pure loss functions of the SSL objectives; each returns a dataclass keeping every part."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ContrastiveLoss",
    "MaskedPredictionLoss",
    "Wav2Vec2Loss",
    "contrastive_loss",
    "masked_prediction_loss",
    "sample_negatives",
    "wav2vec2_loss",
]

_FULL_SIMILARITY_MAX_ROWS = 8192
"""Below this many rows, negatives' similarities come from one (N, N) GEMM + gather, cheaper
than materialising (N, K, D) gathered distractors."""


def sample_negatives(
    mask: torch.Tensor, num_negatives: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distractor indices for wav2vec 2.0 (§3.2): K uniform draws, with replacement, among the
    OTHER masked frames of the same utterance.

    Args:
        mask: (B, T) bool time mask; masked frames are numbered row-major, 0..N-1.
        num_negatives: K.

    Returns:
        (N, K) long indices into the N masked frames, and (N, K) bool validity (False only
        for a row with a single masked frame, which has no distractor).
    """
    mask_cpu = mask.to("cpu")
    counts = mask_cpu.sum(1)  # (B,)
    starts = torch.cumsum(counts, 0) - counts  # (B,)
    row = torch.repeat_interleave(torch.arange(mask.shape[0]), counts)  # (N,)
    N = int(counts.sum())
    pos = torch.arange(N) - starts[row]  # (N,) index within its utterance
    others = (counts[row] - 1).clamp(min=1)[:, None]  # (N, 1)
    draw = (torch.rand(N, num_negatives, generator=generator) * others).long()
    draw = torch.minimum(draw, others - 1)
    draw = draw + (draw >= pos[:, None]).long()  # skip the positive itself
    valid = (counts[row] > 1)[:, None].expand(N, num_negatives)
    idx = torch.where(valid, starts[row][:, None] + draw, torch.arange(N)[:, None])
    return idx.to(mask.device), valid.to(mask.device)


@dataclass
class ContrastiveLoss:
    loss: torch.Tensor
    """() mean cross-entropy of the positive among K + 1 candidates."""
    logits: torch.Tensor
    """(N, K + 1) cosine / κ logits, positive first; -inf for invalid distractors."""
    accuracy: torch.Tensor
    """() fraction of rows where the positive scores strictly highest."""


def contrastive_loss(
    context: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    logit_temp: float = 0.1,
    target_ids: torch.Tensor | None = None,
    negatives_valid: torch.Tensor | None = None,
) -> ContrastiveLoss:
    """InfoNCE of wav2vec 2.0 (Baevski et al. 2020, §3.2, eq. 3).

    Args:
        context: (N, D) projected context vectors c_t at masked frames.
        targets: (N, D) projected quantized targets q_t at the same frames.
        negatives: (N, K) long row indices into ``targets`` (distractors).
        logit_temp: κ.
        target_ids: (N, G) codes of each target; a distractor with the positive's codes is
            identical to it and gets a -inf logit (as in fairseq). None compares the vectors.
        negatives_valid: (N, K) bool, False = ignore that distractor (-inf logit).
    """
    with torch.autocast(context.device.type, enabled=False):  # similarities in fp32
        c = F.normalize(context.float(), dim=-1)
        t = F.normalize(targets.float(), dim=-1)
        pos = (c * t).sum(-1, keepdim=True)  # (N, 1)
        if c.shape[0] <= _FULL_SIMILARITY_MAX_ROWS:
            neg = (c @ t.t()).gather(1, negatives)  # (N, K)
        else:
            neg = torch.bmm(t[negatives], c[:, :, None]).squeeze(-1)
    if target_ids is not None:
        same = (target_ids[negatives] == target_ids[:, None]).reshape(*negatives.shape, -1)
        same = same.all(-1)
    else:
        same = (targets[negatives] == targets[:, None]).all(-1)
    if negatives_valid is not None:
        same = same | ~negatives_valid
    logits = torch.cat([pos, neg.masked_fill(same, float("-inf"))], dim=1) / logit_temp
    zeros = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    loss = F.cross_entropy(logits, zeros) if logits.shape[0] else logits.sum()
    acc = (logits[:, :1] > logits[:, 1:]).all(-1).float().mean() if logits.shape[0] else loss
    return ContrastiveLoss(loss=loss, logits=logits.detach(), accuracy=acc.detach())


@dataclass
class Wav2Vec2Loss:
    total: torch.Tensor
    """() contrastive + α · diversity + β · feature_penalty."""
    contrastive: torch.Tensor
    """() InfoNCE."""
    diversity: torch.Tensor
    """() (G·V − perplexity) / (G·V) (§3.2, eq. 4)."""
    feature_penalty: torch.Tensor
    """() mean squared conv features."""


def wav2vec2_loss(
    contrastive: torch.Tensor,
    prob_perplexity: torch.Tensor,
    num_codewords: int,
    feature_penalty: torch.Tensor,
    diversity_weight: float = 0.1,
    feature_penalty_weight: float = 10.0,
) -> Wav2Vec2Loss:
    """The wav2vec 2.0 objective L = L_m + α L_d (+ β feature penalty) (§3.2, §4.2)."""
    diversity = (num_codewords - prob_perplexity) / num_codewords
    total = contrastive + diversity_weight * diversity + feature_penalty_weight * feature_penalty
    return Wav2Vec2Loss(
        total=total, contrastive=contrastive, diversity=diversity, feature_penalty=feature_penalty
    )


@dataclass
class MaskedPredictionLoss:
    total: torch.Tensor
    """() masked_weight · masked + unmasked_weight · unmasked."""
    masked: torch.Tensor
    """() mean cross-entropy over masked frames with a label."""
    unmasked: torch.Tensor
    """() mean cross-entropy over unmasked frames with a label (0 when not computed)."""
    masked_accuracy: torch.Tensor
    """() top-1 accuracy over masked frames with a label."""


def _ce(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CE and accuracy over rows whose target is not -100 (0 and 0 when there are none)."""
    valid = targets != -100
    n = valid.sum().clamp(min=1)
    loss = F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum") / n
    acc = ((logits.argmax(-1) == targets) & valid).sum() / n
    return loss, acc.float().detach()


def masked_prediction_loss(
    masked_logits: torch.Tensor,
    masked_targets: torch.Tensor,
    unmasked_logits: torch.Tensor | None = None,
    unmasked_targets: torch.Tensor | None = None,
    masked_weight: float = 1.0,
    unmasked_weight: float = 0.0,
) -> MaskedPredictionLoss:
    """HuBERT's loss (Hsu et al. 2021, §II-B, eq. 3): L = α L_m + (1 − α) L_u.

    Args:
        masked_logits: (N, C) class logits at masked frames; masked_targets: (N,), -100 = none.
        unmasked_logits / unmasked_targets: the same at unmasked frames, or None to skip.
    """
    masked, acc = _ce(masked_logits, masked_targets)
    unmasked = masked.new_zeros(())
    if unmasked_logits is not None and unmasked_targets is not None:
        unmasked, _ = _ce(unmasked_logits, unmasked_targets)
    total = masked_weight * masked + unmasked_weight * unmasked
    return MaskedPredictionLoss(total=total, masked=masked, unmasked=unmasked, masked_accuracy=acc)
