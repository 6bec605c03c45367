"""Configs of the SSL objectives: which one, and each one's loss settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from essl.errors import ConfigError
from essl.objectives.multitask import MultitaskConfig

__all__ = [
    "BestRQLossConfig",
    "Data2VecLossConfig",
    "HubertLossConfig",
    "ObjectiveConfig",
    "Wav2Vec2LossConfig",
    "WavLMConfig",
]


@dataclass(kw_only=True)
class Wav2Vec2LossConfig:
    """wav2vec 2.0 contrastive task (Baevski et al. 2020, §2-3); defaults = base."""

    num_groups: int = 2
    """G, codebook groups of the Gumbel quantizer."""
    num_vars: int = 320
    """V, entries per codebook group."""
    codevector_dim: int = 0
    """Width of a quantized vector (G codewords of codevector_dim / G concatenated);
    0 = ``final_dim`` (fairseq's ``latent_dim: 0``: 256 for base, 768 for large LV-60)."""
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
        for name in ("num_groups", "num_vars", "final_dim", "num_negatives"):
            if getattr(self, name) < 1:
                raise ConfigError(f"objective.wav2vec2.{name}: must be a positive integer")
        if self.codevector_dim < 0:
            raise ConfigError("objective.wav2vec2.codevector_dim: must be >= 0 (0 = final_dim)")
        if self.vq_dim % self.num_groups:
            raise ConfigError(
                f"objective.wav2vec2.codevector_dim: {self.vq_dim} is not divisible by "
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

    @property
    def vq_dim(self) -> int:
        """The quantized vectors' width (``codevector_dim``, or ``final_dim`` when 0)."""
        return self.codevector_dim or self.final_dim


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


def _positive(section: str, obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 1:
            raise ConfigError(f"objective.{section}.{name}: must be a positive integer")


@dataclass(kw_only=True)
class BestRQLossConfig:
    """BEST-RQ (Chiu et al. 2022, §2): predict the codes of a frozen random-projection
    quantizer of stacked log-Mel frames at masked frames; defaults = the paper's."""

    num_codebooks: int = 1
    """Independent random quantizers, each with its own softmax head (§2: multi-codebook)."""
    codebook_size: int = 8192
    """Codewords per codebook."""
    codebook_dim: int = 16
    """Width of the projected space where the nearest codeword is found."""
    num_mel_bins: int = 80
    """Log-Mel filters (25 ms windows, 100 Hz)."""
    stack_frames: int = 2
    """Consecutive log-Mel frames stacked into one target frame (2 → 50 Hz, the encoder's
    rate; the paper stacks 4 for its 40 ms Conformer frames)."""
    noise_std: float = 0.1
    """Std of the N(0, σ²) noise that replaces masked frames (§2.2; here on the projected
    features instead of the learned mask embedding)."""
    feature_penalty_weight: float = 0.0
    """Weight of the mean squared conv features (0: BEST-RQ has no such term)."""

    def validate(self) -> None:
        _positive("best_rq", self, "num_codebooks", "codebook_size", "codebook_dim")
        _positive("best_rq", self, "num_mel_bins", "stack_frames")
        if self.noise_std < 0 or self.feature_penalty_weight < 0:
            raise ConfigError(
                "objective.best_rq: noise_std and feature_penalty_weight must be >= 0"
            )


@dataclass(kw_only=True)
class WavLMConfig:
    """WavLM utterance mixing (Chen et al. 2022, §3.1); the prediction loss uses
    ``objective.hubert``'s settings and the CLEAN primary utterance's labels."""

    mix_prob: float = 0.2
    """Fraction of utterances that get an overlay."""
    max_mix_fraction: float = 0.5
    """Longest overlay as a fraction of the primary utterance (the primary stays dominant)."""
    noise_prob: float = 0.5
    """Fraction of overlays that are noise instead of another utterance of the batch."""
    utterance_snr: tuple[float, float] = (-5.0, 5.0)
    """Energy ratio primary / overlaid utterance in dB, drawn uniformly."""
    noise_snr: tuple[float, float] = (-5.0, 20.0)
    """Energy ratio primary / noise in dB, drawn uniformly."""
    noise_exponent: tuple[float, float] = (0.0, 2.0)
    """Colored noise 1/f^β with β uniform in this range (white to brown), when no noise
    corpus is given (essl.perturb.noise.colored_noise)."""

    def validate(self) -> None:
        for name in ("mix_prob", "noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"objective.wavlm.{name}: must be in [0, 1], e.g. 0.2")
        if not 0.0 < self.max_mix_fraction <= 1.0:
            raise ConfigError("objective.wavlm.max_mix_fraction: must be in (0, 1], e.g. 0.5")
        for name in ("utterance_snr", "noise_snr", "noise_exponent"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"objective.wavlm.{name}: ({lo}, {hi}) needs low <= high")


@dataclass(kw_only=True)
class Data2VecLossConfig:
    """data2vec (Baevski et al. 2022, §3): regress the average of the EMA teacher's top-K
    instance-normalised layer outputs at masked frames; defaults = audio base."""

    top_k: int = 8
    """K, the teacher's last layers averaged into the target (8 for base)."""
    ema_start: float = 0.999
    """τ at update 0."""
    ema_end: float = 0.9999
    """τ after ``ema_anneal_updates`` (constant afterwards)."""
    ema_anneal_updates: int = 30000
    """Updates over which τ rises linearly from ``ema_start`` to ``ema_end``."""
    loss: Literal["l2", "smooth_l1"] = "l2"
    """"l2" (fairseq audio base, ``loss_beta: 0``) or "smooth_l1" (§3.3, β below)."""
    smooth_l1_beta: float = 0.25
    """β of the smooth L1 loss."""
    ema_transformer_only: bool = True
    """Only the Transformer is averaged; the teacher reuses the student's conv front end
    and projection (fairseq ``ema_transformer_only``)."""
    feature_penalty_weight: float = 0.0
    """Weight of the mean squared conv features."""

    def validate(self) -> None:
        _positive("data2vec", self, "top_k")
        if not 0.0 <= self.ema_start <= self.ema_end <= 1.0:
            raise ConfigError("objective.data2vec: need 0 <= ema_start <= ema_end <= 1")
        if self.ema_anneal_updates < 0:
            raise ConfigError("objective.data2vec.ema_anneal_updates: must be >= 0")
        if self.loss not in ("l2", "smooth_l1"):
            raise ConfigError(f"objective.data2vec.loss: {self.loss!r} is not 'l2' or 'smooth_l1'")
        if self.smooth_l1_beta <= 0 or self.feature_penalty_weight < 0:
            raise ConfigError("objective.data2vec: smooth_l1_beta must be > 0, weights >= 0")

    def tau(self, num_updates: int) -> float:
        """EMA decay after ``num_updates`` updates (linear anneal, then constant)."""
        if num_updates >= self.ema_anneal_updates:
            return self.ema_end
        frac = num_updates / self.ema_anneal_updates
        return self.ema_start + (self.ema_end - self.ema_start) * frac


@dataclass(kw_only=True)
class ObjectiveConfig:
    """Which SSL objective to train, with one sub-config per objective."""

    name: Literal["wav2vec2", "hubert", "best_rq", "wavlm", "data2vec"] = "wav2vec2"
    """The objective ("wavlm" = HuBERT-style prediction with ``hubert``'s settings plus
    utterance mixing with ``wavlm``'s)."""
    wav2vec2: Wav2Vec2LossConfig = field(default_factory=Wav2Vec2LossConfig)
    """Settings of "wav2vec2"."""
    hubert: HubertLossConfig = field(default_factory=HubertLossConfig)
    """Settings of "hubert" and "wavlm" (num_classes is required)."""
    best_rq: BestRQLossConfig = field(default_factory=BestRQLossConfig)
    """Settings of "best_rq"."""
    wavlm: WavLMConfig = field(default_factory=WavLMConfig)
    """Utterance-mixing settings of "wavlm"."""
    data2vec: Data2VecLossConfig = field(default_factory=Data2VecLossConfig)
    """Settings of "data2vec"."""
    multitask: MultitaskConfig = field(default_factory=MultitaskConfig)
    """Signal pretext targets added to the objective (none by default)."""

    def validate(self) -> None:
        self.wav2vec2.validate()
        self.hubert.validate()
        self.best_rq.validate()
        self.wavlm.validate()
        self.data2vec.validate()
        if self.name in ("hubert", "wavlm"):
            self.hubert.require_classes()
        elif self.name not in ("wav2vec2", "best_rq", "data2vec"):
            raise ConfigError(
                f"objective.name: {self.name!r} is unknown; valid: wav2vec2, hubert, best_rq, "
                "wavlm, data2vec"
            )
