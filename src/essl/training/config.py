"""The pretraining config: one typed section per component, plus optimizer and loop settings.

A config file (YAML) only sets fields; unset fields keep their defaults. The ``model``
section may name an encoder preset (``model: {preset: tiny, dropout: 0.0}``): the preset's
fields are the starting point and the other keys override them. The resolved config
(``config.json`` in the run directory) always lists every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from essl.config import to_dict
from essl.data.loading import LoaderConfig
from essl.errors import ConfigError
from essl.masking import MaskingConfig
from essl.metering import MeterConfig
from essl.models import EncoderConfig
from essl.objectives import ObjectiveConfig
from essl.objectives.consistency import ConsistencyConfig
from essl.perturb.augment import AugmentConfig
from essl.training.periodic_eval import PeriodicEvalConfig

__all__ = [
    "DataConfig",
    "OptimConfig",
    "PretrainConfig",
    "RegularisationConfig",
    "TrainConfig",
    "resolved_dict",
]


@dataclass(kw_only=True)
class DataConfig(LoaderConfig):
    """The loader's settings plus manifest-independent data inputs."""

    labels: str | None = None
    """Frame labels file (``essl targets``), required by objectives that predict labels
    (HuBERT); relative paths are resolved against the working directory."""
    split: str | None = None
    """Train on the manifest entries of this split only (None = every entry)."""
    boundaries: str | None = None
    """Boundary times file (``essl boundaries detect``) for segment masks; None uses
    ``boundaries.jsonl`` next to the manifest when ``masking.name`` is ``segment``."""


@dataclass(kw_only=True)
class RegularisationConfig:
    """Robustness regularisation added around any objective (both off by default)."""

    consistency: ConsistencyConfig | None = None
    """Clean/perturbed consistency term between two views of each utterance."""
    augment: AugmentConfig | None = None
    """Perturbation-as-augmentation of the training audio."""

    def validate(self) -> None:
        for part in (self.consistency, self.augment):
            validate = getattr(part, "validate", None)
            if callable(validate):
                validate()


@dataclass(kw_only=True)
class OptimConfig:
    """AdamW (Loshchilov & Hutter 2019) with a warm-up + decay schedule; defaults = base recipes."""

    lr: float = 5e-4
    """Peak learning rate."""
    betas: tuple[float, float] = (0.9, 0.98)
    """Adam β1, β2."""
    eps: float = 1e-6
    """Adam ε."""
    weight_decay: float = 0.01
    """Decoupled weight decay (all parameters)."""
    grad_clip: float = 0.0
    """Clip the global gradient L2 norm to this value; 0 disables clipping."""
    accumulation: int = 1
    """Micro-batches per update on each rank (see the trainer's loss weighting)."""
    schedule: Literal["polynomial", "tri_stage", "cosine"] = "polynomial"
    """Learning-rate decay after warm-up (see :mod:`essl.training.schedule`)."""
    warmup_steps: int = 32000
    """Linear warm-up updates (polynomial and cosine)."""
    total_steps: int = 400000
    """Updates over which the schedule runs (train.max_steps may stop earlier)."""
    power: float = 1.0
    """Exponent of the polynomial decay (1 = linear)."""
    end_lr_scale: float = 0.0
    """Final lr as a fraction of the peak (tri_stage needs > 0)."""
    init_lr_scale: float = 0.01
    """tri_stage: starting lr as a fraction of the peak."""
    tri_stage_ratios: tuple[float, float, float] = (0.1, 0.4, 0.5)
    """tri_stage: fractions of total_steps spent warming up, holding and decaying."""

    def validate(self) -> None:
        if self.lr <= 0 or self.eps <= 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("optim: lr and eps must be > 0; weight_decay and grad_clip >= 0")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"optim.betas: {self.betas} must both be in [0, 1)")
        if self.accumulation < 1:
            raise ConfigError("optim.accumulation: must be >= 1 (1 = no accumulation)")
        if self.total_steps < 1 or not 0 <= self.warmup_steps <= self.total_steps:
            raise ConfigError(
                f"optim.warmup_steps: {self.warmup_steps} must be in [0, total_steps="
                f"{self.total_steps}]; lower it or raise optim.total_steps"
            )
        if not 0 <= self.end_lr_scale <= 1 or self.power <= 0:
            raise ConfigError("optim.end_lr_scale must be in [0, 1] and optim.power > 0")
        if self.schedule == "tri_stage":
            if not (0 < self.end_lr_scale <= 1 and 0 < self.init_lr_scale <= 1):
                raise ConfigError(
                    "optim: tri_stage needs end_lr_scale and init_lr_scale in (0, 1], e.g. 0.05"
                )
            if min(self.tri_stage_ratios) < 0 or abs(sum(self.tri_stage_ratios) - 1) > 1e-6:
                raise ConfigError(
                    f"optim.tri_stage_ratios: {self.tri_stage_ratios} must be >= 0 and sum to 1"
                )


@dataclass(kw_only=True)
class TrainConfig:
    """The training loop."""

    max_steps: int = 400000
    """Optimizer updates to run (may be raised to extend a finished run)."""
    seed: int = 0
    """Seeds the model init, masks, dropout and data order."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16 runs the forward pass under autocast (CPU and CUDA); weights stay fp32."""
    compile: bool = False
    """Wrap the task's forward in torch.compile."""
    log_every: int = 10
    """Refresh the progress bar and TensorBoard every N updates (metrics.jsonl gets all)."""
    checkpoint_every: int = 1000
    """Save a checkpoint every N updates (and at the end)."""
    keep_last: int = 2
    """Checkpoints to keep (0 keeps all)."""
    nan_tolerance: int = 10
    """Consecutive non-finite updates (skipped) before the run stops with an error."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """"auto" uses CUDA when available, else the CPU."""
    threads: int = 0
    """CPU threads for torch (0 = torch's default); part of the result on CPU."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms (bitwise reproducible CUDA runs, slower)."""

    def validate(self) -> None:
        for name in ("max_steps", "log_every", "checkpoint_every", "nan_tolerance"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}: must be a positive integer")
        if self.keep_last < 0 or self.threads < 0 or self.seed < 0:
            raise ConfigError("train.keep_last, train.threads and train.seed must be >= 0")


@dataclass(kw_only=True)
class PretrainConfig:
    """Everything ``essl pretrain`` needs besides the manifest and the run directory."""

    model: EncoderConfig = field(default_factory=EncoderConfig)
    """The encoder."""
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    """Time masking."""
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    """The SSL objective and its loss settings."""
    data: DataConfig = field(default_factory=DataConfig)
    """Batching, cropping and labels."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and learning-rate schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The loop: steps, precision, checkpoints, device."""
    metering: MeterConfig = field(default_factory=MeterConfig)
    """Efficiency markers measured at every step (FLOPs, memory, data, time, energy)."""
    regularisation: RegularisationConfig = field(default_factory=RegularisationConfig)
    """Robustness regularisation (consistency term, augmentation)."""
    evaluation: PeriodicEvalConfig = field(default_factory=PeriodicEvalConfig)
    """Scores appended to ``RUN_DIR/eval.jsonl`` during training (efficiency curves)."""

    def validate(self) -> None:
        for section in (
            self.model,
            self.masking,
            self.objective,
            self.data,
            self.optim,
            self.metering,
            self.regularisation,
            self.evaluation,
        ):
            section.validate()
        self.train.validate()


def resolved_dict(cfg: PretrainConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON values, every field listed (what ``config.json`` holds).

    It loads back with :func:`essl.config.from_dict` (``essl pretrain RUN_DIR/config.json``).
    """
    data: dict[str, Any] = to_dict(cfg)
    return data
