"""SSL objectives: tasks the trainer calls, their configs, and the pure losses they use."""

from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.config import HubertLossConfig, ObjectiveConfig, Wav2Vec2LossConfig
from essl.objectives.factory import build_task
from essl.objectives.hubert import HubertTask, align_labels
from essl.objectives.losses import (
    ContrastiveLoss,
    MaskedPredictionLoss,
    Wav2Vec2Loss,
    contrastive_loss,
    masked_prediction_loss,
    sample_negatives,
    wav2vec2_loss,
)
from essl.objectives.wav2vec2 import Wav2Vec2Task

__all__ = [
    "ContrastiveLoss",
    "HubertLossConfig",
    "HubertTask",
    "MaskedPredictionLoss",
    "ObjectiveConfig",
    "SSLTask",
    "TaskOutput",
    "Wav2Vec2Loss",
    "Wav2Vec2LossConfig",
    "Wav2Vec2Task",
    "align_labels",
    "build_task",
    "contrastive_loss",
    "masked_prediction_loss",
    "sample_negatives",
    "wav2vec2_loss",
]
