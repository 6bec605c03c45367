"""Helpers shared by the corpus importers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from essl.data.audio import audio_info, load_audio, write_wav
from essl.errors import EsslError

T = TypeVar("T")

TARGET_SAMPLE_RATE = 16000
"""Rate of the WAVs importers write (Common Voice clips, Kaldi segments)."""

_SPLIT_PREFIXES = {"train": "train", "dev": "dev", "valid": "dev", "test": "test", "eval": "test"}


def require_dir(src: str | Path, layout: str) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise EsslError(f"{src}: corpus folder not found; pass {layout}")
    return src


def require_file(path: Path, layout: str) -> Path:
    if not path.is_file():
        raise EsslError(f"{path}: missing {path.name}; expected {layout}")
    return path


def split_from_name(name: str) -> str | None:
    """``train-clean-100`` / ``train_si284`` -> train, ``dev-*`` / ``valid*`` -> dev,
    ``test-*`` / ``eval*`` -> test; anything else -> None."""
    low = name.lower()
    for prefix, split in _SPLIT_PREFIXES.items():
        if low.startswith(prefix):
            return split
    return None


def read_table(path: Path) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line number, key, rest)`` for each non-empty line ``key rest...``."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.strip().split(maxsplit=1)
            if parts:
                yield lineno, parts[0], parts[1] if len(parts) > 1 else ""


def read_map(path: Path) -> dict[str, str]:
    """A Kaldi-style ``key value`` table as a dict (empty if the file is absent)."""
    return {k: v.strip() for _, k, v in read_table(path)} if path.is_file() else {}


def needs_rewrite(dst: Path, src: Path) -> bool:
    """True unless ``dst`` exists and is newer than ``src`` (a rerun resumes a long import)."""
    return not dst.is_file() or dst.stat().st_mtime < src.stat().st_mtime


def convert_to_wav(src: Path, dst: Path) -> float:
    """Decode ``src`` to a 16 kHz mono WAV ``dst`` (atomic) unless up to date; return seconds."""
    if needs_rewrite(dst, src):
        wave = load_audio(src, sample_rate=TARGET_SAMPLE_RATE)
        write_wav(dst, wave, TARGET_SAMPLE_RATE)
        return len(wave) / TARGET_SAMPLE_RATE
    return audio_info(dst).duration


def safe_name(uid: str) -> str:
    """A file name for id ``uid`` (path separators replaced)."""
    return uid.replace("/", "_").replace("\\", "_")


def progress(it: Iterable[T], total: int, desc: str) -> Iterable[T]:
    """A progress bar on a terminal for long imports; the plain iterable otherwise."""
    if total < 500:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="utt", disable=None)
