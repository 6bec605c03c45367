"""Multitask pretext regression added to any SSL objective (PASE workers, Pascual et al. 2019,
§2.2; weighted pretext sets of Zaiem, Parcollet & Essid 2021/2022).

:class:`MultitaskTask` wraps a base :class:`~essl.objectives.base.SSLTask`: one linear head per
signal feature (:mod:`essl.targets.signal`) reads the encoder's last hidden state and is
trained with an L1 loss on *standardised* targets over every valid frame (masked or not). The
total loss is ``base loss + loss_weight · Σ_i w_i · L1_i``; each part is logged as
``pretext_<name>``.

**No double compute.** The hidden states come from the base task's own encoder call: a
forward hook on ``base.encoder`` keeps the :class:`~essl.models.EncoderOutput` of the call
made inside ``base.forward(batch)`` (the last one if the task calls the encoder more than
once). Targets are computed from ``batch.wavs`` without gradients.

**Standardisation.** Per target column, mean and variance are accumulated over every valid
frame seen in training (Chan et al.'s parallel update of count/mean/M2, kept as buffers so
they are checkpointed); in eval mode the stored statistics are used as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from essl.data.batch import Batch
from essl.errors import ConfigError, EsslError
from essl.objectives.base import SSLTask, TaskOutput
from essl.targets.pretext import PRETEXT_NAMES, pretext_dims, pretext_targets

__all__ = ["MultitaskConfig", "MultitaskTask", "build_multitask", "read_pretext_weights"]


@dataclass(kw_only=True)
class MultitaskConfig:
    """Pretext regression heads added to the objective."""

    targets: list[str] = field(default_factory=list)
    """Signal features to regress (see ``essl.targets.signal``), e.g. ``[loudness, f0,
    voicing, alpha_ratio, log_hnr]``; empty (the default) disables the heads."""
    weights: dict[str, float] = field(default_factory=dict)
    """Weight per target (missing targets get 1.0); overridden by ``weights_file``."""
    weights_file: str | None = None
    """JSON written by ``essl pretext select`` (``{"weights": {name: w}}``); targets with
    weight 0 are dropped."""
    loss_weight: float = 1.0
    """Multiplier of the summed pretext losses."""

    def validate(self) -> None:
        bad = [t for t in self.targets if t not in PRETEXT_NAMES]
        if bad:
            raise ConfigError(
                f"objective.multitask.targets: '{bad[0]}' is unknown; valid: {', '.join(PRETEXT_NAMES)}"
            )
        if self.loss_weight < 0 or any(w < 0 for w in self.weights.values()):
            raise ConfigError("objective.multitask: loss_weight and weights must be >= 0")


def read_pretext_weights(path: str | Path) -> dict[str, float]:
    """``{name: weight}`` from a file written by ``essl pretext select``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        weights = {str(k): float(v) for k, v in data["weights"].items()}
    except FileNotFoundError:
        raise EsslError(
            f"{path}: pretext weights file not found; create it with "
            "`essl pretext select MANIFEST --out FILE`"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise EsslError(
            f'{path}: expected JSON {{"weights": {{name: number}}}}; regenerate '
            "it with `essl pretext select`"
        ) from None
    pretext_dims(list(weights))  # unknown names raise
    return weights


class MultitaskTask(SSLTask):
    """``base`` plus pretext regression heads on its encoder's last hidden state."""

    stat_count: torch.Tensor
    stat_mean: torch.Tensor
    stat_m2: torch.Tensor

    def __init__(
        self,
        base: SSLTask,
        targets: Sequence[str],
        weights: Mapping[str, float] | None = None,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not targets:
            raise ConfigError("objective.multitask.targets: give at least one target")
        self.base = base
        self.required_fields = base.required_fields  # type: ignore[misc]
        self.names = list(targets)
        self.dims = pretext_dims(self.names)
        self.weights = {n: float((weights or {}).get(n, 1.0)) for n in self.names}
        self.loss_weight = loss_weight
        enc: Any = base.encoder
        width = int(enc.cfg.embed_dim)
        self.heads = nn.ModuleDict({n: nn.Linear(width, d) for n, d in self.dims.items()})
        total = sum(self.dims.values())
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_mean", torch.zeros(total, dtype=torch.float64))
        self.register_buffer("stat_m2", torch.zeros(total, dtype=torch.float64))
        self._captured: Any = None
        self._capturing = False
        self._hook = base.encoder.register_forward_hook(self._capture)

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        """The base task's encoder (not registered twice)."""
        return self.base.encoder

    def _capture(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._capturing:  # only inside forward: evaluation calls keep nothing alive
            self._captured = output

    def on_update(self, num_updates: int) -> None:
        self.base.on_update(num_updates)

    @torch.no_grad()
    def _update_stats(self, y: torch.Tensor) -> None:
        """Chan et al. parallel update with the (N, D) valid target frames ``y``."""
        n = y.shape[0]
        if n == 0:
            return
        y = y.double()
        mean_b = y.mean(0)
        m2_b = (y - mean_b).pow(2).sum(0)
        c = self.stat_count
        delta = mean_b - self.stat_mean
        tot = c + n
        self.stat_mean += delta * n / tot
        self.stat_m2 += m2_b + delta.pow(2) * c * n / tot
        self.stat_count.fill_(float(tot))

    def standardise(self, y: torch.Tensor) -> torch.Tensor:
        """(N, D) targets minus the running mean, over the running std (floored at 1e-5)."""
        if float(self.stat_count) < 2:
            return y
        std = (self.stat_m2 / (self.stat_count - 1)).sqrt().clamp(min=1e-5)
        return ((y.double() - self.stat_mean) / std).to(y.dtype)

    def forward(self, batch: Batch, **kwargs: Any) -> TaskOutput:
        """Base loss plus pretext L1 losses; ``kwargs`` go to the base task (e.g. ``mask``)."""
        self._captured, self._capturing = None, True
        try:
            out = self.base(batch, **kwargs)
        finally:
            self._capturing = False
        enc, self._captured = self._captured, None
        if enc is None or not hasattr(enc, "hidden"):
            raise EsslError("multitask: the base task did not call its encoder during forward")
        hidden, frames = enc.hidden, enc.frame_lengths  # (B, T, D), (B,)
        with torch.no_grad():
            tg = pretext_targets(batch.wavs, batch.lengths, self.names, hidden.shape[1])
        valid = (
            torch.arange(hidden.shape[1], device=hidden.device)[None]
            < torch.minimum(frames, tg.lengths.to(frames.device))[:, None]
        )
        y = tg.values.to(hidden.device)[valid]  # (N, Dtot)
        if self.training:
            self._update_stats(y)
        y = self.standardise(y)
        h = hidden[valid]  # (N, D)
        total = hidden.new_zeros(())
        logs = dict(out.logs)
        for n in self.names:
            part = F.l1_loss(self.heads[n](h).float(), y[:, tg.slices[n]].float())
            total = total + self.weights[n] * part
            logs[f"pretext_{n}"] = float(part.detach())
        logs["pretext_loss"] = float(total.detach())
        loss = out.loss + self.loss_weight * total
        logs["loss"] = float(loss.detach())
        return TaskOutput(
            loss=loss, logs=logs, num_frames=out.num_frames, masked_frames=out.masked_frames
        )


def build_multitask(base: SSLTask, cfg: MultitaskConfig) -> SSLTask:
    """``base`` wrapped with the heads of ``cfg`` (``base`` itself when no target is left)."""
    cfg.validate()
    weights = dict(cfg.weights)
    names = list(cfg.targets)
    if cfg.weights_file:
        weights = read_pretext_weights(cfg.weights_file)
        names = [n for n, w in weights.items() if w > 0]
    if not names:
        return base
    return MultitaskTask(base, names, weights, cfg.loss_weight)
