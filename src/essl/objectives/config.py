"""Configs of the SSL objectives: which one, and each one's loss settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from essl.errors import ConfigError
from essl.objectives.multitask import MultitaskConfig

__all__ = ["HubertLossConfig", "ObjectiveConfig", "Wav2Vec2LossConfig"]


@dataclass(kw_only=True)
class Wav2Vec2LossConfig:
    """wav2vec 2.0 contrastive task (Baevski et al. 2020, §2-3); defaults = base."""

    num_groups: int = 2
    """G, codebook groups of the Gumbel quantizer."""
    num_vars: int = 320
    """V, entries per codebook group."""
    codevector_dim: int = 256
    """Width of a quantized vector (G codewords of codevector_dim / G concatenated)."""
    final_dim: int = 256
    """Width of the space where context and quantized targets are compared."""
    num_negatives: int = 100
    """K, distractors per masked frame, from other masked frames of the same utterance."""
    logit_temp: float = 0.1
    """κ, temperature of the cosine-similarity logits."""
    diversity_weight: float = 0.1
    """α, weight of the codebook diversity loss (G·V − perplexity) / (G·V)."""
    feature_penalty_weight: float = 10.0
    """Weight of the mean squared conv features (L2 penalty)."""
    max_temp: float = 2.0
    """Gumbel softmax temperature at update 0."""
    min_temp: float = 0.5
    """Temperature floor."""
    temp_decay: float = 0.999995
    """Temperature multiplier per update: max(max_temp · decay^updates, min_temp)."""

    def validate(self) -> None:
        for name in ("num_groups", "num_vars", "codevector_dim", "final_dim", "num_negatives"):
            if getattr(self, name) < 1:
                raise ConfigError(f"objective.wav2vec2.{name}: must be a positive integer")
        if self.codevector_dim % self.num_groups:
            raise ConfigError(
                f"objective.wav2vec2.codevector_dim: {self.codevector_dim} is not divisible by "
                f"num_groups={self.num_groups}"
            )
        if self.logit_temp <= 0 or self.min_temp <= 0 or self.max_temp < self.min_temp:
            raise ConfigError(
                "objective.wav2vec2: logit_temp and min_temp must be > 0 and max_temp >= min_temp"
            )
        if not 0 < self.temp_decay <= 1:
            raise ConfigError("objective.wav2vec2.temp_decay: must be in (0, 1]")
        if self.diversity_weight < 0 or self.feature_penalty_weight < 0:
            raise ConfigError("objective.wav2vec2: loss weights must be >= 0")


@dataclass(kw_only=True)
class HubertLossConfig:
    """HuBERT masked prediction of frame labels (Hsu et al. 2021, §II); defaults = base."""

    num_classes: int = 0
    """Number of target classes (e.g. k-means clusters: 100 for iteration 1, 500 later);
    0 = not set yet (required when the objective is "hubert")."""
    final_dim: int = 256
    """Width of the projection compared with the label embeddings."""
    logit_temp: float = 0.1
    """τ, temperature of the cosine-similarity logits."""
    unmasked_weight: float = 0.0
    """Weight of the loss on unmasked frames (α = 1 − this in §II-B; 0 = masked only)."""
    masked_weight: float = 1.0
    """Weight of the loss on masked frames."""
    feature_penalty_weight: float = 10.0
    """Weight of the mean squared conv features (as in fairseq's HuBERT criterion)."""

    def validate(self) -> None:
        if self.num_classes < 0:
            raise ConfigError("objective.hubert.num_classes: must be >= 0 (0 = not set yet)")
        if self.final_dim < 1 or self.logit_temp <= 0:
            raise ConfigError("objective.hubert: final_dim must be >= 1 and logit_temp > 0")
        if min(self.unmasked_weight, self.masked_weight, self.feature_penalty_weight) < 0:
            raise ConfigError("objective.hubert: loss weights must be >= 0")

    def require_classes(self) -> None:
        """Raise unless ``num_classes`` is set (a HuBERT task needs it)."""
        if self.num_classes < 1:
            raise ConfigError(
                "objective.hubert.num_classes: must be set to the number of label classes "
                "(e.g. objective.hubert.num_classes=100 for k-means with 100 clusters)"
            )


@dataclass(kw_only=True)
class ObjectiveConfig:
    """Which SSL objective to train, with one sub-config per objective."""

    name: Literal["wav2vec2", "hubert"] = "wav2vec2"
    """The objective."""
    wav2vec2: Wav2Vec2LossConfig = field(default_factory=Wav2Vec2LossConfig)
    """Settings of "wav2vec2"."""
    hubert: HubertLossConfig = field(default_factory=HubertLossConfig)
    """Settings of "hubert" (num_classes is required)."""
    multitask: MultitaskConfig = field(default_factory=MultitaskConfig)
    """Signal pretext targets added to the objective (none by default)."""

    def validate(self) -> None:
        self.wav2vec2.validate()
        self.hubert.validate()
        if self.name == "hubert":
            self.hubert.require_classes()
        elif self.name != "wav2vec2":
            raise ConfigError(f"objective.name: {self.name!r} is unknown; valid: wav2vec2, hubert")
