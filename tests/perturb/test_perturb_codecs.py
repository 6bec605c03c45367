import numpy as np
import pytest
import torch

from essl.errors import ConfigError
from essl.perturb import Mp3, MuLaw, Opus, mp3_available, mulaw_decode, mulaw_encode, opus_available

needs_mp3 = pytest.mark.skipif(mp3_available() is not None, reason=str(mp3_available()))
needs_opus = pytest.mark.skipif(opus_available() is not None, reason=str(opus_available()))


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_mulaw_round_trip_error_is_within_half_a_step_of_the_companded_grid(bits):
    mu = 2**bits - 1
    x = torch.linspace(-1, 1, 20001)
    codes = mulaw_encode(x, bits)
    assert int(codes.min()) == 0 and int(codes.max()) == mu
    y = mulaw_decode(codes, bits)
    # A half step 1/mu in the companded domain moves x by at most (|x| + 1/mu)((1+mu)^(1/mu) - 1)
    bound = (x.abs() + 1 / mu) * ((1 + mu) ** (1 / mu) - 1) + 1e-6
    assert torch.all((y - x).abs() <= bound)


def test_mulaw_8_bit_has_at_most_256_levels_and_clips_out_of_range(batch):
    wavs, lengths = batch
    loud = wavs * 5
    y, _, records = MuLaw(bits=8)(loud, lengths)
    valid = torch.arange(y.shape[1])[None, :] < lengths[:, None]
    assert torch.unique(y[valid]).numel() <= 256
    assert y.abs().max() <= 1.0
    assert records[0]["clipped_samples"] > 0
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(y[b, n:] == 0)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.numpy(), b.numpy())[0, 1])


def _lag(y: torch.Tensor, x: torch.Tensor) -> int:
    """Lag (samples) of the cross-correlation peak of y against x."""
    from scipy.signal import correlate

    c = correlate(y.numpy(), x.numpy(), mode="full", method="fft")
    return int(np.argmax(c)) - (x.numel() - 1)


@needs_mp3
@pytest.mark.parametrize(("kbps", "min_corr"), [(128, 0.999), (32, 0.99)])
def test_mp3_round_trip_is_aligned_and_length_preserving(batch, kbps, min_corr):
    wavs, lengths = batch
    y, out_lengths, records = Mp3(bitrate_kbps=kbps)(wavs, lengths)
    assert y.shape == wavs.shape and torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert _corr(y[b, :n], wavs[b, :n]) > min_corr
        assert _lag(y[b, :n], wavs[b, :n]) == 0
        assert torch.all(y[b, n:] == 0)
    assert records[0]["bitrate_kbps"] == kbps


@needs_mp3
def test_mp3_at_a_rate_lame_resamples_still_comes_back_at_16_khz(batch):
    wavs, lengths = batch
    y, _, _ = Mp3(bitrate_kbps=8)(wavs, lengths)
    assert y.shape == wavs.shape
    assert _corr(y[0, : lengths[0]], wavs[0, : lengths[0]]) > 0.95


@needs_opus
@pytest.mark.parametrize(("kbps", "min_corr"), [(32, 0.97), (8, 0.9)])
def test_opus_round_trip_is_aligned_and_length_preserving(batch, kbps, min_corr):
    wavs, lengths = batch
    y, out_lengths, _ = Opus(bitrate_kbps=kbps)(wavs, lengths)
    assert y.shape == wavs.shape and torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert _corr(y[b, :n], wavs[b, :n]) > min_corr
        assert abs(_lag(y[b, :n], wavs[b, :n])) <= 1
        assert torch.all(y[b, n:] == 0)


def test_invalid_codec_settings_name_the_field():
    with pytest.raises(ConfigError, match="bitrate_kbps"):
        Mp3(bitrate_kbps=100)
    with pytest.raises(ConfigError, match="bitrate_kbps"):
        Opus(bitrate_kbps=2)
    with pytest.raises(ConfigError, match="bits"):
        MuLaw(bits=1)
