"""Gumbel-softmax product quantizer (wav2vec 2.0 §2, Jang et al. 2017).

G codebooks of V entries; each frame picks one entry per group with a straight-through hard
Gumbel softmax during training (argmax at eval), and the G picks are concatenated. Entries are
gathered by index; the straight-through gradient reaches the logits through one matmul in the
backward pass instead of a (N, G·V, d) one-hot product. The temperature is a pure function of
the update count (:meth:`set_num_updates`), so resuming needs no extra state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GumbelVectorQuantizer", "QuantizerOutput"]


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor
    """(N, codevector_dim) the G selected entries concatenated."""
    codes: torch.Tensor
    """(N, G) long, selected entry per group."""
    prob_perplexity: torch.Tensor
    """() sum over groups of exp(entropy) of the batch-averaged softmax (for the diversity loss)."""
    code_perplexity: torch.Tensor
    """() sum over groups of exp(entropy) of the hard code histogram (for logging)."""
    temperature: float
    """Gumbel temperature used."""


class _StraightThroughGather(torch.autograd.Function):
    """Forward: codebook[g, codes[n, g]]; backward: gradients of ``onehot(codes) @ codebook``
    with the one-hot's gradient routed to ``soft`` (straight-through estimator)."""

    @staticmethod
    def forward(ctx: Any, soft: torch.Tensor, codes: torch.Tensor, book: torch.Tensor) -> Any:
        G, V, d = book.shape
        flat = codes + torch.arange(G, device=codes.device) * V  # (N, G)
        ctx.save_for_backward(flat, book)
        return F.embedding(flat, book.reshape(G * V, d))  # (N, G, d)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        flat, book = ctx.saved_tensors
        G, V, d = book.shape
        grad = grad.to(book.dtype)
        grad_soft = torch.bmm(grad.transpose(0, 1), book.transpose(1, 2)).transpose(0, 1)
        grad_book = torch.zeros(G * V, d, dtype=book.dtype, device=book.device)
        grad_book.index_add_(0, flat.reshape(-1), grad.reshape(-1, d))
        return grad_soft, None, grad_book.view(G, V, d)


def _perplexity(probs: torch.Tensor) -> torch.Tensor:
    """(G, V) distributions → () sum of per-group perplexities."""
    entropy = -(probs * torch.log(probs + 1e-7)).sum(-1)
    return torch.exp(entropy).sum()


class GumbelVectorQuantizer(nn.Module):
    """(N, C) features → G·V-way product-quantized (N, codevector_dim) vectors."""

    def __init__(
        self,
        input_dim: int,
        num_groups: int,
        num_vars: int,
        codevector_dim: int,
        max_temp: float = 2.0,
        min_temp: float = 0.5,
        temp_decay: float = 0.999995,
    ) -> None:
        super().__init__()
        self.num_groups, self.num_vars = num_groups, num_vars
        self.codevectors = nn.Parameter(
            torch.empty(num_groups, num_vars, codevector_dim // num_groups).uniform_()
        )
        self.weight_proj = nn.Linear(input_dim, num_groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        self.max_temp, self.min_temp, self.temp_decay = max_temp, min_temp, temp_decay
        self.temperature = max_temp

    def set_num_updates(self, num_updates: int) -> None:
        """Temperature after ``num_updates`` updates: max(max · decay^n, min) (§4.2)."""
        self.temperature = max(self.max_temp * self.temp_decay**num_updates, self.min_temp)

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        N = x.shape[0]
        G, V = self.num_groups, self.num_vars
        logits = self.weight_proj(x).float().view(N, G, V)
        if self.training:
            u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
            noisy = logits - torch.log(-torch.log(u))
            soft = torch.softmax(noisy / self.temperature, dim=-1)  # (N, G, V)
            codes = noisy.argmax(-1)  # (N, G)
            q = _StraightThroughGather.apply(soft, codes, self.codevectors.float())
        else:
            codes = logits.argmax(-1)
            flat = codes + torch.arange(G, device=x.device) * V
            q = F.embedding(flat, self.codevectors.float().reshape(G * V, -1))
        avg_probs = torch.softmax(logits, dim=-1).sum(0) / max(N, 1)  # (G, V); N = 0 safe
        hist = torch.zeros(G, V, device=x.device).scatter_add_(
            1, codes.t(), torch.ones(G, N, device=x.device)
        ) / max(N, 1)
        return QuantizerOutput(
            quantized=q.reshape(N, G * self.codevectors.shape[-1]).to(x.dtype),
            codes=codes,
            prob_perplexity=_perplexity(avg_probs),
            code_perplexity=_perplexity(hist),
            temperature=self.temperature,
        )
