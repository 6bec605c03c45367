"""Gradient scaling: identity forward, gradient × ``scale`` backward.

One function serves fairseq's ``GradMultiply`` (the front end's ``feature_grad_mult``) and
gradient reversal for adversarial heads (Ganin & Lempitsky 2015: scale = −λ).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["scale_gradient"]


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged; its gradient is multiplied by ``scale`` on the way back."""
    return _ScaleGradient.apply(x, float(scale))
