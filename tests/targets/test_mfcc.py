"""MFCCs match an independent numpy transcription of Kaldi's recipe, batched and per row."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.fft import dct

from essl.targets.mfcc import (
    MfccConfig,
    compute_deltas,
    dct_matrix,
    log_mel_spectrogram,
    mel_filterbank,
    mfcc,
    mfcc_with_deltas,
)
from essl.testing import synthetic_vowels


def _kaldi_mfcc_reference(x: np.ndarray) -> np.ndarray:
    """Kaldi compute-mfcc-feats defaults (use_energy=false), one frame at a time in float64."""
    win, hop, nfft, nbins, nceps = 400, 160, 512, 23, 13
    n = np.arange(win)
    povey = (0.5 - 0.5 * np.cos(2 * np.pi * n / (win - 1))) ** 0.85
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # noqa: E731
    lo, hi = mel(20.0), mel(8000.0)
    step = (hi - lo) / (nbins + 1)
    fft_mel = mel(np.arange(nfft // 2) * 16000 / nfft)
    banks = np.zeros((nbins, nfft // 2 + 1))
    for m in range(nbins):
        left, center, right = lo + m * step, lo + (m + 1) * step, lo + (m + 2) * step
        for k, f in enumerate(fft_mel):
            if left < f <= center:
                banks[m, k] = (f - left) / (center - left)
            elif center < f < right:
                banks[m, k] = (right - f) / (right - center)
    out = []
    for start in range(0, len(x) - win + 1, hop):
        fr = x[start : start + win].astype(np.float64)
        fr = fr - fr.mean()
        fr = np.concatenate([[fr[0] - 0.97 * fr[0]], fr[1:] - 0.97 * fr[:-1]]) * povey
        power = np.abs(np.fft.rfft(fr, nfft)) ** 2
        logmel = np.log(np.maximum(banks @ power, np.finfo(np.float32).eps))
        c = dct(logmel, type=2, norm="ortho")[:nceps]
        out.append(c * (1 + 11.0 * np.sin(np.pi * np.arange(nceps) / 22.0)))
    return np.array(out).reshape(-1, nceps)


def _vowels(seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    wave, _ = synthetic_vowels([("AA", seconds / 2), ("IY", seconds / 2)], seed=seed)
    return wave


def test_mfcc_matches_numpy_transcription_of_kaldi_recipe() -> None:
    wave = _vowels(0.7)
    ours, frames = mfcc(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    ref = _kaldi_mfcc_reference(wave)
    assert int(frames[0]) == len(ref) == 1 + (len(wave) - 400) // 160
    np.testing.assert_allclose(ours[0].numpy(), ref, rtol=1e-3, atol=2e-3)


@pytest.mark.parametrize("num_samples", [0, 1, 399, 400, 401, 559, 560, 16000, 16161])
def test_frame_count_is_kaldi_snip_edges(num_samples: int) -> None:
    wavs = torch.randn(2, max(num_samples, 1)) * 0.1
    feats, frames = mfcc_with_deltas(wavs, torch.tensor([num_samples, 0]))
    expected = 1 + (num_samples - 400) // 160 if num_samples >= 400 else 0
    assert frames.tolist() == [expected, 0]
    assert feats.shape == (2, feats.shape[1], 39) and feats.shape[1] >= expected
    assert torch.all(feats[1] == 0) and torch.all(feats[0, expected:] == 0)


def test_padded_batch_equals_per_utterance_runs() -> None:
    waves = [_vowels(0.5, seed=1), _vowels(0.31, seed=2), _vowels(0.8, seed=3)]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(3, int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    feats, frames = mfcc_with_deltas(batch, lengths)
    for i, w in enumerate(waves):
        alone, n = mfcc_with_deltas(torch.from_numpy(w)[None], lengths[i : i + 1])
        assert int(frames[i]) == int(n[0])
        torch.testing.assert_close(feats[i, : int(n[0])], alone[0], rtol=1e-4, atol=1e-4)


def test_pure_tone_energy_peaks_in_a_mel_filter_covering_its_frequency() -> None:
    cfg = MfccConfig(num_mel_bins=40)
    banks = mel_filterbank(cfg)
    for freq in (300.0, 1000.0, 3000.0):
        t = torch.arange(8000) / 16000
        tone = torch.sin(2 * math.pi * freq * t)[None]
        logmel, _ = log_mel_spectrogram(tone, torch.tensor([8000]), cfg)
        peak = int(logmel[0].mean(0).argmax())
        fft_bin = round(freq * cfg.fft_size / cfg.sample_rate)
        covering = torch.nonzero(banks[:, fft_bin] > 0).flatten().tolist()  # 1 or 2 triangles
        assert peak in covering, (freq, peak, covering)


def test_filterbank_triangles_peak_at_one_and_dct_is_orthonormal() -> None:
    cfg = MfccConfig()
    banks = mel_filterbank(cfg)
    assert banks.shape == (23, 257) and torch.all(banks >= 0) and float(banks.max()) <= 1.0
    assert torch.all(banks[:, -1] == 0) and torch.all(banks.max(dim=1).values > 0.8)
    full = dct_matrix(23, 23).double()
    torch.testing.assert_close(
        full.t() @ full, torch.eye(23, dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_deltas_of_a_linear_ramp_are_its_slope_away_from_the_edges() -> None:
    T = 12
    ramp = (3.0 * torch.arange(T, dtype=torch.float32) + 1.0)[None, :, None]  # (1, T, 1)
    d = compute_deltas(ramp, torch.tensor([T]), window=2)[0, :, 0]
    torch.testing.assert_close(d[2:-2], torch.full((T - 4,), 3.0))
    # replicated edges: d_0 = (1*(x1-x0) + 2*(x2-x0)) / 10 = (3 + 12) / 10
    assert float(d[0]) == pytest.approx(1.5) and float(d[-1]) == pytest.approx(1.5)


def test_deltas_replicate_each_rows_own_last_frame_not_the_padding() -> None:
    x = torch.randn(1, 7, 3)
    padded = torch.cat([x, torch.full((1, 5, 3), 100.0)], dim=1)
    two = torch.cat([padded, torch.zeros(1, 12, 3)])
    d = compute_deltas(two, torch.tensor([7, 0]))
    torch.testing.assert_close(d[0, :7], compute_deltas(x, torch.tensor([7]))[0])
    assert torch.all(d[0, 7:] == 0) and torch.all(d[1] == 0)


def test_deltas_match_torchaudio_definition_conv_with_replicate_padding() -> None:
    x = torch.randn(2, 20, 4)
    pad = torch.nn.functional.pad(x.transpose(1, 2), (2, 2), mode="replicate")  # (B, D, T+4)
    kernel = torch.arange(-2, 3, dtype=torch.float32).repeat(4, 1, 1)  # (D, 1, 5)
    ref = torch.nn.functional.conv1d(pad, kernel, groups=4).transpose(1, 2) / 10.0
    torch.testing.assert_close(compute_deltas(x, torch.tensor([20, 20])), ref)
