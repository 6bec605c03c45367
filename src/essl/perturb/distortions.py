"""Level and time-domain distortions: clipping, gain, speed change, packet loss."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import soxr
import torch

from essl.errors import ConfigError
from essl.perturb.base import Perturbation, Perturbed, Record, check_batch, map_valid, valid_mask

__all__ = ["Clipping", "Gain", "PacketLoss", "Speed"]


@dataclass(kw_only=True)
class Clipping(Perturbation):
    """Hard clipping at ``fraction`` of each utterance's peak absolute amplitude."""

    name: ClassVar[str] = "clipping"
    fraction: float
    """Clipping threshold as a fraction of the peak (1 leaves the signal unchanged)."""

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"Clipping.fraction: must lie in (0, 1], got {self.fraction}")

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        x = wavs * valid_mask(lengths, wavs.shape[1], wavs.device)
        peak = x.abs().amax(dim=1, keepdim=True) if x.shape[1] else x.new_zeros(x.shape[0], 1)
        thr = peak * self.fraction
        out = torch.maximum(torch.minimum(x, thr), -thr)
        clipped = (x.abs() > thr).sum(1).double() / lengths.clamp_min(1).double().to(x.device)
        records: list[Record] = [
            {
                "perturbation": self.name,
                "fraction": self.fraction,
                "threshold": t,
                "clipped_fraction": c,
            }
            for t, c in zip(thr[:, 0].tolist(), clipped.tolist(), strict=True)
        ]
        return Perturbed(out, lengths.clone(), records)


@dataclass(kw_only=True)
class Gain(Perturbation):
    """Multiply by ``10 ** (gain_db / 20)`` (no clipping: values may exceed [-1, 1])."""

    name: ClassVar[str] = "gain"
    gain_db: float
    """Gain in dB (negative attenuates)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.gain_db) or abs(self.gain_db) > 120:
            raise ConfigError(f"Gain.gain_db: must be finite and within ±120, got {self.gain_db}")

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        out = wavs * valid_mask(lengths, wavs.shape[1], wavs.device) * 10 ** (self.gain_db / 20)
        peaks = out.abs().amax(dim=1).tolist() if out.shape[1] else [0.0] * out.shape[0]
        records: list[Record] = [
            {"perturbation": self.name, "gain_db": self.gain_db, "peak_after": p} for p in peaks
        ]
        return Perturbed(out, lengths.clone(), records)


@dataclass(kw_only=True)
class Speed(Perturbation):
    """Speed change by resampling (tempo and pitch change together, as in Ko et al. 2015).

    A factor above 1 is faster: an utterance of n samples becomes about ``n / factor``
    (soxr, high quality, with its anti-aliasing filter). Lengths change accordingly.
    """

    name: ClassVar[str] = "speed"
    factor: float
    """Speed factor (0.5 to 2); 1.1 plays 10% faster and shortens by 1/1.1."""

    def __post_init__(self) -> None:
        if not 0.5 <= self.factor <= 2.0:
            raise ConfigError(f"Speed.factor: must lie in [0.5, 2], got {self.factor}")

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)

        def row(x: np.ndarray, b: int) -> tuple[np.ndarray, Record]:
            y = soxr.resample(x, self.factor, 1.0, quality="HQ") if x.size else x
            rec: Record = {
                "perturbation": self.name,
                "factor": self.factor,
                "length_in": int(x.size),
                "length_out": int(y.size),
            }
            return y, rec

        return map_valid(wavs, lengths, row)


@dataclass(kw_only=True)
class PacketLoss(Perturbation):
    """Drop fixed-size packets independently with ``probability``; dropped packets are zeros.

    A simple Bernoulli loss model without concealment (cf. the packet-loss conditions of the
    INTERSPEECH 2022 PLC challenge, Diener et al. 2022, which use real traces).
    """

    name: ClassVar[str] = "packet_loss"
    probability: float
    """Probability that a packet is lost."""
    packet_ms: float = 20.0
    """Packet duration (ms)."""
    sample_rate: int = 16000
    """Sample rate of the audio (Hz)."""

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ConfigError(f"PacketLoss.probability: must lie in [0, 1], got {self.probability}")
        if round(self.packet_ms * self.sample_rate / 1000) < 1:
            raise ConfigError("PacketLoss.packet_ms: must span at least one sample")

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        B, S = wavs.shape
        p = round(self.packet_ms * self.sample_rate / 1000)
        n_packets = -(-S // p)
        lost = torch.rand(B, n_packets, generator=generator) < self.probability  # (B, P)
        per_row = -(-lengths.cpu() // p)  # valid packets per row
        lost &= torch.arange(n_packets)[None, :] < per_row[:, None]
        keep = (~lost).repeat_interleave(p, dim=1)[:, :S].to(wavs.device)
        out = wavs * keep * valid_mask(lengths, S, wavs.device)
        records: list[Record] = [
            {
                "perturbation": self.name,
                "probability": self.probability,
                "packets": int(n),
                "dropped_packets": int(d),
                "dropped": [int(i) for i in torch.nonzero(row).flatten()],
            }
            for n, d, row in zip(per_row.tolist(), lost.sum(1).tolist(), lost, strict=True)
        ]
        return Perturbed(out, lengths.clone(), records)
