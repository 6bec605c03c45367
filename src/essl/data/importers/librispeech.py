"""Import a LibriSpeech split (Panayotov et al., ICASSP 2015) as an essl manifest.

Layout: ``SRC = LibriSpeech/<split>`` holds ``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt``
(``UTT-ID TEXT`` per line) and ``SPEAKER/CHAPTER/UTT-ID.flac``; ``SPEAKERS.TXT`` in SRC or its
parent gives each reader's sex (``ID | SEX | SUBSET | MINUTES | NAME``, ``;`` comments).
Entries point at the original FLAC files (absolute paths); nothing is copied.
"""

from __future__ import annotations

from pathlib import Path

from essl.data.audio import audio_info
from essl.data.importers._common import progress, read_table, require_dir, split_from_name
from essl.data.manifest import Utterance, write_manifest
from essl.errors import EsslError

__all__ = ["import_librispeech", "read_speakers_txt"]

LAYOUT = "a LibriSpeech split folder such as LibriSpeech/dev-clean"
_SEX = {"F": "female", "M": "male"}


def import_librispeech(src: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/manifest.jsonl`` for the LibriSpeech split ``src``; return its path."""
    src = require_dir(src, LAYOUT).resolve()
    trans_files = sorted(src.glob("*/*/*.trans.txt"))
    if not trans_files:
        raise EsslError(f"{src}: no SPEAKER/CHAPTER/*.trans.txt found; expected {LAYOUT}")
    sexes = _speaker_sexes(src)
    split = split_from_name(src.name)
    rows = [(t, lineno, uid, text) for t in trans_files for lineno, uid, text in read_table(t)]
    utts = []
    for trans, lineno, uid, text in progress(rows, len(rows), "librispeech"):
        audio = trans.parent / f"{uid}.flac"
        if not audio.is_file():
            raise EsslError(
                f"{trans}:{lineno}: audio {audio.name} for '{uid}' is missing; "
                "re-extract the split archive"
            )
        info = audio_info(audio)
        speaker = uid.split("-", 1)[0]
        utts.append(
            Utterance(
                id=uid,
                path=str(audio),
                duration=info.duration,
                sample_rate=info.sample_rate,
                speaker=speaker,
                sex=sexes.get(speaker),
                text=text.strip(),
                split=split,
            )
        )
    out = Path(out_dir) / "manifest.jsonl"
    write_manifest(out, sorted(utts, key=lambda u: u.id))
    return out


def _speaker_sexes(src: Path) -> dict[str, str]:
    for folder in (src, src.parent):
        path = folder / "SPEAKERS.TXT"
        if path.is_file():
            return read_speakers_txt(path)
    return {}


def read_speakers_txt(path: Path) -> dict[str, str]:
    """Speaker id -> ``"female"``/``"male"`` from LibriSpeech's ``SPEAKERS.TXT``."""
    sexes: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith(";"):
                continue
            cols = [c.strip() for c in line.split("|", 4)]  # names may contain '|'
            if len(cols) < 2 or cols[1].upper() not in _SEX:
                raise EsslError(
                    f"{path}:{lineno}: expected 'ID | SEX | SUBSET | MINUTES | "
                    f"NAME' with SEX F or M, got {line.strip()!r}"
                )
            sexes[cols[0]] = _SEX[cols[1].upper()]
    return sexes
