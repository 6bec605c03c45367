"""Storage markers: parameter counts and bytes (parameters × element size of their dtype)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Storage", "optimizer_bytes", "storage_of"]


@dataclass(frozen=True)
class Storage:
    params: int
    trainable_params: int
    param_bytes: int


def storage_of(model: nn.Module) -> Storage:
    """Counts each parameter once (shared parameters are not double counted)."""
    seen: set[int] = set()
    params = trainable = nbytes = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        params += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        nbytes += p.numel() * p.element_size()
    return Storage(params=params, trainable_params=trainable, param_bytes=nbytes)


def optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held by the optimizer's state tensors (e.g. AdamW's two moments and step)."""
    total = 0
    for state in optimizer.state.values():
        for v in state.values():
            if isinstance(v, torch.Tensor):
                total += v.numel() * v.element_size()
    return total
