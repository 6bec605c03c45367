"""Channel filters: steep band-limiting and a telephone channel.

Both use linear-phase Kaiser-window FIR filters applied with zero phase (the filter delay
is removed), so the output is aligned with the input and keeps its length.

The telephone channel follows the narrow-band PSTN chain: resample to 8 kHz, band-pass
300-3400 Hz (the ITU-T G.712 channel band; stopbands start at the band edges), optionally
8-bit μ-law (ITU-T G.711), the receive-side band-pass again, and resample back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import soxr
import torch

from essl.errors import ConfigError
from essl.perturb._dsp import filter_np, fir_bandpass, fir_filter, fir_lowpass
from essl.perturb.base import Perturbation, Perturbed, Record, check_batch, map_valid
from essl.perturb.codecs import mulaw_decode, mulaw_encode

__all__ = ["BandLimit", "Telephone"]


@dataclass(kw_only=True)
class BandLimit(Perturbation):
    """Low-pass: everything above ``cutoff_hz`` is attenuated by >= ``attenuation_db``."""

    name: ClassVar[str] = "bandlimit"
    cutoff_hz: float
    """Start of the stopband (Hz)."""
    sample_rate: int = 16000
    """Sample rate of the audio (Hz)."""
    transition_hz: float | None = None
    """Width of the transition band below the cut-off; ``None`` is 10% of the cut-off."""
    attenuation_db: float = 80.0
    """Minimum stopband attenuation (dB)."""

    def __post_init__(self) -> None:
        if not 0 < self.cutoff_hz < self.sample_rate / 2:
            raise ConfigError(
                f"BandLimit.cutoff_hz: must lie in (0, {self.sample_rate / 2}) Hz, "
                f"got {self.cutoff_hz}"
            )
        tw = self.transition_hz
        if tw is not None and not 0 < tw < self.cutoff_hz:
            raise ConfigError(f"BandLimit.transition_hz: must lie in (0, cutoff_hz), got {tw}")
        if self.attenuation_db < 20:
            raise ConfigError("BandLimit.attenuation_db: must be >= 20 dB")

    def taps(self) -> np.ndarray:
        """The filter's impulse response (odd length, linear phase)."""
        tw = self.transition_hz or 0.1 * self.cutoff_hz
        return fir_lowpass(self.cutoff_hz, self.sample_rate, tw, self.attenuation_db)

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        taps = self.taps()
        out = fir_filter(wavs, lengths, taps)
        rec: Record = {"perturbation": self.name, "cutoff_hz": self.cutoff_hz, "taps": len(taps)}
        return Perturbed(out, lengths.clone(), [dict(rec) for _ in range(wavs.shape[0])])


@dataclass(kw_only=True)
class Telephone(Perturbation):
    """Narrow-band telephone channel: 8 kHz, 300-3400 Hz band, optional 8-bit μ-law."""

    name: ClassVar[str] = "telephone"
    mulaw: bool = True
    """Quantise with 8-bit μ-law between the send and receive filters."""
    sample_rate: int = 16000
    """Sample rate of the audio (Hz); the channel itself runs at 8 kHz."""
    low_hz: float = 300.0
    """Lower band edge (Hz): stopband below it."""
    high_hz: float = 3400.0
    """Upper band edge (Hz): stopband above it."""
    transition_hz: float = 100.0
    """Transition width inside each band edge (Hz)."""
    attenuation_db: float = 80.0
    """Minimum stopband attenuation (dB)."""

    def __post_init__(self) -> None:
        if self.sample_rate < 8000:
            raise ConfigError(f"Telephone.sample_rate: must be >= 8000, got {self.sample_rate}")
        if not 0 < self.low_hz + 2 * self.transition_hz < self.high_hz < 4000:
            raise ConfigError(
                "Telephone.low_hz/high_hz/transition_hz: need 0 < low + 2·transition < high < 4000"
            )

    def _row(self, taps: np.ndarray, x: np.ndarray) -> np.ndarray:
        n = x.size
        y = soxr.resample(x, self.sample_rate, 8000) if self.sample_rate != 8000 else x
        y = filter_np(y.astype(np.float64), taps)
        if self.mulaw:
            codes = mulaw_encode(torch.from_numpy(y), 8)
            y = filter_np(mulaw_decode(codes, 8, torch.float64).numpy(), taps)
        if self.sample_rate != 8000:
            y = soxr.resample(y, 8000, self.sample_rate)
        out = np.zeros(n, dtype=np.float32)
        out[: min(n, y.size)] = y[:n]
        return out

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        taps = fir_bandpass(
            self.low_hz, self.high_hz, 8000, self.transition_hz, self.attenuation_db
        )
        rec: Record = {
            "perturbation": self.name,
            "band_hz": [self.low_hz, self.high_hz],
            "mulaw": self.mulaw,
        }

        def row(x: np.ndarray, b: int) -> tuple[np.ndarray, Record]:
            return (self._row(taps, x) if x.size else x), dict(rec)

        return map_valid(wavs, lengths, row)
