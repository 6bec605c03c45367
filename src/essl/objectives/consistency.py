"""Robustness regularisation around any SSL task: view consistency and augmentation.

:class:`ConsistencyTask` adds a clean/perturbed consistency term to any
:class:`~essl.objectives.base.SSLTask` (after wav2vec-Switch, Wang et al., "Contrastive
Learning from Original-noisy Speech Pairs for Robust Speech Recognition", ICASSP 2022, §2:
the same utterance, original and noisy, should give consistent representations; and
consistency regularisation in general, Sajjadi et al. NeurIPS 2016, Xie et al. "UDA",
NeurIPS 2020, §2). Per batch:

1. **View 1** is the batch as given. The base task runs on it unchanged (its loss, masks
   and logs are untouched). A forward hook on ``base.encoder`` captures its features
   for the first encoder call of the step, together with the time mask it used.
2. **View 2** perturbs every row (a random condition and severity per utterance, drawn
   from :class:`~essl.perturb.augment.AugmentConfig` with torch's default generator, or a
   fixed :class:`~essl.perturb.Perturbation`) and runs the encoder once more with the
   *same* time mask, so both views see identical mask embeddings at identical frames.
3. The consistency loss compares the two views' features at the chosen layer over every
   valid frame: ``cosine`` = mean(1 − cos(z1, z2)), ``l2`` = mean ||z1 − z2||² / D, or
   ``contrastive`` = InfoNCE (Oord et al. 2018, §2.3) where the positive of a perturbed
   frame is the same frame of view 1 and the negatives are the other frames of the same
   utterance (cosine / ``temperature``), as the switched targets of wav2vec-Switch are
   scored. ``cosine`` and ``l2`` are 0 for identical views but can be minimised by
   features that ignore the input; ``contrastive`` cannot (a collapsed encoder scores
   log T), which matters early in pretraining when the base loss is still at chance.
   With ``stop_gradient`` (default) view 1 is detached: the clean view is the target and
   only the perturbed view is pulled towards it, so the base objective's representation is
   not dragged towards the noisy one.

The total loss is ``base.loss + weight · consistency``; ``logs["consistency"]`` holds the
unweighted term, ``logs["base_loss"]`` the base task's loss and ``logs["loss"]`` the total. Perturbations must keep lengths (``speed`` is refused).

:class:`AugmentedTask` applies :func:`~essl.perturb.augment.augment_batch` before the base
task (perturbation as augmentation). Both wrappers delegate ``state_dict`` and
``load_state_dict`` to the base task, so their checkpoints load into the plain task (and
``essl evaluate RUN_DIR`` works unchanged); :func:`regularise` applies them from configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from essl.data.batch import Batch
from essl.errors import ConfigError, EsslError
from essl.objectives.base import SSLTask, TaskOutput
from essl.perturb.augment import AugmentConfig, augment_batch
from essl.perturb.base import Perturbation

__all__ = [
    "AugmentedTask",
    "ConsistencyConfig",
    "ConsistencyTask",
    "consistency_loss",
    "regularise",
]


@dataclass(kw_only=True)
class ConsistencyConfig:
    """The clean/perturbed consistency term."""

    perturbations: AugmentConfig = field(default_factory=lambda: AugmentConfig(probability=1.0))
    """How view 2 is perturbed (condition and severity drawn per utterance)."""
    weight: float = 1.0
    """Weight of the consistency term added to the base loss."""
    layer: int | None = None
    """Transformer layer compared: None = the final hidden state; i in 0..L = state i."""
    distance: Literal["cosine", "l2", "contrastive"] = "cosine"
    """Frame distance: 1 − cosine, squared L2 divided by D, or InfoNCE over the frames."""
    temperature: float = 0.1
    """Temperature of ``contrastive`` (cosine logits are divided by it)."""
    stop_gradient: bool = True
    """Detach view 1 (the target); gradients flow through view 2 only."""

    def validate(self) -> None:
        self.perturbations.validate()
        if "speed" in self.perturbations.conditions:
            raise ConfigError(
                "consistency.perturbations.conditions: 'speed' changes the frame count, so "
                "frames of the two views do not correspond; drop it"
            )
        if self.temperature <= 0:
            raise ConfigError(f"consistency.temperature: must be > 0, got {self.temperature}")
        if self.weight < 0:
            raise ConfigError(f"consistency.weight: must be >= 0, got {self.weight}")
        if self.layer is not None and self.layer < 0:
            raise ConfigError(f"consistency.layer: must be >= 0 or None, got {self.layer}")


def consistency_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    frame_lengths: torch.Tensor,
    distance: str = "cosine",
    temperature: float = 0.1,
) -> torch.Tensor:
    """Mean distance between matching valid frames of two (B, T, D) views; () tensor.

    ``z1`` is the target (pass it detached for a stop-gradient); see the module docstring.
    """
    if distance == "contrastive":
        return _info_nce(z1, z2, frame_lengths, temperature)
    T = z1.shape[1]
    valid = torch.arange(T, device=z1.device)[None, :] < frame_lengths.to(z1.device)[:, None]
    a, b = z1[valid].float(), z2[valid].float()  # (N, D)
    if a.shape[0] == 0:
        return z2.sum() * 0.0
    if distance == "cosine":
        return (1.0 - F.cosine_similarity(a, b, dim=-1)).mean()
    return (a - b).pow(2).sum(-1).mean() / a.shape[1]


def _info_nce(
    z1: torch.Tensor, z2: torch.Tensor, frame_lengths: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Frame t of view 2 must pick frame t of view 1 among the utterance's frames."""
    total, count = z2.sum() * 0.0, 0
    for b, n in enumerate(frame_lengths.tolist()):
        if n < 2:
            continue
        a = F.normalize(z1[b, :n].float(), dim=-1)  # (T, D)
        p = F.normalize(z2[b, :n].float(), dim=-1)
        logits = p @ a.T / temperature  # (T, T)
        target = torch.arange(n, device=logits.device)
        total = total + F.cross_entropy(logits, target, reduction="sum")
        count += n
    return total / max(count, 1)


class _Wrapper(SSLTask):
    """Shares the base task's encoder, required fields, updates and state dict."""

    def __init__(self, base: SSLTask) -> None:
        super().__init__()
        self.base = base
        self.required_fields = base.required_fields  # type: ignore[misc]

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.base.encoder

    def on_update(self, num_updates: int) -> None:
        self.base.on_update(num_updates)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.base.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        return self.base.load_state_dict(state_dict, strict=strict, assign=assign)


class AugmentedTask(_Wrapper):
    """``base(augment_batch(batch, cfg, None))``: perturbation as augmentation."""

    def __init__(self, base: SSLTask, cfg: AugmentConfig) -> None:
        super().__init__(base)
        cfg.validate()
        self.cfg = cfg

    def forward(self, batch: Batch) -> TaskOutput:
        batch = augment_batch(batch, self.cfg, None)
        out = self.base(batch)
        rows = batch.extras["augment_condition"]
        fraction = float((rows >= 0).float().mean()) if rows.numel() else 0.0
        return replace(out, logs={**out.logs, "augmented_fraction": fraction})


class ConsistencyTask(_Wrapper):
    """``base`` plus ``weight`` × consistency between clean and perturbed views.

    See the module docstring for the exact protocol.
    """

    def __init__(
        self,
        base: SSLTask,
        perturbations: AugmentConfig | Perturbation,
        weight: float = 1.0,
        layer: int | None = None,
        distance: Literal["cosine", "l2", "contrastive"] = "cosine",
        stop_gradient: bool = True,
        temperature: float = 0.1,
    ) -> None:
        super().__init__(base)
        if isinstance(perturbations, AugmentConfig):
            ConsistencyConfig(
                perturbations=perturbations,
                weight=weight,
                layer=layer,
                distance=distance,
                temperature=temperature,
            ).validate()
        num_layers = getattr(base.encoder, "num_layers", None)
        if layer is not None and num_layers is not None and layer > num_layers:
            raise ConfigError(f"consistency.layer: {layer} exceeds the encoder's {num_layers}")
        self.perturbations = perturbations
        self.weight, self.layer = weight, layer
        self.distance, self.stop_gradient = distance, stop_gradient
        self.temperature = temperature
        self._slots: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        self._armed = False
        base.encoder.register_forward_pre_hook(self._pre_hook, with_kwargs=True)
        base.encoder.register_forward_hook(self._hook, with_kwargs=True)

    def _pre_hook(self, module: nn.Module, args: Any, kwargs: dict[str, Any]) -> Any:
        if not self._armed or self.layer is None:
            return None
        return args, {**kwargs, "layers": (self.layer,)}  # expose the compared state

    def _hook(self, module: nn.Module, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        if not self._armed or self._slots:
            return
        mask = kwargs.get("mask", args[2] if len(args) > 2 else None)
        z = out.hidden if self.layer is None else out.layer_states[-1]
        self._slots.append((z, out.frame_lengths, mask))

    def _view2(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.perturbations
        if isinstance(p, AugmentConfig):
            v2 = augment_batch(batch, replace(p, probability=1.0), None)
            wavs, lengths = v2.wavs, v2.lengths
        else:
            wavs, lengths, _ = p(batch.wavs, batch.lengths, None)
        if not torch.equal(lengths.to(batch.lengths.device), batch.lengths):
            raise EsslError(
                "consistency: the perturbation changed utterance lengths (speed?); the two "
                "views' frames must correspond, use length-preserving perturbations"
            )
        if wavs.shape[1] != batch.wavs.shape[1]:
            wavs = F.pad(wavs, (0, batch.wavs.shape[1] - wavs.shape[1]))
        return wavs, lengths

    def forward(self, batch: Batch) -> TaskOutput:
        self._slots, self._armed = [], True
        try:
            out = self.base(batch)
        finally:
            self._armed = False
        if not self._slots:
            raise EsslError(
                f"consistency: {type(self.base).__name__} never called its encoder; "
                "ConsistencyTask needs a task whose forward runs base.encoder"
            )
        z1, frames, mask = self._slots[0]
        wavs, lengths = self._view2(batch)
        layers = () if self.layer is None else (self.layer,)
        out2 = self.base.encoder(wavs, lengths, mask=mask, layers=layers)
        z2 = out2.hidden if self.layer is None else out2.layer_states[-1]
        target = z1.detach() if self.stop_gradient else z1
        cons = consistency_loss(target, z2, frames, self.distance, self.temperature)
        loss = out.loss + self.weight * cons
        logs = {
            **out.logs,
            "consistency": float(cons.detach()),
            "base_loss": float(out.loss.detach()),
            "loss": float(loss.detach()),
        }
        return replace(out, loss=loss, logs=logs)


def regularise(
    task: SSLTask,
    consistency: ConsistencyConfig | None = None,
    augment: AugmentConfig | None = None,
) -> SSLTask:
    """Wrap ``task``: augmentation first (outer), then consistency (inner); None skips one.

    With both, view 1 is the augmented batch and view 2 a further perturbed copy of it.
    """
    if consistency is not None:
        consistency.validate()
        task = ConsistencyTask(
            task,
            consistency.perturbations,
            consistency.weight,
            consistency.layer,
            consistency.distance,
            consistency.stop_gradient,
            consistency.temperature,
        )
    if augment is not None:
        task = AugmentedTask(task, augment)
    return task
