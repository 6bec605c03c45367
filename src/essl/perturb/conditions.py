"""Named robustness conditions: a perturbation factory and default severities for each.

=============  ===================  ============================  ==========================
condition      severity unit        default severities (mild →)   perturbation
=============  ===================  ============================  ==========================
noise          SNR (dB)             20, 10, 5, 0                  white noise (``color=``)
babble         SNR (dB)             20, 10, 5, 0                  4 other talkers
reverb         RT60 (s)             0.3, 0.6, 0.9                 simulated shoebox RIRs
telephone      on (1)               1                             8 kHz, 300-3400 Hz, μ-law
bandlimit      cut-off (Hz)         4000, 2000, 1000              steep low-pass
mulaw          bits                 8, 6, 4                       μ-law quantisation
mp3            bitrate (kbps)       64, 32, 16                    LAME CBR round trip
opus           bitrate (kbps)       32, 16, 8                     libopus round trip
clipping       fraction of peak     0.5, 0.2, 0.1                 hard clipping
gain           dB                   -10, -20, -30                 scaling
speed          factor               0.9, 1.1, 0.8, 1.2            resampling speed change
packet_loss    loss probability     0.05, 0.1, 0.2                20 ms packets zeroed
=============  ===================  ============================  ==========================

Severities are listed from mild to severe (speed by distance from 1). ``opus`` (and
``mp3``) are registered only where their codec libraries work; :func:`get_condition`
names the package to install otherwise.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from essl.errors import ConfigError, EsslError
from essl.perturb.base import Perturbation
from essl.perturb.codecs import Mp3, MuLaw, Opus, mp3_available, opus_available
from essl.perturb.distortions import Clipping, Gain, PacketLoss, Speed
from essl.perturb.filters import BandLimit, Telephone
from essl.perturb.noise import AdditiveNoise, Babble
from essl.perturb.reverb import Reverb

__all__ = ["CONDITIONS", "Condition", "get_condition"]


@dataclass(frozen=True)
class Condition:
    """A named family of perturbations indexed by a severity value."""

    name: str
    """Condition name (the key in :data:`CONDITIONS`)."""
    factory: Callable[..., Perturbation]
    """``factory(severity, sample_rate=..., **options) -> Perturbation``."""
    severities: tuple[float, ...]
    """Default severities, mild to severe."""
    unit: str
    """What a severity value means."""

    def make(self, severity: float, sample_rate: int = 16000, **options: Any) -> Perturbation:
        """The perturbation at ``severity`` for audio at ``sample_rate``."""
        return self.factory(severity, sample_rate=sample_rate, **options)


def _rate_free(
    cls: Callable[..., Perturbation], field: str, cast: type = float
) -> Callable[..., Perturbation]:
    def make(severity: float, sample_rate: int = 16000, **options: Any) -> Perturbation:
        return cls(**{field: cast(severity)}, **options)

    return make


def _with_rate(
    cls: Callable[..., Perturbation], field: str, cast: type = float
) -> Callable[..., Perturbation]:
    def make(severity: float, sample_rate: int = 16000, **options: Any) -> Perturbation:
        return cls(**{field: cast(severity)}, sample_rate=sample_rate, **options)

    return make


def _reverb(severity: float, sample_rate: int = 16000, **options: Any) -> Perturbation:
    from essl.perturb.rir import RirBankConfig

    cfg = options.pop("bank_config", None) or RirBankConfig(sample_rate=sample_rate)
    if cfg.sample_rate != sample_rate:
        raise ConfigError(
            f"reverb: bank_config.sample_rate={cfg.sample_rate} differs from the audio's "
            f"{sample_rate} Hz; build the bank at the audio's rate"
        )
    return Reverb(rt60=float(severity), bank_config=cfg, **options)


def _telephone(severity: float, sample_rate: int = 16000, **options: Any) -> Perturbation:
    if severity not in (0, 1):
        raise ConfigError(f"telephone: severity must be 0 (no μ-law) or 1 (μ-law), got {severity}")
    return Telephone(mulaw=bool(severity), sample_rate=sample_rate, **options)


def _build() -> dict[str, Condition]:
    table: list[tuple[str, Callable[..., Perturbation], tuple[float, ...], str]] = [
        ("noise", _rate_free(AdditiveNoise, "snr_db"), (20, 10, 5, 0), "SNR (dB)"),
        ("babble", _rate_free(Babble, "snr_db"), (20, 10, 5, 0), "SNR (dB)"),
        ("reverb", _reverb, (0.3, 0.6, 0.9), "RT60 (s)"),
        ("telephone", _telephone, (1,), "1 = with 8-bit μ-law, 0 = band only"),
        ("bandlimit", _with_rate(BandLimit, "cutoff_hz"), (4000, 2000, 1000), "cut-off (Hz)"),
        ("mulaw", _rate_free(MuLaw, "bits", int), (8, 6, 4), "bits"),
        ("mp3", _with_rate(Mp3, "bitrate_kbps", int), (64, 32, 16), "bitrate (kbps)"),
        ("opus", _with_rate(Opus, "bitrate_kbps", int), (32, 16, 8), "bitrate (kbps)"),
        ("clipping", _rate_free(Clipping, "fraction"), (0.5, 0.2, 0.1), "fraction of peak"),
        ("gain", _rate_free(Gain, "gain_db"), (-10, -20, -30), "gain (dB)"),
        ("speed", _rate_free(Speed, "factor"), (0.9, 1.1, 0.8, 1.2), "speed factor"),
        (
            "packet_loss",
            _with_rate(PacketLoss, "probability"),
            (0.05, 0.1, 0.2),
            "loss probability",
        ),
    ]
    missing = {"mp3": mp3_available(), "opus": opus_available()}
    return {
        name: Condition(name=name, factory=f, severities=sev, unit=unit)
        for name, f, sev, unit in table
        if missing.get(name) is None
    }


CONDITIONS: dict[str, Condition] = _build()
"""Every condition that works in this environment, by name."""


def get_condition(name: str) -> Condition:
    """The condition called ``name``; the error names the package to install or a close name."""
    if name in CONDITIONS:
        return CONDITIONS[name]
    problem = {"mp3": mp3_available, "opus": opus_available}.get(name, lambda: None)()
    if problem is not None:
        raise EsslError(f"condition '{name}' is unavailable here: {problem}")
    close = difflib.get_close_matches(name, CONDITIONS, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(CONDITIONS)}"
    raise ConfigError(f"unknown perturbation condition '{name}'{hint}")
