"""Pretraining: config, the loop, schedules, checkpoints, DDP and SLURM.

::

    from essl.training import load_config, pretrain

    cfg = load_config("wav2vec2-tiny", ["train.max_steps=100"])
    result = pretrain(cfg, "runs/w2v", "corpus/manifest.jsonl")

See :mod:`essl.training.trainer` for the loop, :mod:`essl.training.step` for loss weighting
under accumulation and DDP, and :mod:`essl.training.checkpoint` for the checkpoint format.
"""

from essl.training.checkpoint import (
    Checkpoint,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from essl.training.config import (
    DataConfig,
    OptimConfig,
    PretrainConfig,
    TrainConfig,
    resolved_dict,
)
from essl.training.presets import list_presets, load_config
from essl.training.schedule import lr_at
from essl.training.slurm import SlurmConfig
from essl.training.step import StepResult, train_step
from essl.training.trainer import TrainingDiverged, TrainResult, pretrain, select_device

__all__ = [
    "Checkpoint",
    "DataConfig",
    "OptimConfig",
    "PretrainConfig",
    "SlurmConfig",
    "StepResult",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "latest_checkpoint",
    "list_presets",
    "load_checkpoint",
    "load_config",
    "lr_at",
    "pretrain",
    "prune_checkpoints",
    "resolved_dict",
    "save_checkpoint",
    "select_device",
    "train_step",
]
