"""DSP helpers shared by perturbations: aligned FFT convolution and linear-phase FIR design."""

from __future__ import annotations

import numpy as np
import torch

from essl.perturb.base import valid_mask

__all__ = ["fft_convolve_aligned", "fir_bandpass", "fir_filter", "fir_lowpass"]


def fft_convolve_aligned(
    wavs: torch.Tensor, lengths: torch.Tensor, rirs: torch.Tensor, delays: torch.Tensor
) -> torch.Tensor:
    """Convolve each row with its RIR, drop the first ``delays[b]`` samples, keep S samples.

    Args:
        wavs: (B, S) zero-padded waveforms.
        lengths: (B,) valid samples; the output is zero beyond them.
        rirs: (B, L) one impulse response per row (zero-padded).
        delays: (B,) direct-path delay of each RIR, in samples.

    Returns:
        (B, S) ``y[b, t] = (wavs[b] * rirs[b])[t + delays[b]]`` for t < lengths[b], else 0.
    """
    S = wavs.shape[1]
    n = S + rirs.shape[1] - 1
    n_fft = 1 << (n - 1).bit_length()
    spec = torch.fft.rfft(wavs.double(), n=n_fft) * torch.fft.rfft(rirs.double(), n=n_fft)
    full = torch.fft.irfft(spec, n=n_fft)  # (B, n_fft)
    idx = delays.to(wavs.device)[:, None] + torch.arange(S, device=wavs.device)[None, :]
    out = full.gather(1, idx).to(wavs.dtype)  # (B, S)
    return out * valid_mask(lengths, S, wavs.device)


def fir_lowpass(
    cutoff_hz: float, sample_rate: int, transition_hz: float, attenuation_db: float = 80.0
) -> np.ndarray:
    """Odd-length Kaiser-window low-pass whose stopband starts at ``cutoff_hz``.

    The passband ends at ``cutoff_hz - transition_hz``; above ``cutoff_hz`` the response is
    below ``-attenuation_db`` (Kaiser's design formulas, Oppenheim & Schafer §7.6).
    """
    from scipy.signal import firwin, kaiserord  # lazy: scipy.signal is slow to import

    nyq = sample_rate / 2
    numtaps, beta = kaiserord(attenuation_db, transition_hz / nyq)
    numtaps |= 1
    return firwin(numtaps, cutoff_hz - transition_hz / 2, window=("kaiser", beta), fs=sample_rate)


def fir_bandpass(
    low_hz: float,
    high_hz: float,
    sample_rate: int,
    transition_hz: float,
    attenuation_db: float = 80.0,
) -> np.ndarray:
    """Odd-length Kaiser band-pass: stopbands below ``low_hz`` and above ``high_hz``.

    The passband is ``[low_hz + transition_hz, high_hz - transition_hz]``.
    """
    from scipy.signal import firwin, kaiserord

    nyq = sample_rate / 2
    numtaps, beta = kaiserord(attenuation_db, transition_hz / nyq)
    numtaps |= 1
    edges = [low_hz + transition_hz / 2, high_hz - transition_hz / 2]
    return firwin(numtaps, edges, pass_zero=False, window=("kaiser", beta), fs=sample_rate)


def fir_filter(wavs: torch.Tensor, lengths: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """Zero-phase application of odd-length linear-phase ``taps`` to (B, S) ``wavs``.

    Equivalent to filtering each valid segment (zero-extended) and removing the filter's
    ``(K - 1) / 2`` delay; the output keeps shape (B, S) and zero padding.
    """
    B = wavs.shape[0]
    h = torch.as_tensor(np.asarray(taps), dtype=torch.float64, device=wavs.device)
    delays = torch.full((B,), (len(taps) - 1) // 2, dtype=torch.long)
    return fft_convolve_aligned(wavs, lengths, h.expand(B, -1), delays)


def filter_np(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-phase application of odd-length linear-phase ``taps`` to a 1-D array."""
    from scipy.signal import oaconvolve

    if x.size == 0:
        return x
    d = (len(taps) - 1) // 2
    return oaconvolve(x, taps)[d : d + x.size].astype(x.dtype)
