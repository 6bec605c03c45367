"""Additive noise at a target SNR: coloured (white, pink, brown) noise and babble.

Coloured noise is generated spectrally: a seeded complex Gaussian spectrum is shaped to a
power spectral density proportional to ``1 / f**exponent`` (white 0, pink 1, brown 2;
i.e. -10·exponent dB per decade) and inverted with an inverse real FFT.

Babble is the sum of other talkers: other utterances of the batch, or waveforms from a
provided list (e.g. corpus speakers), each randomly offset, looped to the target length
and normalised to equal power before summing (cf. the babble of Krishnamurthy & Hansen,
"Babble noise: modeling, analysis, and applications", IEEE TASLP 2009).

The SNR is measured on valid samples only, and the noise is added only to them; the
realised SNR (in dB) is recorded per utterance (``None`` for a silent or empty row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch

from essl.errors import AudioError, ConfigError
from essl.perturb.base import Perturbation, Perturbed, Record, check_batch, valid_mask

__all__ = ["NOISE_EXPONENTS", "AdditiveNoise", "Babble", "add_at_snr", "colored_noise"]

NoiseColor = Literal["white", "pink", "brown"]
NOISE_EXPONENTS: dict[str, float] = {"white": 0.0, "pink": 1.0, "brown": 2.0}
"""Exponent ``a`` of the noise PSD ``∝ 1 / f**a`` per colour."""


def colored_noise(
    batch: int,
    num_samples: int,
    exponent: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(B, S) unit-variance noise with PSD ∝ ``1 / f**exponent`` (no DC), drawn spectrally.

    The random spectrum is drawn on the CPU from ``generator`` (so results do not depend
    on ``device``), then shaped and inverted on ``device``.
    """
    if num_samples == 0:
        return torch.zeros(batch, 0, device=device)
    bins = num_samples // 2 + 1
    spec = torch.randn(batch, bins, 2, generator=generator).to(device)
    freqs = torch.fft.rfftfreq(num_samples, device=device)
    amp = torch.zeros_like(freqs)
    amp[1:] = freqs[1:].pow(-exponent / 2)
    x = torch.fft.irfft(torch.view_as_complex(spec) * amp, n=num_samples)
    return x / x.std(dim=1, keepdim=True).clamp_min(1e-12)


def add_at_snr(
    wavs: torch.Tensor, noise: torch.Tensor, lengths: torch.Tensor, snr_db: torch.Tensor
) -> tuple[torch.Tensor, list[float | None]]:
    """Add ``noise`` (B, S) scaled to ``snr_db`` (B,) over valid samples; return realised SNRs.

    Powers are mean squares over the first ``lengths[b]`` samples. A silent or empty row
    gets no noise and a realised SNR of ``None``.
    """
    mask = valid_mask(lengths, wavs.shape[1], wavs.device)
    noise = noise * mask
    n = lengths.clamp_min(1).to(wavs.device, torch.float64)
    p_sig = wavs.double().pow(2).sum(1) / n
    p_noise = noise.double().pow(2).sum(1) / n
    target = p_sig / (10.0 ** (snr_db.to(wavs.device).double() / 10))
    ok = (p_sig > 0) & (p_noise > 0)
    scale = torch.where(ok, (target / p_noise.clamp_min(1e-300)).sqrt(), torch.zeros_like(p_sig))
    added = (noise.double() * scale[:, None]).to(wavs.dtype)
    out = wavs + added
    realised_noise = (out.double() - wavs.double()).pow(2).sum(1) / n
    snrs: list[float | None] = []
    for good, ps, pn in zip(ok.tolist(), p_sig.tolist(), realised_noise.tolist(), strict=True):
        snrs.append(10 * math.log10(ps / pn) if good and pn > 0 else None)
    return out, snrs


def _draw_snr(
    snr_db: float | tuple[float, float], batch: int, generator: torch.Generator | None
) -> torch.Tensor:
    if isinstance(snr_db, tuple):
        lo, hi = snr_db
        return lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=torch.float64)
    return torch.full((batch,), float(snr_db), dtype=torch.float64)


def _check_snr(snr_db: float | tuple[float, float], where: str) -> None:
    if isinstance(snr_db, tuple) and (len(snr_db) != 2 or snr_db[0] > snr_db[1]):
        raise ConfigError(f"{where}.snr_db: a range must be (low, high) with low <= high")
    values = snr_db if isinstance(snr_db, tuple) else (snr_db,)
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{where}.snr_db: must be finite dB values, got {snr_db!r}")


@dataclass(kw_only=True)
class AdditiveNoise(Perturbation):
    """Stationary coloured noise at a target SNR (dB), over valid samples only."""

    name: ClassVar[str] = "noise"
    snr_db: float | tuple[float, float]
    """Target SNR in dB, or a ``(low, high)`` range sampled uniformly per utterance."""
    color: NoiseColor = "white"
    """Noise colour: ``white`` (flat), ``pink`` (-10 dB/decade), ``brown`` (-20 dB/decade)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_snr(self.snr_db, "AdditiveNoise")
        if self.color not in NOISE_EXPONENTS:
            raise ConfigError(
                f"AdditiveNoise.color: {self.color!r} unknown; use one of {list(NOISE_EXPONENTS)}"
            )

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        B, S = wavs.shape
        snr = _draw_snr(self.snr_db, B, generator)
        noise = colored_noise(B, S, NOISE_EXPONENTS[self.color], generator, wavs.device)
        out, realised = add_at_snr(
            wavs * valid_mask(lengths, S, wavs.device), noise.to(wavs.dtype), lengths, snr
        )
        records: list[Record] = [
            {"perturbation": self.name, "color": self.color, "target_snr_db": t, "snr_db": r}
            for t, r in zip(snr.tolist(), realised, strict=True)
        ]
        return Perturbed(out, lengths.clone(), records)


@dataclass(kw_only=True)
class Babble(Perturbation):
    """Babble: the sum of ``num_talkers`` other utterances, added at a target SNR (dB).

    Talkers come from ``sources`` when given (1-D waveforms at the batch's sample rate,
    e.g. utterances of corpus speakers), otherwise from the other rows of the batch.
    """

    name: ClassVar[str] = "babble"
    snr_db: float | tuple[float, float]
    """Target SNR in dB, or a ``(low, high)`` range sampled uniformly per utterance."""
    num_talkers: int = 4
    """Talkers summed per utterance (fewer if fewer are available)."""
    sources: Sequence[torch.Tensor | np.ndarray] | None = field(
        default=None, repr=False, compare=False
    )
    """Optional pool of 1-D talker waveforms; ``None`` draws talkers from the batch."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_snr(self.snr_db, "Babble")
        if self.num_talkers < 1:
            raise ConfigError(f"Babble.num_talkers: must be >= 1, got {self.num_talkers}")
        if self.sources is not None:
            for i, s in enumerate(self.sources):
                if s.ndim != 1 or s.shape[0] == 0:
                    raise ConfigError(
                        f"Babble.sources[{i}]: expected a non-empty 1-D waveform, got shape "
                        f"{tuple(s.shape)}; pass mono waveforms"
                    )

    def _pool(self, wavs: torch.Tensor, lengths: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        if self.sources is not None:
            return [
                (f"source:{i}", torch.as_tensor(s).to(wavs.device, wavs.dtype))
                for i, s in enumerate(self.sources)
            ]
        return [(f"batch:{b}", wavs[b, :n]) for b, n in enumerate(lengths.tolist()) if n > 0]

    def _mix(
        self, b: int, n: int, pool: list[tuple[str, torch.Tensor]], g: torch.Generator | None
    ) -> tuple[torch.Tensor, list[str]]:
        others = [p for p in pool if p[0] != f"batch:{b}"]
        if not others:
            raise AudioError(
                "babble: no other talker for an utterance; use a batch of >= 2 non-empty "
                "utterances or pass Babble(sources=[...])"
            )
        pick = torch.randperm(len(others), generator=g)[: self.num_talkers].tolist()
        offsets = torch.randint(0, 2**31 - 1, (len(pick),), generator=g).tolist()
        mix = torch.zeros(n, dtype=torch.float64, device=pool[0][1].device)
        for i, off in zip(pick, offsets, strict=True):
            talker = others[i][1].double()
            idx = (torch.arange(n, device=talker.device) + off) % talker.shape[0]
            seg = talker[idx]
            mix += seg / seg.pow(2).mean().sqrt().clamp_min(1e-12)
        return mix, [others[i][0] for i in pick]

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        B, S = wavs.shape
        wavs = wavs * valid_mask(lengths, S, wavs.device)
        snr = _draw_snr(self.snr_db, B, generator)
        pool = self._pool(wavs, lengths)
        noise = torch.zeros_like(wavs)
        talkers: list[list[str]] = []
        for b, n in enumerate(lengths.tolist()):
            if n == 0:
                talkers.append([])
                continue
            mix, used = self._mix(b, n, pool, generator)
            noise[b, :n] = mix.to(wavs.dtype)
            talkers.append(used)
        out, realised = add_at_snr(wavs, noise, lengths, snr)
        records: list[Record] = [
            {"perturbation": self.name, "target_snr_db": t, "snr_db": r, "talkers": k}
            for t, r, k in zip(snr.tolist(), realised, talkers, strict=True)
        ]
        return Perturbed(out, lengths.clone(), records)
