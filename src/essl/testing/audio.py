"""Synthetic speech-like audio with exact phone alignments (no TTS needed).

Each "phone" is a voiced segment: a glottal-like pulse train at the speaker's f0 shaped by
two formant resonators, so phones differ spectrally, speakers differ in pitch, and phone
boundaries are known to the sample. Good enough to test alignment-aware code quickly.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

# Two formant frequencies (Hz) per phone label; "sil" is near-silence.
PHONE_FORMANTS: dict[str, tuple[float, float]] = {
    "AA": (730, 1090),
    "IY": (270, 2290),
    "UW": (300, 870),
    "EH": (530, 1840),
    "AE": (660, 1720),
    "ER": (490, 1350),
    "OW": (570, 840),
    "AH": (520, 1190),
}


def _resonator(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([1 - r], a, x)


def synthetic_vowels(
    phones: list[tuple[str, float]],
    f0: float = 120.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Synthesize a sequence of ``(phone, seconds)``; return (float32 wave (S,), spans).

    Spans are ``(phone, start_s, end_s)`` tiling the audio exactly.
    """
    rng = np.random.default_rng(seed)
    pieces, spans, t = [], [], 0.0
    for label, dur in phones:
        n = int(round(dur * sample_rate))
        if label == "sil":
            seg = 1e-3 * rng.standard_normal(n)
        else:
            f1, f2 = PHONE_FORMANTS[label]
            period = sample_rate / (f0 * (1 + 0.03 * rng.standard_normal()))
            src = np.zeros(n)
            src[(np.arange(0, n, period)).astype(int)] = 1.0
            src += 0.02 * rng.standard_normal(n)
            seg = _resonator(src, f1, 80, sample_rate) + 0.5 * _resonator(src, f2, 120, sample_rate)
            seg *= np.hanning(n) ** 0.25 if n > 4 else 1.0
            seg = 0.3 * seg / (np.abs(seg).max() + 1e-9)
        pieces.append(seg)
        spans.append((label, round(t, 6), round(t + n / sample_rate, 6)))
        t += n / sample_rate
    wave = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    return wave, spans
