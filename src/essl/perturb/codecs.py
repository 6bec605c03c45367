"""Codecs: μ-law companding (ITU-T G.711 style), MP3 (LAME) and Opus round trips.

Lossy codecs delay the signal (encoder look-ahead, decoder overlap); the round trips here
remove that delay so the output is sample-aligned with the input and has its length.
The delay of each (codec, bitrate, sample rate) is measured once, by cross-correlating a
seeded calibration signal with its decoded version, and cached in memory.

* MP3: encoded with ``lameenc`` (exact CBR bitrate), decoded with libsndfile's mpg123
  through ``soundfile`` (libsndfile >= 1.1). LAME may resample internally at low bitrates;
  the decoded audio is resampled back with soxr.
* Opus: encoded and decoded with libopus through PyAV (``av``), 20 ms frames.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import soxr
import torch

from essl.errors import ConfigError, EsslError
from essl.perturb.base import Perturbation, Perturbed, Record, check_batch, map_valid, valid_mask

__all__ = [
    "MP3_BITRATES_KBPS",
    "Mp3",
    "MuLaw",
    "Opus",
    "mp3_available",
    "mulaw_decode",
    "mulaw_encode",
    "opus_available",
]

MP3_BITRATES_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)
"""CBR bitrates LAME accepts (MPEG-2 layer III at 16 kHz stops at 160 kbps)."""


def mulaw_encode(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """μ-law codes in ``[0, 2**bits - 1]`` (long) of ``x`` clamped to [-1, 1]; μ = 2**bits - 1.

    ``y = sign(x) ln(1 + μ|x|) / ln(1 + μ)`` quantised uniformly (ITU-T G.711 uses the
    segmented approximation of this curve with μ = 255).
    """
    mu = 2**bits - 1
    x = x.clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / np.log1p(mu)
    return torch.round((y + 1) / 2 * mu).long()


def mulaw_decode(
    codes: torch.Tensor, bits: int = 8, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Inverse of :func:`mulaw_encode`: waveform values in [-1, 1]."""
    mu = 2**bits - 1
    y = codes.to(torch.float64) / mu * 2 - 1
    return (torch.sign(y) * torch.expm1(y.abs() * np.log1p(mu)) / mu).to(dtype)


@dataclass(kw_only=True)
class MuLaw(Perturbation):
    """μ-law companding and ``bits``-bit quantisation (8 bits is G.711's μ-law)."""

    name: ClassVar[str] = "mulaw"
    bits: int = 8
    """Bits per sample (2 to 16); fewer bits, coarser quantisation."""

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 16:
            raise ConfigError(f"MuLaw.bits: must lie in [2, 16], got {self.bits}")

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        mask = valid_mask(lengths, wavs.shape[1], wavs.device)
        clipped = ((wavs.abs() > 1) & mask).sum(1).tolist()
        out = mulaw_decode(mulaw_encode(wavs, self.bits), self.bits, wavs.dtype) * mask
        records: list[Record] = [
            {"perturbation": self.name, "bits": self.bits, "clipped_samples": int(c)}
            for c in clipped
        ]
        return Perturbed(out, lengths.clone(), records)


def mp3_available() -> str | None:
    """``None`` if MP3 round trips work here, else what to install."""
    try:
        import lameenc  # noqa: F401
        import soundfile as sf
    except ImportError:
        return "MP3 needs lameenc and soundfile: `pip install lameenc soundfile`"
    if "MP3" not in sf.available_formats():
        return "MP3 decoding needs libsndfile >= 1.1: `pip install -U soundfile`"
    return None


def opus_available() -> str | None:
    """``None`` if Opus round trips work here, else what to install."""
    try:
        import av
    except ImportError:
        return "Opus needs PyAV with libopus: `pip install av`"
    try:
        av.codec.Codec("libopus", "w")
        av.codec.Codec("libopus", "r")
    except Exception:  # PyAV raises its own UnknownCodecError subclasses
        return "this PyAV build lacks libopus; install the PyPI wheel: `pip install -U av`"
    return None


def _require(problem: str | None, what: str) -> None:
    if problem is not None:
        raise EsslError(f"{what}: {problem}")


def _mp3_roundtrip(x: np.ndarray, kbps: int, sample_rate: int) -> np.ndarray:
    import lameenc
    import soundfile as sf

    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps)
    enc.set_in_sample_rate(sample_rate)
    enc.set_channels(1)
    enc.set_quality(2)
    pcm = (np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    data = bytes(enc.encode(pcm.tobytes()) + enc.flush())
    y, sr = sf.read(io.BytesIO(data), dtype="float32")
    y = y.reshape(-1)
    return soxr.resample(y, sr, sample_rate) if sr != sample_rate else y


def _opus_roundtrip(x: np.ndarray, kbps: int, sample_rate: int) -> np.ndarray:
    import av

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = sample_rate, "mono", "flt"
    enc.bit_rate = kbps * 1000
    enc.open()
    fs = enc.frame_size
    padded = np.zeros(-(-x.size // fs) * fs + fs, dtype=np.float32)
    padded[: x.size] = x
    packets = []
    for i in range(0, padded.size, fs):
        frame = av.AudioFrame.from_ndarray(padded[None, i : i + fs], format="flt", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create("libopus", "r")
    dec.sample_rate, dec.layout = sample_rate, "mono"
    out, sr = [], sample_rate
    for p in [*packets, None]:
        for fr in dec.decode(p):
            a = fr.to_ndarray().reshape(-1)
            out.append(
                a.astype(np.float32) / 32768 if a.dtype == np.int16 else a.astype(np.float32)
            )
            sr = fr.sample_rate
    y = np.concatenate(out) if out else np.zeros(0, np.float32)
    return soxr.resample(y, sr, sample_rate) if sr != sample_rate else y


_ROUNDTRIPS = {"mp3": _mp3_roundtrip, "opus": _opus_roundtrip}


@functools.lru_cache(maxsize=64)
def codec_delay(codec: str, kbps: int, sample_rate: int) -> int:
    """Samples by which ``codec`` at ``kbps`` delays its input (measured by cross-correlation).

    The calibration signal is 1 s of seeded, gently low-passed noise. Opus keeps one
    algorithmic delay across its modes and bitrates (the constant pre-skip of RFC 7845),
    so it is measured at 64 kbps, where the waveform survives coding best; LAME's delay
    changes when it resamples internally at low bitrates, so MP3 is measured per bitrate.
    """
    if codec == "opus":
        kbps = max(kbps, 64)
    rng = np.random.default_rng(0)
    n = sample_rate
    x = np.convolve(rng.standard_normal(n), np.hanning(9), mode="same")
    x = (0.2 * x / np.abs(x).max()).astype(np.float32)
    y = _ROUNDTRIPS[codec](x, kbps, sample_rate)
    m = 1 << (x.size + y.size).bit_length()
    corr = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(x, m)), m)
    return int(np.argmax(corr[: m // 2]))


def _aligned(y: np.ndarray, delay: int, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    seg = y[delay : delay + n]
    out[: seg.size] = seg
    return out


@dataclass(kw_only=True)
class _LossyCodec(Perturbation):
    bitrate_kbps: int
    """Constant bitrate in kbit/s."""
    sample_rate: int = 16000
    """Sample rate of the audio (Hz)."""

    def _problem(self) -> str | None:
        raise NotImplementedError

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        _require(self._problem(), self.name)
        delay = codec_delay(self.name, self.bitrate_kbps, self.sample_rate)
        roundtrip = _ROUNDTRIPS[self.name]

        def row(x: np.ndarray, b: int) -> tuple[np.ndarray, Record]:
            y = roundtrip(x, self.bitrate_kbps, self.sample_rate) if x.size else x
            rec: Record = {
                "perturbation": self.name,
                "bitrate_kbps": self.bitrate_kbps,
                "delay_samples": delay,
                "clipped_samples": int((np.abs(x) > 1).sum()),
            }
            return _aligned(y, delay, x.size), rec

        return map_valid(wavs, lengths, row)


@dataclass(kw_only=True)
class Mp3(_LossyCodec):
    """MP3 (MPEG layer III, LAME CBR) encode/decode round trip, aligned to the input."""

    name: ClassVar[str] = "mp3"

    def __post_init__(self) -> None:
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            raise ConfigError(
                f"Mp3.bitrate_kbps: {self.bitrate_kbps} is not a LAME CBR rate; "
                f"use one of {MP3_BITRATES_KBPS}"
            )
        if self.sample_rate not in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000):
            raise ConfigError(f"Mp3.sample_rate: {self.sample_rate} Hz is not an MPEG rate")

    def _problem(self) -> str | None:
        return mp3_available()


@dataclass(kw_only=True)
class Opus(_LossyCodec):
    """Opus (libopus, 20 ms frames) encode/decode round trip, aligned to the input."""

    name: ClassVar[str] = "opus"

    def __post_init__(self) -> None:
        if not 6 <= self.bitrate_kbps <= 510:
            raise ConfigError(f"Opus.bitrate_kbps: must lie in [6, 510], got {self.bitrate_kbps}")
        if self.sample_rate not in (8000, 12000, 16000, 24000, 48000):
            raise ConfigError(
                f"Opus.sample_rate: {self.sample_rate} Hz unsupported; use 8/12/16/24/48 kHz"
            )

    def _problem(self) -> str | None:
        return opus_available()
