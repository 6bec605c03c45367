"""Learning-rate schedules: pure functions of the update index.

Three shapes, all starting with a linear warm-up from 0 to the peak ``lr``:

* ``polynomial``: linear (power 1) decay to ``end_lr_scale * lr`` at ``total_steps``; the
  wav2vec 2.0 / HuBERT recipes (Baevski et al. 2020, §4.2; Hsu et al. 2021, §IV-C; fairseq
  ``polynomial_decay``).
* ``tri_stage``: warm-up, hold, then exponential decay to ``end_lr_scale * lr`` over the
  phase ratios (Park et al. 2019 SpecAugment §3; fairseq ``tri_stage``), starting from
  ``init_lr_scale * lr``.
* ``cosine``: half-cosine decay to ``end_lr_scale * lr`` (Loshchilov & Hutter 2017).

``lr_at(step, cfg)`` takes the 0-based index of the update about to be made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from essl.training.config import OptimConfig

__all__ = ["lr_at"]


def lr_at(step: int, cfg: OptimConfig) -> float:
    """The learning rate of update ``step`` (0-based) under ``cfg``'s schedule."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if cfg.schedule == "tri_stage":
        return _tri_stage(step, cfg)
    warmup = cfg.warmup_steps
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    end = cfg.lr * cfg.end_lr_scale
    span = max(cfg.total_steps - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    if cfg.schedule == "cosine":
        return end + (cfg.lr - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return end + (cfg.lr - end) * (1.0 - progress) ** cfg.power


def _tri_stage(step: int, cfg: OptimConfig) -> float:
    warm_r, hold_r, decay_r = cfg.tri_stage_ratios
    total = cfg.total_steps
    warm, hold, decay = int(warm_r * total), int(hold_r * total), int(decay_r * total)
    init = cfg.lr * cfg.init_lr_scale
    if step < warm:
        return init + (cfg.lr - init) * step / max(warm, 1)
    if step < warm + hold:
        return cfg.lr
    if step < warm + hold + decay:
        k = -math.log(cfg.end_lr_scale) / max(decay, 1)
        return cfg.lr * math.exp(-k * (step - warm - hold))
    return cfg.lr * cfg.end_lr_scale
