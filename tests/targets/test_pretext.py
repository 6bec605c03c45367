import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from essl.targets.labels import encoder_frame_count
from essl.targets.pretext import PRETEXT_NAMES, pretext_dims, pretext_targets, utterance_summary
from essl.targets.signal import signal_features

SR = 16000


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these small ops run faster than with contended threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tone(f0: float = 200.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(SR * seconds))).astype(np.float32)


def _feats(waves, names):
    lengths = torch.tensor([len(w) for w in waves])
    wavs = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        wavs[i, : len(w)] = torch.from_numpy(w)
    return signal_features(wavs, lengths, names)


def _inner(x: torch.Tensor, row: int) -> torch.Tensor:
    """Frames away from the edges of a 1 s row."""
    return x[row, 3:-3]


@pytest.mark.parametrize("f0", [120.0, 200.0, 310.0])
def test_harmonic_tone_has_its_f0_and_high_voicing(f0):
    f, _ = _feats([_tone(f0)], ["f0", "voicing", "log_hnr"])
    est = _inner(f["f0"], 0).median()
    assert abs(float(est) - f0) / f0 < 0.03
    assert float(_inner(f["voicing"], 0).min()) > 0.8
    assert float(_inner(f["log_hnr"], 0).median()) > 10


def test_silence_has_no_f0_and_zero_voicing():
    f, _ = _feats([np.zeros(SR, np.float32)], ["f0", "voicing", "rms", "loudness"])
    for name in ("f0", "voicing", "rms", "loudness"):
        assert float(f[name].abs().max()) == 0.0


def test_white_noise_has_high_zcr_and_low_voicing():
    f, _ = _feats([_noise(), _tone()], ["zcr", "voicing"])
    assert float(_inner(f["zcr"], 0).median()) > 0.4
    assert float(_inner(f["voicing"], 0).median()) < 0.5
    assert float(_inner(f["zcr"], 1).median()) < 0.1


def test_alpha_ratio_and_hammarberg_sign_follow_the_band_energy():
    noise = _noise(seed=1)
    low = sosfilt(butter(8, 800, "low", fs=SR, output="sos"), noise).astype(np.float32)
    high = sosfilt(butter(8, 2000, "high", fs=SR, output="sos"), noise).astype(np.float32)
    f, _ = _feats([low, high], ["alpha_ratio", "hammarberg"])
    assert float(_inner(f["alpha_ratio"], 0).median()) > 10
    assert float(_inner(f["alpha_ratio"], 1).median()) < -10
    assert float(_inner(f["hammarberg"], 0).median()) > float(_inner(f["hammarberg"], 1).median())


def test_frame_counts_equal_encoder_frames_for_every_target():
    waves = [_tone(seconds=0.731), _noise(seconds=1.2)]
    f, frames = _feats(waves, list(PRETEXT_NAMES))
    expected = [encoder_frame_count(len(w)) for w in waves]
    assert frames.tolist() == expected
    dims = pretext_dims(list(PRETEXT_NAMES))
    for name, x in f.items():
        assert x.shape == (2, max(expected), dims[name])
        assert float(x[0, expected[0] :].abs().sum()) == 0.0  # padding is zero


def test_batched_targets_equal_per_utterance_targets():
    waves = [_tone(seconds=0.6), _noise(seconds=1.0, seed=3), _tone(150.0, seconds=0.8)]
    names = list(PRETEXT_NAMES)
    batched, frames = _feats(waves, names)
    for i, w in enumerate(waves):
        single, _ = _feats([w], names)
        n = int(frames[i])
        for name in names:
            torch.testing.assert_close(
                batched[name][i, :n], single[name][0, :n], atol=1e-4, rtol=1e-4
            )


def test_stacked_targets_have_named_slices_and_can_be_cut_to_the_encoder_length():
    waves = torch.from_numpy(np.stack([_tone(), _noise()]))
    tg = pretext_targets(waves, torch.tensor([SR, SR]), ["f0", "spectral_slope", "mfcc"], 40)
    assert tg.values.shape == (2, 40, 1 + 2 + 13)
    assert tg.get("spectral_slope").shape == (2, 40, 2)
    summary = utterance_summary(tg.values, tg.lengths)
    assert summary.shape == (2, 16)
    with pytest.raises(ValueError, match="unknown"):
        pretext_dims(["pitchiness"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_targets_on_cuda_match_cpu():
    waves = torch.from_numpy(np.stack([_tone(), _noise()]))
    lengths = torch.tensor([SR, SR])
    cpu, _ = signal_features(waves, lengths, list(PRETEXT_NAMES))
    gpu, _ = signal_features(waves.cuda(), lengths.cuda(), list(PRETEXT_NAMES))
    for n in PRETEXT_NAMES:
        torch.testing.assert_close(gpu[n].cpu(), cpu[n], atol=1e-2, rtol=1e-3)
