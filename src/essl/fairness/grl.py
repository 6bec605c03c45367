"""Gradient reversal and adversarial weight schedules.

Gradient reversal layer (Ganin & Lempitsky 2015, "Unsupervised domain adaptation by
backpropagation", §3.2; Ganin et al. 2016, JMLR, §5): identity in the forward pass,
gradient multiplied by ``−λ`` in the backward pass, so one backward trains a head to predict
an attribute while pushing the features it reads to hide it.

Schedules of ``λ`` over training progress ``p ∈ [0, 1]``:

* ``constant`` — ``λ = weight``;
* ``linear`` — ``λ = weight · min(1, p / warmup)`` (Fader networks, Lample et al. 2017, §3.3,
  ramp the adversarial weight linearly; also Noé et al. 2021);
* ``ganin`` — ``λ = weight · (2 / (1 + exp(−gamma · p)) − 1)`` with ``gamma = 10``
  (Ganin et al. 2016, §5.2.2): suppresses the noisy early signal of the untrained head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from essl.errors import ConfigError
from essl.models.grad import scale_gradient

__all__ = ["GradientReversal", "WeightSchedule", "grad_reverse"]


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; backward multiplies the gradient by ``−lambd``."""
    return scale_gradient(x, -float(lambd))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; set ``lambd`` between updates."""

    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


@dataclass(kw_only=True)
class WeightSchedule:
    """Adversarial weight ``λ`` as a function of the update count (module docstring)."""

    kind: str = "ganin"
    """``constant``, ``linear`` or ``ganin``."""
    weight: float = 1.0
    """Final (maximum) ``λ``."""
    total_updates: int = 10_000
    """Updates over which progress ``p`` goes from 0 to 1."""
    warmup: float = 1.0
    """``linear`` only: fraction of ``total_updates`` to reach ``weight``."""
    gamma: float = 10.0
    """``ganin`` only: steepness of the sigmoid ramp."""

    def validate(self) -> None:
        if self.kind not in ("constant", "linear", "ganin"):
            raise ConfigError(f"schedule.kind '{self.kind}': use constant, linear or ganin")
        if self.weight < 0:
            raise ConfigError("schedule.weight must be >= 0 (it multiplies the reversed gradient)")
        if self.total_updates < 1 or not 0 < self.warmup <= 1:
            raise ConfigError("schedule.total_updates must be >= 1 and warmup in (0, 1]")

    def __call__(self, num_updates: int) -> float:
        p = min(max(num_updates / self.total_updates, 0.0), 1.0)
        if self.kind == "constant":
            return self.weight
        if self.kind == "linear":
            return self.weight * min(1.0, p / self.warmup)
        return self.weight * (2.0 / (1.0 + math.exp(-self.gamma * p)) - 1.0)
