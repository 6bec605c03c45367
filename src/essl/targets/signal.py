"""Frame-level signal features in plain torch, batched and aligned to the encoder frames.

Frame ``t`` covers samples ``[320 t, 320 t + 400)`` (the standard 50 Hz encoder); a row of
``S`` valid samples has ``T = 1 + (S − 400) // 320`` frames (0 when ``S < 400``). Padded
frames are zero. Everything runs on the input's device. Definitions (eGeMAPS names in
brackets; Eyben et al. 2016, "The Geneva Minimalistic Acoustic Parameter Set", §3):

- ``rms``: root mean square of the 400 raw samples.
- ``zcr``: fraction of adjacent sample pairs in the frame whose signs differ.
- ``loudness``: Stevens' power law on A-weighted intensity, ``(Σ_f A(f)² |X_f|² / Σ w²)^0.3``
  (sone-like: ∝ intensity^0.3; Hann window, 512-point FFT) [Loudness, approximated].
- ``alpha_ratio``: ``10 log10(E[50, 1000) Hz / E[1000, 5000) Hz)`` of the power spectrum [alphaRatio].
- ``hammarberg``: ``10 log10(max P[0, 2000) Hz / max P[2000, 5000) Hz)`` [hammarbergIndex].
- ``spectral_slope``: least-squares slope of the dB power spectrum over 0–500 Hz and
  500–1500 Hz, in dB/kHz (2 dims) [slope0-500, slope500-1500].
- ``spectral_flux``: ``Σ_f (m_t(f) − m_{t−1}(f))²`` of L1-normalised magnitude spectra
  (0 for the first frame) [spectralFlux].
- ``f0``, ``voicing``, ``log_hnr``: YIN (de Cheveigné & Kawahara 2002, steps 2–5) on a
  1024-sample window centred on the frame centre (zero outside the signal), integration
  window 512, lags for 60–500 Hz. ``voicing = 1 − d'(τ*)`` clipped to [0, 1] (0 for frames
  below −60 dBFS RMS); ``f0 = 16000 / τ*`` (parabolic interpolation) where voicing ≥ 0.5, else 0
  [F0semitone, as Hz]; ``log_hnr = 10 log10(r / (1 − r))`` with ``r`` the normalised
  autocorrelation at ``τ*`` clipped to [1e-3, 1 − 1e-3] [HNRdBACF].
- ``mfcc`` (13) and ``log_mel`` (40): :mod:`essl.targets.mfcc` with a 20 ms hop, whose frame
  ``t`` is exactly encoder frame ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "FRAME_HOP",
    "FRAME_WINDOW",
    "SIGNAL_FEATURES",
    "SignalFeature",
    "frame_count",
    "signal_features",
]

SR, FRAME_HOP, FRAME_WINDOW, N_FFT = 16000, 320, 400, 512
PITCH_WINDOW, YIN_W, FMIN, FMAX = 1024, 512, 60.0, 500.0


def frame_count(lengths: torch.Tensor) -> torch.Tensor:
    """(B,) encoder frames for (B,) samples."""
    n = torch.div(lengths - FRAME_WINDOW, FRAME_HOP, rounding_mode="floor") + 1
    return torch.where(lengths >= FRAME_WINDOW, n, torch.zeros_like(n))


class _Ctx:
    """Lazily computed shared quantities of one batch (frames, spectra, YIN)."""

    def __init__(self, wavs: torch.Tensor, lengths: torch.Tensor) -> None:
        self.wavs, self.lengths = wavs.float(), lengths.to(wavs.device)
        self.T = max(int(frame_count(torch.tensor(wavs.shape[1]))), 0)
        self.cache: dict[str, torch.Tensor] = {}

    def frames(self) -> torch.Tensor:  # (B, T, 400)
        if "frames" not in self.cache:
            x = (
                self.wavs[:, : (self.T - 1) * FRAME_HOP + FRAME_WINDOW]
                if self.T
                else self.wavs[:, :0]
            )
            self.cache["frames"] = (
                x.unfold(1, FRAME_WINDOW, FRAME_HOP)
                if self.T
                else x.new_zeros(x.shape[0], 0, FRAME_WINDOW)
            )
        return self.cache["frames"]

    def power(self) -> torch.Tensor:  # (B, T, 257) Hann-windowed power spectrum
        if "power" not in self.cache:
            fr = self.frames()
            w = torch.hann_window(FRAME_WINDOW, periodic=False, device=fr.device)
            if fr.shape[1] == 0:
                self.cache["power"] = fr.new_zeros(fr.shape[0], 0, N_FFT // 2 + 1)
            else:
                spec = torch.fft.rfft(fr * w, n=N_FFT).abs().pow(2)
                self.cache["power"] = spec / w.pow(2).sum()
        return self.cache["power"]

    def freqs(self) -> torch.Tensor:
        return torch.arange(N_FFT // 2 + 1, device=self.wavs.device) * (SR / N_FFT)

    def yin(self) -> dict[str, torch.Tensor]:
        if "tau" not in self.cache:
            self.cache.update(_yin(self.wavs, self.T))
        return self.cache


def _band(ctx: _Ctx, lo: float, hi: float) -> torch.Tensor:
    f = ctx.freqs()
    return (f >= lo) & (f < hi)


def _rms(ctx: _Ctx) -> torch.Tensor:
    return ctx.frames().pow(2).mean(-1).sqrt()[..., None]


def _zcr(ctx: _Ctx) -> torch.Tensor:
    s = torch.signbit(ctx.frames())
    return (s[..., 1:] != s[..., :-1]).float().mean(-1)[..., None]


def _a_weight(f: torch.Tensor) -> torch.Tensor:
    """IEC 61672 A-weighting amplitude gain (1 at 1 kHz)."""
    f2 = f.double().pow(2)
    num = (12194.0**2) * f2.pow(2)
    den = (f2 + 20.6**2) * torch.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    ra = num / den
    return (ra / ra[torch.argmin((f - 1000.0).abs())]).float()


def _loudness(ctx: _Ctx) -> torch.Tensor:
    a2 = _a_weight(ctx.freqs()).pow(2)
    return (ctx.power() * a2).sum(-1).clamp(min=0).pow(0.3)[..., None]


def _db_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10((num + 1e-10) / (den + 1e-10))


def _alpha_ratio(ctx: _Ctx) -> torch.Tensor:
    p = ctx.power()
    low, high = (p * _band(ctx, 50, 1000)).sum(-1), (p * _band(ctx, 1000, 5000)).sum(-1)
    return _db_ratio(low, high)[..., None]


def _hammarberg(ctx: _Ctx) -> torch.Tensor:
    p = ctx.power()
    low = p[..., _band(ctx, 0, 2000)].amax(-1)
    high = p[..., _band(ctx, 2000, 5000)].amax(-1)
    return _db_ratio(low, high)[..., None]


def _slope(ctx: _Ctx) -> torch.Tensor:
    db = 10.0 * torch.log10(ctx.power() + 1e-10)
    out = []
    for lo, hi in ((0.0, 500.0), (500.0, 1500.0)):
        sel = _band(ctx, lo, hi + 1e-6)
        f = ctx.freqs()[sel] / 1000.0
        fc = f - f.mean()
        y = db[..., sel]
        out.append(((y - y.mean(-1, keepdim=True)) * fc).sum(-1) / fc.pow(2).sum())
    return torch.stack(out, -1)


def _flux(ctx: _Ctx) -> torch.Tensor:
    m = ctx.power().sqrt()
    m = m / (m.sum(-1, keepdim=True) + 1e-10)
    d = (m[:, 1:] - m[:, :-1]).pow(2).sum(-1)
    return F.pad(d, (1, 0))[..., None]


def _yin(wavs: torch.Tensor, T: int) -> dict[str, torch.Tensor]:
    """YIN over 1024-sample windows centred on each frame centre: τ*, d'(τ*), r(τ*)."""
    half = PITCH_WINDOW // 2
    pad_left = half - FRAME_WINDOW // 2
    need = (T - 1) * FRAME_HOP + PITCH_WINDOW if T else PITCH_WINDOW
    x = F.pad(wavs, (pad_left, max(need - pad_left - wavs.shape[1], 0)))
    fr = x.unfold(1, PITCH_WINDOW, FRAME_HOP)[:, :T]  # (B, T, 1024)
    tmin, tmax = int(SR / FMAX), int(math.ceil(SR / FMIN))
    n = 2 * PITCH_WINDOW
    X = torch.fft.rfft(fr, n=n)
    Y = torch.fft.rfft(fr[..., :YIN_W], n=n)
    r = torch.fft.irfft(X * Y.conj(), n=n)[..., : tmax + 2]  # r(τ) = Σ_{j<W} x_j x_{j+τ}
    c = F.pad(fr.pow(2).cumsum(-1), (1, 0))
    lags = torch.arange(tmax + 2, device=wavs.device)
    e_tau = c[..., lags + YIN_W] - c[..., lags]  # Σ_{j<W} x_{j+τ}²
    e0 = e_tau[..., :1]
    d = (e0 + e_tau - 2 * r).clamp(min=0)
    cum = d[..., 1:].cumsum(-1)
    dn = torch.ones_like(d)
    dn[..., 1:] = d[..., 1:] * lags[1:] / cum.clamp(min=1e-12)
    dn[..., 1:] = torch.where(cum > 1e-12, dn[..., 1:], torch.ones_like(cum))
    seg = dn[..., tmin : tmax + 1]  # (B, T, L)
    is_min = F.pad((seg[..., 1:-1] <= seg[..., :-2]) & (seg[..., 1:-1] <= seg[..., 2:]), (1, 1))
    below = (seg < 0.15) & is_min
    first = torch.where(below.any(-1), below.float().argmax(-1), seg.argmin(-1))  # (B, T)
    tau = first + tmin
    dv = dn.gather(-1, tau[..., None]).squeeze(-1)
    left = dn.gather(-1, (tau - 1)[..., None]).squeeze(-1)
    right = dn.gather(-1, (tau + 1)[..., None]).squeeze(-1)
    den = left - 2 * dv + right
    shift = torch.where(den.abs() > 1e-9, 0.5 * (left - right) / den, torch.zeros_like(den))
    rt = r.gather(-1, tau[..., None]).squeeze(-1)
    et = e_tau.gather(-1, tau[..., None]).squeeze(-1)
    ncc = rt / (e0.squeeze(-1) * et).clamp(min=1e-12).sqrt()
    energy = fr[..., half - FRAME_WINDOW // 2 : half + FRAME_WINDOW // 2].pow(2).mean(-1)
    voiced_energy = energy > 1e-6  # −60 dBFS
    voicing = torch.where(voiced_energy, (1.0 - dv).clamp(0, 1), torch.zeros_like(dv))
    return {"tau": tau.float() + shift.clamp(-1, 1), "voicing": voicing, "ncc": ncc}


def _f0(ctx: _Ctx) -> torch.Tensor:
    y = ctx.yin()
    f0 = SR / y["tau"].clamp(min=1.0)
    return torch.where(y["voicing"] >= 0.5, f0, torch.zeros_like(f0))[..., None]


def _voicing(ctx: _Ctx) -> torch.Tensor:
    return ctx.yin()["voicing"][..., None]


def _log_hnr(ctx: _Ctx) -> torch.Tensor:
    r = ctx.yin()["ncc"].clamp(1e-3, 1 - 1e-3)
    return (10.0 * torch.log10(r / (1 - r)))[..., None]


def _mel_family(kind: str) -> Callable[[_Ctx], torch.Tensor]:
    def fn(ctx: _Ctx) -> torch.Tensor:
        from essl.targets.mfcc import MfccConfig, log_mel_spectrogram, mfcc

        if kind == "mfcc":
            feats, _ = mfcc(ctx.wavs, ctx.lengths, MfccConfig(frame_shift_ms=20.0))
        else:
            feats, _ = log_mel_spectrogram(
                ctx.wavs, ctx.lengths, MfccConfig(frame_shift_ms=20.0, num_mel_bins=40)
            )
        return feats[:, : ctx.T]

    return fn


@dataclass(frozen=True)
class SignalFeature:
    """A named frame feature: its width and how to compute it from the batch context."""

    name: str
    dim: int
    fn: Callable[[_Ctx], torch.Tensor]


SIGNAL_FEATURES: dict[str, SignalFeature] = {
    f.name: f
    for f in (
        SignalFeature("loudness", 1, _loudness),
        SignalFeature("f0", 1, _f0),
        SignalFeature("voicing", 1, _voicing),
        SignalFeature("rms", 1, _rms),
        SignalFeature("zcr", 1, _zcr),
        SignalFeature("alpha_ratio", 1, _alpha_ratio),
        SignalFeature("hammarberg", 1, _hammarberg),
        SignalFeature("spectral_slope", 2, _slope),
        SignalFeature("spectral_flux", 1, _flux),
        SignalFeature("log_hnr", 1, _log_hnr),
        SignalFeature("mfcc", 13, _mel_family("mfcc")),
        SignalFeature("log_mel", 40, _mel_family("log_mel")),
    )
}
"""Every feature :func:`signal_features` can compute, by name."""


def signal_features(
    wavs: torch.Tensor, lengths: torch.Tensor, names: Sequence[str]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``{name: (B, T, dim)}`` for (B, S) waveforms with (B,) valid samples; (B,) frames.

    Frames past a row's length are zero. Raises ValueError for an unknown name.
    """
    unknown = [n for n in names if n not in SIGNAL_FEATURES]
    if unknown:
        raise ValueError(
            f"unknown signal feature '{unknown[0]}'; valid: {', '.join(SIGNAL_FEATURES)}"
        )
    if wavs.dim() != 2 or lengths.shape != (wavs.shape[0],):
        raise ValueError(
            f"expected wavs (B, S) and lengths (B,), got {tuple(wavs.shape)}, "
            f"{tuple(lengths.shape)}"
        )
    ctx = _Ctx(wavs, lengths)
    frames = frame_count(lengths.to(wavs.device))
    valid = (torch.arange(ctx.T, device=wavs.device)[None, :] < frames[:, None])[..., None]
    out = {}
    for n in names:
        f = SIGNAL_FEATURES[n].fn(ctx)
        out[n] = torch.where(valid, f.float(), torch.zeros((), device=wavs.device))
    return out, frames
