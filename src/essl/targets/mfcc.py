"""Kaldi-compatible MFCCs with deltas, batched in plain torch (HuBERT iteration-1 features).

HuBERT's ``dump_mfcc_feature.py`` (Hsu et al. 2021, §IV-B) computes
``torchaudio.compliance.kaldi.mfcc(wave, sample_frequency=16000, use_energy=False)`` on the
float waveform and appends ``compute_deltas`` of it and of its deltas: 13 + 13 + 13 = 39
dimensions at 100 Hz. :func:`mfcc` reproduces that recipe (Kaldi ``compute-mfcc-feats``
defaults), without torchaudio:

1. frames of 25 ms (400 samples) every 10 ms (160), ``snip_edges``: ``M = 1 + (S - 400) // 160``
   frames (0 when ``S < 400``); frame ``m`` covers samples ``[160 m, 160 m + 400)``;
2. per frame: remove the DC offset, pre-emphasis 0.97 (first sample against itself), Povey
   window (Hann ** 0.85), zero-pad to 512, power spectrum;
3. 23 triangular mel filters, HTK mel scale ``1127 ln(1 + f / 700)``, 20 Hz .. Nyquist, filters
   evaluated on the 256 lowest FFT bins (the Nyquist bin gets weight 0), log floored at float eps;
4. orthonormal DCT-II, first 13 coefficients (c0 kept, no log energy: ``use_energy=False``),
   cepstral lifter 22: ``c_i *= 1 + 11 sin(pi i / 22)``;
5. deltas with window 2 (``win_length=5``): ``d_t = sum_k k (c_{t+k} - c_{t-k}) / 10``,
   ``k = 1, 2``, edges replicated (torchaudio ``compute_deltas``), then deltas of deltas.

Shapes use the legend of :mod:`essl`; padded rows travel with ``lengths``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from essl.errors import ConfigError

__all__ = [
    "MfccConfig",
    "compute_deltas",
    "dct_matrix",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mfcc",
    "mfcc_frame_lengths",
    "mfcc_with_deltas",
]


@dataclass(kw_only=True)
class MfccConfig:
    """Kaldi ``compute-mfcc-feats`` options (defaults = HuBERT's iteration-1 features)."""

    sample_rate: int = 16000
    """Input sample rate in Hz."""
    frame_length_ms: float = 25.0
    """Analysis window in milliseconds (400 samples at 16 kHz)."""
    frame_shift_ms: float = 10.0
    """Hop in milliseconds (160 samples at 16 kHz: 100 Hz frames)."""
    num_mel_bins: int = 23
    """Triangular mel filters (Kaldi's MFCC default is 23; 40 is common for fbank)."""
    num_ceps: int = 13
    """Cepstra kept, c0 included."""
    low_freq: float = 20.0
    """Lowest filter edge in Hz."""
    high_freq: float = 0.0
    """Highest filter edge in Hz; <= 0 means an offset from Nyquist (0: Nyquist)."""
    preemphasis: float = 0.97
    """Pre-emphasis coefficient ``x[n] - a x[n-1]`` applied inside each frame."""
    cepstral_lifter: float = 22.0
    """Lifter Q: ``c_i *= 1 + Q/2 sin(pi i / Q)``; 0 disables it."""
    delta_window: int = 2
    """N of the delta regression (torchaudio ``win_length = 2 N + 1``); 0 disables deltas."""

    def validate(self) -> None:
        if self.sample_rate < 1:
            raise ConfigError("mfcc.sample_rate: must be a positive integer (Hz), e.g. 16000")
        if self.window_size < 2 or self.window_shift < 1:
            raise ConfigError(
                "mfcc.frame_length_ms/frame_shift_ms: window must be >= 2 samples "
                "and the hop >= 1 sample; use e.g. 25 and 10"
            )
        if self.num_mel_bins < 4:
            raise ConfigError("mfcc.num_mel_bins: need at least 4 mel filters; use 23 or 40")
        if not 1 <= self.num_ceps <= self.num_mel_bins:
            raise ConfigError(
                f"mfcc.num_ceps: {self.num_ceps} must be in [1, num_mel_bins="
                f"{self.num_mel_bins}]; use 13"
            )
        nyquist = self.sample_rate / 2
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not 0 <= self.low_freq < high <= nyquist:
            raise ConfigError(
                f"mfcc.low_freq/high_freq: need 0 <= low < high <= {nyquist} Hz, "
                f"got {self.low_freq} and {high}"
            )
        if not 0.0 <= self.preemphasis <= 1.0:
            raise ConfigError("mfcc.preemphasis: must be in [0, 1]; Kaldi uses 0.97")
        if self.delta_window < 0:
            raise ConfigError("mfcc.delta_window: must be >= 0 (2 as in HuBERT, 0 for none)")

    @property
    def window_size(self) -> int:
        """Samples per analysis window."""
        return int(self.sample_rate * self.frame_length_ms * 0.001)

    @property
    def window_shift(self) -> int:
        """Samples per hop."""
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    @property
    def fft_size(self) -> int:
        """The window zero-padded to the next power of two."""
        return 1 << (self.window_size - 1).bit_length()

    @property
    def dim(self) -> int:
        """D of :func:`mfcc_with_deltas`: ``num_ceps`` times 3 with deltas, else ``num_ceps``."""
        return self.num_ceps * (3 if self.delta_window > 0 else 1)


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(freq / 700.0)


def mel_filterbank(cfg: MfccConfig) -> torch.Tensor:
    """(num_mel_bins, fft_size // 2 + 1) triangular filters on the HTK mel scale (Kaldi)."""
    nyquist = 0.5 * cfg.sample_rate
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq
    mel_lo, mel_hi = (
        _mel(torch.tensor(cfg.low_freq, dtype=torch.float64)),
        _mel(torch.tensor(high, dtype=torch.float64)),
    )
    delta = (mel_hi - mel_lo) / (cfg.num_mel_bins + 1)
    b = torch.arange(cfg.num_mel_bins, dtype=torch.float64).unsqueeze(1)
    left, center, right = mel_lo + b * delta, mel_lo + (b + 1) * delta, mel_lo + (b + 2) * delta
    bin_hz = cfg.sample_rate / cfg.fft_size
    mel = _mel(bin_hz * torch.arange(cfg.fft_size // 2, dtype=torch.float64)).unsqueeze(0)
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1)).float()  # Nyquist bin: weight 0


def dct_matrix(num_ceps: int, num_mel_bins: int) -> torch.Tensor:
    """(num_mel_bins, num_ceps) orthonormal DCT-II, for ``log_mel @ dct``."""
    n = torch.arange(num_mel_bins, dtype=torch.float64)
    k = torch.arange(num_ceps, dtype=torch.float64).unsqueeze(1)
    dct = torch.cos(math.pi / num_mel_bins * (n + 0.5) * k) * math.sqrt(2.0 / num_mel_bins)
    dct[0] *= 1.0 / math.sqrt(2.0)
    return dct.t().float()


def mfcc_frame_lengths(lengths: torch.Tensor, cfg: MfccConfig) -> torch.Tensor:
    """(B,) frames per row with Kaldi's ``snip_edges``: ``1 + (S - win) // hop`` or 0."""
    win, hop = cfg.window_size, cfg.window_shift
    n = torch.div(lengths - win, hop, rounding_mode="floor") + 1
    return torch.where(lengths >= win, n, torch.zeros_like(n))


def _frames(wavs: torch.Tensor, cfg: MfccConfig) -> torch.Tensor:
    """(B, M, window_size) pre-emphasised, windowed frames of the padded batch."""
    win, hop = cfg.window_size, cfg.window_shift
    B, S = wavs.shape
    if win > S:  # no full window
        return wavs.new_zeros(B, 0, win)
    x = wavs.unfold(1, win, hop)  # (B, M, win)
    x = x - x.mean(dim=-1, keepdim=True)
    prev = torch.cat([x[..., :1], x[..., :-1]], dim=-1)
    x = x - cfg.preemphasis * prev
    window = torch.hann_window(win, periodic=False, dtype=x.dtype, device=x.device).pow(0.85)
    return x * window


def log_mel_spectrogram(
    wavs: torch.Tensor, lengths: torch.Tensor, cfg: MfccConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Kaldi log mel filterbank energies: ``(B, M, num_mel_bins)`` and frame lengths ``(B,)``."""
    cfg = cfg or MfccConfig()
    cfg.validate()
    _check_batch(wavs, lengths)
    frames = _frames(wavs.float(), cfg)  # (B, M, win)
    B, M, _ = frames.shape
    if M == 0:  # MKL's FFT rejects empty batches
        spec = frames.new_zeros(B, 0, cfg.fft_size // 2 + 1)
    else:
        spec = torch.fft.rfft(frames, n=cfg.fft_size).abs().pow(2.0)  # (B, M, F)
    banks = mel_filterbank(cfg).to(spec.device)
    eps = torch.finfo(torch.float32).eps
    logmel = torch.clamp(spec @ banks.t(), min=eps).log()  # (B, M, num_mel_bins)
    frame_lengths = mfcc_frame_lengths(lengths.to(wavs.device), cfg)
    return _zero_padding(logmel, frame_lengths), frame_lengths


def mfcc(
    wavs: torch.Tensor, lengths: torch.Tensor, cfg: MfccConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Static MFCCs ``(B, M, num_ceps)`` (c0 first, liftered) and frame lengths ``(B,)``.

    Matches ``torchaudio.compliance.kaldi.mfcc(w, use_energy=False)`` row by row; frames past
    a row's length are zero.
    """
    cfg = cfg or MfccConfig()
    logmel, frame_lengths = log_mel_spectrogram(wavs, lengths, cfg)
    ceps = logmel @ dct_matrix(cfg.num_ceps, cfg.num_mel_bins).to(logmel.device)
    if cfg.cepstral_lifter != 0.0:
        q = cfg.cepstral_lifter
        i = torch.arange(cfg.num_ceps, device=ceps.device, dtype=ceps.dtype)
        ceps = ceps * (1.0 + 0.5 * q * torch.sin(math.pi * i / q))
    return _zero_padding(ceps, frame_lengths), frame_lengths


def compute_deltas(feats: torch.Tensor, lengths: torch.Tensor, window: int = 2) -> torch.Tensor:
    """Regression deltas along time of ``(B, T, D)`` features, each row's edges replicated.

    ``d_t = sum_{k=1..N} k (x_{t+k} - x_{t-k}) / (2 sum_k k^2)`` with indices clamped to
    ``[0, lengths[b] - 1]``, which is torchaudio's ``compute_deltas(win_length=2N+1)`` per row.
    """
    T = feats.shape[1]
    if T == 0 or window == 0:
        return torch.zeros_like(feats)
    denom = window * (window + 1) * (2 * window + 1) / 3.0
    t = torch.arange(T, device=feats.device)
    last = (lengths.to(feats.device) - 1).clamp(min=0).unsqueeze(1)  # (B, 1)
    out = torch.zeros_like(feats)
    for k in range(1, window + 1):
        fwd = torch.minimum((t + k).unsqueeze(0), last)  # (B, T)
        bwd = torch.minimum((t - k).clamp(min=0).unsqueeze(0), last)
        gather = lambda idx: feats.gather(1, idx.unsqueeze(-1).expand_as(feats))  # noqa: E731
        out = out + k * (gather(fwd) - gather(bwd))
    return _zero_padding(out / denom, lengths.to(feats.device))


def mfcc_with_deltas(
    wavs: torch.Tensor, lengths: torch.Tensor, cfg: MfccConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """HuBERT iteration-1 features ``(B, M, 39)`` at 100 Hz = [mfcc, Δ, ΔΔ], frame lengths."""
    cfg = cfg or MfccConfig()
    ceps, frame_lengths = mfcc(wavs, lengths, cfg)
    if cfg.delta_window == 0:
        return ceps, frame_lengths
    d1 = compute_deltas(ceps, frame_lengths, cfg.delta_window)
    d2 = compute_deltas(d1, frame_lengths, cfg.delta_window)
    return torch.cat([ceps, d1, d2], dim=-1), frame_lengths


def _zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    valid = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
    return x * valid.unsqueeze(-1).to(x.dtype)


def _check_batch(wavs: torch.Tensor, lengths: torch.Tensor) -> None:
    if wavs.dim() != 2:
        raise ValueError(f"wavs must be (B, S), got shape {tuple(wavs.shape)}")
    if lengths.shape != (wavs.shape[0],):
        raise ValueError(f"lengths must be (B,)={wavs.shape[0]}, got {tuple(lengths.shape)}")
    if len(lengths) and (int(lengths.max()) > wavs.shape[1] or int(lengths.min()) < 0):
        raise ValueError("lengths must lie in [0, S] (valid samples per row)")
