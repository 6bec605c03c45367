"""One optimizer update: accumulation, loss weighting, DDP reduction, clipping, NaN guard.

**Loss weighting.** A task's ``TaskOutput.loss`` is a mean over its normaliser: the masked
frames (``masked_frames``; wav2vec 2.0 and HuBERT normalise by them), or ``num_frames`` when a
task reports no masked frames. The update uses the gradient of

    sum_i w_i * loss_i / sum_i w_i,    w_i = masked_frames_i (else num_frames_i, else 1),

over every micro-batch ``i`` of every rank: exactly the loss of one large batch holding them
all. Each micro-batch back-propagates ``w_i * loss_i``; after DDP's gradient average (a sum
divided by ``world_size``) the gradients are multiplied by ``world_size / sum_i w_i``, with
``sum_i w_i`` all-reduced (one small all-reduce per update, shared with the logged values).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from essl.data.batch import Batch
from essl.objectives.base import TaskOutput
from essl.training.distributed import DistInfo, all_reduce_sum

__all__ = ["StepResult", "micro_weight", "train_step"]


@dataclass
class StepResult:
    """What one update did, reduced over ranks (identical on every rank)."""

    loss: float
    """Weighted mean loss over all micro-batches of all ranks."""
    logs: dict[str, float] = field(default_factory=dict)
    """Each TaskOutput.logs entry, weighted like the loss."""
    grad_norm: float = 0.0
    """Global gradient L2 norm before clipping."""
    audio_seconds: float = 0.0
    """Unpadded audio in the update, all ranks."""
    num_frames: int = 0
    masked_frames: int = 0
    samples: int = 0
    """Unpadded samples in the update, all ranks."""
    utterances: int = 0
    """Utterances (crops) in the update, all ranks."""
    skipped: bool = False
    """True when the loss or gradients were not finite: no update was made."""


def micro_weight(out: TaskOutput) -> float:
    """w_i of the module docstring."""
    return float(out.masked_frames or out.num_frames or 1)


def train_step(
    model: nn.Module,
    micro_batches: list[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    lr: float,
    grad_clip: float,
    dist: DistInfo,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> StepResult:
    """Forward/backward every micro-batch, then clip and step (or skip if non-finite)."""
    params = [p for p in model.parameters() if p.requires_grad]
    sums: dict[str, float] = {}
    weight = loss_sum = audio = 0.0
    frames = masked = samples = utts = 0
    for i, batch in enumerate(micro_batches):
        batch = batch.to(device, non_blocking=True)
        last = i == len(micro_batches) - 1
        sync = contextlib.nullcontext() if last or not dist.enabled else model.no_sync()  # type: ignore[operator]
        with sync:
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                out: TaskOutput = model(batch)
            w = micro_weight(out)
            (out.loss.float() * w).backward()
        loss_sum += w * float(out.loss.detach())
        for k, v in out.logs.items():
            sums[k] = sums.get(k, 0.0) + w * float(v)
        weight += w
        audio += float(batch.lengths.sum()) / 16000.0
        frames, masked = frames + out.num_frames, masked + out.masked_frames
        samples += int(batch.lengths.sum())
        utts += len(batch.utterances)
    keys = sorted(sums)
    packed = torch.tensor(
        [weight, loss_sum, audio, frames, masked, samples, utts, *[sums[k] for k in keys]],
        dtype=torch.float64,
        device=device,
    )
    vals: list[float] = all_reduce_sum(packed, dist).tolist()
    total_w = vals[0]
    res = StepResult(
        loss=vals[1] / total_w,
        logs={k: v / total_w for k, v in zip(keys, vals[7:], strict=True)},
        audio_seconds=vals[2],
        num_frames=int(vals[3]),
        masked_frames=int(vals[4]),
        samples=int(vals[5]),
        utterances=int(vals[6]),
    )
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        torch._foreach_mul_(grads, dist.world_size / total_w)
    norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
    if grad_clip > 0:
        torch.nn.utils.clip_grads_with_norm_(params, grad_clip, norm)
    res.grad_norm = float(norm)
    if not (math.isfinite(res.loss) and math.isfinite(res.grad_norm)):
        res.skipped = True
    else:
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return res
