"""The task interface the trainer calls; one implementation per SSL objective.

A task owns its encoder, masker and heads, turns a :class:`~essl.data.batch.Batch` into a
loss by calling pure loss functions, and reports every loss component in ``logs``.
The trainer knows nothing else about it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from essl.data.batch import Batch

__all__ = ["SSLTask", "TaskOutput"]


@dataclass
class TaskOutput:
    loss: torch.Tensor
    """Scalar to back-propagate (already weighted and summed over components)."""
    logs: dict[str, float] = field(default_factory=dict)
    """Detached scalars for the run log: loss parts, accuracy, perplexity, masked fraction..."""
    num_frames: int = 0
    """Frames fed to the Transformer (valid, unpadded); the meter uses it."""
    masked_frames: int = 0
    """Frames that were masked."""


class SSLTask(nn.Module, ABC):
    """A self-supervised objective around an encoder."""

    required_fields: ClassVar[tuple[str, ...]] = ()
    """Batch fields the task needs besides audio (e.g. ``("labels",)`` for HuBERT)."""

    encoder: nn.Module

    @abstractmethod
    def forward(self, batch: Batch) -> TaskOutput:
        ...

    def on_update(self, num_updates: int) -> None:
        """Called after each optimizer update (e.g. to anneal a Gumbel temperature)."""
