"""Audio I/O: load mono float32 waveforms, inspect headers, write WAVs atomically.

Every problem a user's file can have (missing, corrupt, empty, non-finite samples, several
channels, an unexpected sample rate) raises :class:`~essl.errors.AudioError` naming the file
and the fix. Decoding uses libsndfile (via soundfile: WAV, FLAC, OGG, MP3...); resampling
uses soxr.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from essl._io import atomic_path
from essl.errors import AudioError

__all__ = ["AudioInfo", "audio_info", "load_audio", "wav_header_frames", "write_wav"]

_DOWNMIX_FIX = "downmix to mono, e.g. `sox IN.wav -c 1 OUT.wav` or `ffmpeg -i IN -ac 1 OUT.wav`"
_RESAMPLE_FIX = "resample it, e.g. `sox IN.wav -r {sr} OUT.wav`, or load with resample=True"
_MARGIN_S = 0.02  # context read on each side of a resampled window (filter support)


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says."""

    sample_rate: int
    channels: int
    frames: int
    """Samples per channel that can be decoded."""
    duration: float
    """Seconds (``frames / sample_rate``)."""
    subtype: str
    """libsndfile subtype, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"MPEG_LAYER_III"``."""


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of ``path``; raise AudioError if it is missing or cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(
            f"{path}: audio file not found; fix the path in the manifest or restore the file"
        )
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(
            f"{path}: corrupt or undecodable audio ({_reason(e)}); re-export it "
            "as WAV/FLAC or drop it (`essl corpus validate --quarantine OUT`)"
        ) from None
    return AudioInfo(
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=float(info.frames / info.samplerate),
        subtype=str(info.subtype),
    )


def load_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = 16000,
    resample: bool = True,
    start: int = 0,
    frames: int = -1,
) -> np.ndarray:
    """Load ``path`` as a mono float32 waveform ``(S,)`` at ``sample_rate``.

    ``start`` and ``frames`` select a window in samples *at the target rate* (``frames=-1``:
    to the end); the window is shorter if the file ends first. A file at another rate is
    resampled with soxr when ``resample`` is True, else AudioError is raised.
    Raises AudioError for a missing, corrupt, empty, multi-channel or non-finite file.
    """
    if start < 0 or frames < -1:
        raise ValueError(f"start must be >= 0 and frames >= -1, got start={start}, frames={frames}")
    path = Path(path)
    info = audio_info(path)
    _check_usable(path, info)
    if info.sample_rate != sample_rate and not resample:
        raise AudioError(
            f"{path}: sample rate is {info.sample_rate} Hz, expected "
            f"{sample_rate} Hz; " + _RESAMPLE_FIX.format(sr=sample_rate)
        )
    if info.sample_rate == sample_rate:
        wave = _read(path, start, frames)
    else:
        wave = _read_resampled(path, info.sample_rate, sample_rate, start, frames)
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise AudioError(
            f"{path}: {bad} non-finite samples (NaN/Inf); regenerate the file or "
            "replace those samples (e.g. np.nan_to_num) and re-save it"
        )
    return wave


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sample_rate: int) -> None:
    """Write a mono waveform ``(S,)`` as 16-bit PCM WAV, atomically.

    Samples are clipped to [-1, 1] (16-bit PCM cannot hold more); non-finite samples raise
    AudioError since they cannot be stored meaningfully.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise AudioError(
            f"{path}: expected a mono waveform of shape (S,), got {wave.shape}; "
            "average the channels first"
        )
    if not np.isfinite(wave).all():
        raise AudioError(
            f"{path}: refusing to write non-finite samples (NaN/Inf); fix the waveform first"
        )
    tmp, final = atomic_path(path)
    try:
        sf.write(
            str(tmp),
            np.clip(wave.astype(np.float32), -1.0, 1.0),
            int(sample_rate),
            subtype="PCM_16",
            format="WAV",
        )
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def wav_header_frames(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """For a RIFF/WAVE file, ``(frames the header declares, frames the data holds)``.

    libsndfile silently reads a truncated WAV up to its real end, so a cut-off file looks
    shorter rather than broken; comparing both numbers detects it. Returns None for other
    formats, unparseable headers or streaming headers with a placeholder size.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(f.fileno()).st_size
            block_align = 0
            while True:
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, clen = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(clen + (clen & 1))
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                elif cid == b"data":
                    if block_align == 0 or clen in (0, 0xFFFFFFFF):
                        return None
                    available = size - f.tell()
                    return clen // block_align, min(clen, available) // block_align
                else:
                    f.seek(clen + (clen & 1), os.SEEK_CUR)
    except OSError:
        return None


def _check_usable(path: Path, info: AudioInfo) -> None:
    if info.frames <= 0:
        raise AudioError(
            f"{path}: empty audio (0 samples); remove the entry or re-export the recording"
        )
    if info.channels != 1:
        raise AudioError(
            f"{path}: has {info.channels} channels, essl expects mono; " + _DOWNMIX_FIX
        )


def _read(path: Path, start: int, frames: int) -> np.ndarray:
    try:
        data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(
            f"{path}: corrupt audio, decoding failed ({_reason(e)}); re-export "
            "it as WAV/FLAC or drop it"
        ) from None
    return np.ascontiguousarray(data, dtype=np.float32)


def _read_resampled(path: Path, src_sr: int, dst_sr: int, start: int, frames: int) -> np.ndarray:
    """Read the target-rate window [start, start+frames) from a file at ``src_sr``.

    The read starts on a sample that falls exactly on both rates' grids (a multiple of
    ``dst_sr / gcd``) a little before ``start`` and ends a little after, so the filter sees
    real context and the result matches slicing a fully resampled file.
    """
    import soxr

    g = math.gcd(src_sr, dst_sr)
    unit_dst, unit_src = dst_sr // g, src_sr // g
    margin = int(_MARGIN_S * dst_sr)
    begin = max(0, start - margin) // unit_dst * unit_dst
    src_begin = begin // unit_dst * unit_src
    if frames < 0:
        src_frames = -1
    else:
        end = start + frames + margin
        src_frames = math.ceil(end * src_sr / dst_sr) - src_begin + 1
    data = _read(path, src_begin, src_frames)
    out = np.asarray(soxr.resample(data, src_sr, dst_sr), dtype=np.float32)
    lo = start - begin
    hi = len(out) if frames < 0 else lo + frames
    return np.ascontiguousarray(out[lo:hi])


def _reason(e: BaseException) -> str:
    msg = str(e)
    return msg.split(": ", 1)[-1] if ": " in msg else msg
