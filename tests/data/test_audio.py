"""load_audio / audio_info / write_wav: good files load exactly, every bad file is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from essl.data.audio import audio_info, load_audio, wav_header_frames, write_wav
from essl.errors import AudioError
from essl.testing import synthetic_vowels


@pytest.fixture
def wave() -> np.ndarray:
    w, _ = synthetic_vowels([("AA", 0.3), ("IY", 0.3), ("UW", 0.4)], seed=3)
    return w


def _write(path: Path, data: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    sf.write(path, data, sr, subtype=subtype)
    return path


def test_load_returns_mono_float32_matching_the_file(tmp_path, wave):
    p = _write(tmp_path / "a.wav", wave, subtype="FLOAT")
    out = load_audio(p)
    assert out.dtype == np.float32 and out.shape == wave.shape
    np.testing.assert_array_equal(out, wave)


def test_window_reads_the_slice_of_the_full_file(tmp_path, wave):
    p = _write(tmp_path / "a.wav", wave)
    full = load_audio(p)
    np.testing.assert_array_equal(load_audio(p, start=1000, frames=2500), full[1000:3500])
    np.testing.assert_array_equal(load_audio(p, start=15000), full[15000:])
    assert len(load_audio(p, start=15500, frames=1000)) == len(full) - 15500


@pytest.mark.parametrize("src_sr", [8000, 22050, 44100])
def test_other_rates_are_resampled_and_windows_match_the_full_resample(tmp_path, src_sr):
    w, _ = synthetic_vowels([("AA", 0.4), ("EH", 0.6)], sample_rate=src_sr, seed=1)
    p = _write(tmp_path / "a.wav", w, sr=src_sr, subtype="FLOAT")
    full = load_audio(p)
    assert abs(len(full) - 16000) <= 1
    for start, frames in [(0, 700), (4321, 3000), (9000, -1)]:
        win = load_audio(p, start=start, frames=frames)
        ref = full[start:] if frames < 0 else full[start : start + frames]
        np.testing.assert_allclose(win, ref, atol=1e-4)


def test_wrong_rate_without_resampling_names_both_rates_and_the_fix(tmp_path, wave):
    p = _write(tmp_path / "a8k.wav", wave, sr=8000)
    with pytest.raises(AudioError, match=r"a8k\.wav.*8000 Hz.*16000 Hz.*resample"):
        load_audio(p, resample=False)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.wav: audio file not found"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_bytes_are_reported_as_corrupt(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(AudioError, match=r"junk\.wav: corrupt"):
        load_audio(p)


def test_empty_wav_is_reported_as_empty(tmp_path):
    p = _write(tmp_path / "empty.wav", np.zeros(0, np.float32))
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio"):
        load_audio(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_refused(tmp_path, wave, bad):
    w = wave.copy()
    w[123] = bad
    p = _write(tmp_path / "nan.wav", w, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: 1 non-finite"):
        load_audio(p)


def test_stereo_is_refused_with_a_downmix_hint(tmp_path, wave):
    p = _write(tmp_path / "st.wav", np.stack([wave, wave], axis=1))
    with pytest.raises(AudioError, match=r"st\.wav: has 2 channels.*downmix"):
        load_audio(p)


def test_audio_info_reads_the_header(tmp_path, wave):
    p = _write(tmp_path / "a.flac", wave, subtype="PCM_16")
    info = audio_info(p)
    assert (info.sample_rate, info.channels, info.frames) == (16000, 1, len(wave))
    assert info.duration == pytest.approx(len(wave) / 16000)
    assert info.subtype == "PCM_16"


def test_write_wav_round_trips_within_16_bit_precision_and_leaves_no_temp(tmp_path, wave):
    p = tmp_path / "sub" / "w.wav"
    write_wav(p, wave, 16000)
    assert audio_info(p).subtype == "PCM_16"
    np.testing.assert_allclose(load_audio(p), wave, atol=1 / 32767)
    assert [f.name for f in p.parent.iterdir()] == ["w.wav"]


def test_write_wav_refuses_nan_and_multichannel(tmp_path, wave):
    with pytest.raises(AudioError, match="non-finite"):
        write_wav(tmp_path / "x.wav", np.full(10, np.nan), 16000)
    with pytest.raises(AudioError, match="mono"):
        write_wav(tmp_path / "x.wav", np.zeros((10, 2)), 16000)
    assert not (tmp_path / "x.wav").exists()


def test_wav_header_frames_detects_a_cut_off_data_chunk(tmp_path, wave):
    p = _write(tmp_path / "a.wav", wave)
    assert wav_header_frames(p) == (len(wave), len(wave))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(p.read_bytes()[: 44 + 2 * 1000])
    assert wav_header_frames(cut) == (len(wave), 1000)
    assert wav_header_frames(_write(tmp_path / "a.flac", wave)) is None
