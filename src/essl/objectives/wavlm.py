"""WavLM pretraining (Chen et al. 2022, §3): masked speech denoising and prediction.

Utterance mixing (§3.1): in training, each utterance is, with probability ``mix_prob``,
overlaid on a random span of at most ``max_mix_fraction`` of its length with either a crop
of another utterance of the batch at a primary/secondary energy ratio drawn in U(−5, 5) dB,
or with noise at U(−5, 20) dB (colored noise 1/f^β from :mod:`essl.perturb.noise` when no
noise corpus is given). The targets stay those of the CLEAN primary utterance
(``batch.labels``, HuBERT-style masked prediction with ``objective.hubert``'s settings), so
the model learns to denoise and to ignore the overlapped speaker. Draws use the torch RNG
(or a given generator), so a seeded run is deterministic. The encoder's gated relative
position bias (``model.relative_position: wavlm``, §3.2) is an encoder option.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from essl.data.batch import Batch
from essl.masking.base import Masker
from essl.models.encoder import Encoder
from essl.objectives.base import TaskOutput
from essl.objectives.config import HubertLossConfig, WavLMConfig
from essl.objectives.hubert import HubertTask

__all__ = ["WavLMTask", "mix_utterances"]


def _uniform(bounds: tuple[float, float], generator: torch.Generator | None) -> float:
    lo, hi = bounds
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _overlay(
    wavs: torch.Tensor,
    lengths: torch.Tensor,
    i: int,
    cfg: WavLMConfig,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, int, float] | None:
    """(source (n,), start, snr dB) of one overlay on row ``i``, or None (nothing to mix)."""
    from essl.perturb.noise import colored_noise

    n_i = int(lengths[i])
    longest = int(n_i * cfg.max_mix_fraction)
    if longest < 1:
        return None
    n = 1 + int(torch.randint(longest, (), generator=generator))
    others = [j for j in range(wavs.shape[0]) if j != i and int(lengths[j]) > 0]
    use_noise = not others or float(torch.rand((), generator=generator)) < cfg.noise_prob
    if use_noise:
        beta = _uniform(cfg.noise_exponent, generator)
        src = colored_noise(1, n, beta, generator=generator, device=wavs.device)[0]
        snr = _uniform(cfg.noise_snr, generator)
    else:
        j = others[int(torch.randint(len(others), (), generator=generator))]
        n = min(n, int(lengths[j]))
        s0 = int(torch.randint(int(lengths[j]) - n + 1, (), generator=generator))
        src = wavs[j, s0 : s0 + n]
        snr = _uniform(cfg.utterance_snr, generator)
    start = int(torch.randint(n_i - n + 1, (), generator=generator))
    return src, start, snr


def mix_utterances(
    wavs: torch.Tensor,
    lengths: torch.Tensor,
    cfg: WavLMConfig,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """WavLM utterance mixing (§3.1) of a padded batch.

    Args:
        wavs: (B, S) clean waveforms; lengths: (B,) valid samples.
        generator: CPU RNG; None uses torch's default generator.

    Returns:
        (B, S) mixed waveforms (padding stays zero; sources are the CLEAN rows) and (B,)
        bool, True where a row got an overlay.
    """
    out = wavs.clone()
    mixed = torch.zeros(wavs.shape[0], dtype=torch.bool)
    draws = torch.rand(wavs.shape[0], generator=generator)
    for i in range(wavs.shape[0]):
        if float(draws[i]) >= cfg.mix_prob:
            continue
        got = _overlay(wavs, lengths, i, cfg, generator)
        if got is None:
            continue
        src, start, snr = got
        primary = wavs[i, : int(lengths[i])].float().pow(2).mean()
        energy = src.float().pow(2).mean().clamp(min=1e-10)
        scale = torch.sqrt(primary / (energy * 10 ** (snr / 10)))
        out[i, start : start + src.shape[0]] += (scale * src).to(wavs.dtype)
        mixed[i] = True
    return out, mixed.to(wavs.device)


class WavLMTask(HubertTask):
    """HuBERT-style masked prediction of the clean primary's labels from mixed audio."""

    def __init__(
        self, encoder: Encoder, masker: Masker, cfg: HubertLossConfig, mixing: WavLMConfig
    ) -> None:
        super().__init__(encoder, masker, cfg)
        mixing.validate()
        self.mixing = mixing

    def forward(self, batch: Batch, mask: torch.Tensor | None = None) -> TaskOutput:
        """Loss on ``batch`` (mixed in training mode only); ``mask`` overrides the masker."""
        mixed_rows = 0
        if self.training and self.mixing.mix_prob > 0:
            wavs, rows = mix_utterances(batch.wavs, batch.lengths, self.mixing)
            batch, mixed_rows = replace(batch, wavs=wavs), int(rows.sum())
        out = super().forward(batch, mask)
        out.logs["mixed_fraction"] = mixed_rows / max(batch.wavs.shape[0], 1)
        return out
