"""Importers: existing corpus layouts -> essl manifests (``essl corpus import KIND SRC OUT``).

Each writes ``OUT_DIR/manifest.jsonl`` pointing at the original audio where it can be read
as is (absolute paths) and at 16 kHz WAVs under ``OUT_DIR/wav/`` where audio had to be decoded
or cut (Common Voice MP3 clips, Kaldi segments).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from essl.data.importers.commonvoice import import_commonvoice
from essl.data.importers.kaldi import import_kaldi
from essl.data.importers.librispeech import import_librispeech
from essl.errors import EsslError

__all__ = ["IMPORTERS", "import_commonvoice", "import_corpus", "import_kaldi", "import_librispeech"]

IMPORTERS: dict[str, Callable[[str | Path, str | Path], Path]] = {
    "librispeech": import_librispeech,
    "commonvoice": import_commonvoice,
    "kaldi": import_kaldi,
}
"""Corpus kind -> importer ``(src, out_dir) -> manifest path``."""


def import_corpus(kind: str, src: str | Path, out_dir: str | Path) -> Path:
    """Import corpus ``src`` of layout ``kind`` into ``out_dir``; return the manifest path."""
    if kind not in IMPORTERS:
        raise EsslError(f"unknown corpus kind {kind!r}; choose one of {', '.join(IMPORTERS)}")
    return IMPORTERS[kind](src, out_dir)
