"""Import a Mozilla Common Voice release (Ardila et al., LREC 2020) as an essl manifest.

Layout: ``SRC`` holds ``clips/*.mp3`` and either ``train.tsv`` / ``dev.tsv`` / ``test.tsv``
(used, with their splits, when any is present) or ``validated.tsv`` (no split). Columns used:
``client_id`` (speaker), ``path`` (clip), ``sentence``, ``age`` ("twenties"...), ``gender``
(``male``/``male_masculine`` -> male, ``female``/``female_feminine`` -> female, anything else
-> None), ``accents`` (or ``accent`` in old releases), ``up_votes``/``down_votes`` (kept in
``extra``). MP3 clips are decoded to 16 kHz mono WAVs under ``OUT_DIR/wav/`` (WAVs already
there and newer than their clip are reused, so a rerun resumes).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from essl.data.importers._common import (
    TARGET_SAMPLE_RATE,
    convert_to_wav,
    progress,
    require_dir,
    require_file,
    safe_name,
)
from essl.data.manifest import Utterance, write_manifest
from essl.errors import EsslError

__all__ = ["import_commonvoice", "normalize_gender"]

LAYOUT = "a Common Voice language folder with validated.tsv (or train/dev/test.tsv) and clips/"
_SPLIT_FILES = {"train.tsv": "train", "dev.tsv": "dev", "test.tsv": "test"}
_REQUIRED = ("client_id", "path", "sentence")


def import_commonvoice(src: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/manifest.jsonl`` (and ``out_dir/wav/``) for ``src``; return its path."""
    src = require_dir(src, LAYOUT)
    out_dir = Path(out_dir)
    tables: list[tuple[Path, str | None]] = [
        (src / n, s) for n, s in _SPLIT_FILES.items() if (src / n).is_file()
    ]
    if not tables:
        tables = [(require_file(src / "validated.tsv", LAYOUT), None)]
    clips = src / "clips"
    if not clips.is_dir():
        raise EsslError(f"{clips}: missing clips/ folder; expected {LAYOUT}")
    rows = [(t, split, row) for t, split in tables for row in _read_tsv(t)]
    utts: dict[str, Utterance] = {}
    for table, split, row in progress(rows, len(rows), "commonvoice"):
        uid = Path(row["path"]).stem
        if uid in utts:  # the same clip in two tables: keep the first (train, dev, test)
            continue
        clip = clips / row["path"]
        if not clip.is_file():
            raise EsslError(
                f"{table}: clip {clip} listed for '{uid}' is missing; re-extract "
                "the release or remove the row"
            )
        rel = f"wav/{safe_name(uid)}.wav"
        duration = convert_to_wav(clip, out_dir / rel)
        utts[uid] = Utterance(
            id=uid,
            path=rel,
            duration=duration,
            sample_rate=TARGET_SAMPLE_RATE,
            speaker=row["client_id"] or None,
            sex=normalize_gender(row.get("gender")),
            accent=(row.get("accents") or row.get("accent") or "").strip() or None,
            age=(row.get("age") or "").strip() or None,
            text=row["sentence"],
            split=split,
            extra=_votes(row),
        )
    out = out_dir / "manifest.jsonl"
    write_manifest(out, sorted(utts.values(), key=lambda u: u.id))
    return out


def normalize_gender(value: str | None) -> str | None:
    """Common Voice ``gender`` -> ``"female"``, ``"male"`` or None (other/undisclosed)."""
    v = (value or "").strip().lower()
    if v in ("male", "male_masculine"):
        return "male"
    if v in ("female", "female_feminine"):
        return "female"
    return None


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise EsslError(
                f"{path}: missing column(s) {', '.join(missing)}; expected a "
                f"Common Voice TSV with columns {', '.join(_REQUIRED)}, ..."
            )
        rows = []
        for lineno, row in enumerate(reader, 2):
            if not row.get("path"):
                raise EsslError(f"{path}:{lineno}: empty 'path'; fix or remove the row")
            rows.append({k: v or "" for k, v in row.items() if k is not None})
        return rows


def _votes(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("up_votes", "down_votes"):
        if (row.get(key) or "").strip().isdigit():
            out[key] = int(row[key])
    return out
