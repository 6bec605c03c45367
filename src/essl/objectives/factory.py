"""Assemble an SSL task from the model, masking and objective configs."""

from __future__ import annotations

from essl.masking import MaskingConfig, build_masker
from essl.models.config import EncoderConfig
from essl.models.encoder import Encoder
from essl.objectives.base import SSLTask
from essl.objectives.best_rq import BestRQTask
from essl.objectives.config import ObjectiveConfig
from essl.objectives.data2vec import Data2VecTask
from essl.objectives.hubert import HubertTask
from essl.objectives.multitask import build_multitask
from essl.objectives.wav2vec2 import Wav2Vec2Task
from essl.objectives.wavlm import WavLMTask

__all__ = ["build_task"]


def build_task(model: EncoderConfig, masking: MaskingConfig, objective: ObjectiveConfig) -> SSLTask:
    """A fresh :class:`SSLTask` (encoder, masker and heads) for ``objective.name``."""
    objective.validate()
    encoder = Encoder(model)
    masker = build_masker(masking)
    task: SSLTask
    if objective.name == "hubert":
        task = HubertTask(encoder, masker, objective.hubert)
    elif objective.name == "wavlm":
        task = WavLMTask(encoder, masker, objective.hubert, objective.wavlm)
    elif objective.name == "best_rq":
        task = BestRQTask(encoder, masker, objective.best_rq)
    elif objective.name == "data2vec":
        task = Data2VecTask(encoder, masker, objective.data2vec)
    else:
        task = Wav2Vec2Task(encoder, masker, objective.wav2vec2)
    return build_multitask(task, objective.multitask)
