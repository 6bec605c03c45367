"""SSL objectives: tasks the trainer calls, their configs, and the pure losses they use."""

from essl.objectives.base import SSLTask, TaskOutput
from essl.objectives.best_rq import BestRQTask, RandomProjectionQuantizer, stacked_log_mel
from essl.objectives.config import (
    BestRQLossConfig,
    Data2VecLossConfig,
    HubertLossConfig,
    ObjectiveConfig,
    Wav2Vec2LossConfig,
    WavLMConfig,
)
from essl.objectives.data2vec import Data2VecTask, instance_norm_frames, regression_loss
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
from essl.objectives.wavlm import WavLMTask, mix_utterances

__all__ = [
    "BestRQLossConfig",
    "BestRQTask",
    "ContrastiveLoss",
    "Data2VecLossConfig",
    "Data2VecTask",
    "HubertLossConfig",
    "HubertTask",
    "MaskedPredictionLoss",
    "ObjectiveConfig",
    "RandomProjectionQuantizer",
    "SSLTask",
    "TaskOutput",
    "Wav2Vec2Loss",
    "Wav2Vec2LossConfig",
    "Wav2Vec2Task",
    "WavLMConfig",
    "WavLMTask",
    "align_labels",
    "build_task",
    "contrastive_loss",
    "instance_norm_frames",
    "masked_prediction_loss",
    "mix_utterances",
    "regression_loss",
    "sample_negatives",
    "stacked_log_mel",
    "wav2vec2_loss",
]
