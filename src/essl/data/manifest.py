"""Manifest records: one :class:`Utterance` per line of a JSONL file.

A manifest line (times in seconds, ``path`` relative to the manifest's folder)::

    {"id": "s03_0012", "path": "wav/s03_0012.wav", "duration": 2.41, "sample_rate": 16000,
     "speaker": "s03", "sex": "female", "accent": "en-us", "age": null, "text": "...",
     "words": [["the", 0.12, 0.25], ...], "phones": [["sil", 0.0, 0.12], ["D", 0.12, 0.17], ...],
     "split": "train", "twin": "s08_0012"}

Unknown keys go to ``extra`` (kept on round trips); a malformed line raises
:class:`~essl.errors.ManifestError` naming the file, the line and the fix.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from essl._io import atomic_open
from essl.errors import ManifestError

__all__ = ["SEXES", "SPLITS", "Span", "Utterance", "read_manifest", "write_manifest"]

Span = tuple[str, float, float]
"""A labelled time span ``(label, start_s, end_s)``."""

SEXES = ("female", "male")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, kw_only=True)
class Utterance:
    """One utterance of a corpus; everything but ``id``, ``path`` and ``duration`` is optional."""

    id: str
    """Unique within the manifest."""
    path: str
    """Audio file, relative to the manifest's folder (or absolute)."""
    duration: float
    """Seconds."""
    sample_rate: int = 16000
    speaker: str | None = None
    sex: str | None = None
    """``"female"``, ``"male"`` or None when unknown."""
    accent: str | None = None
    age: int | str | None = None
    """Years, an age band such as ``"thirties"``, or None when unknown."""
    text: str | None = None
    words: tuple[Span, ...] | None = None
    phones: tuple[Span, ...] | None = None
    """Phone spans; pauses are labelled ``sil``."""
    split: str | None = None
    twin: str | None = None
    """Id of the counterfactual twin: same text, matched speaker of the other sex."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields essl does not know, kept as they are."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "extra":
                continue
            if f.name in ("words", "phones") and v is not None:
                v = [list(s) for s in v]
            d[f.name] = v
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "manifest entry") -> Utterance:
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {type(d).__name__}")
        for key in ("id", "path", "duration"):
            if key not in d:
                raise ManifestError(f"{where}: missing required field '{key}'; add it to the entry")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kw: dict[str, Any] = {k: v for k, v in d.items() if k in known}
        kw["extra"] = {k: v for k, v in d.items() if k not in known}
        if not isinstance(kw["id"], str) or not kw["id"]:
            raise ManifestError(f"{where}: 'id' must be a non-empty string")
        if not isinstance(kw["path"], str) or not kw["path"]:
            raise ManifestError(f"{where}: 'path' must be a non-empty string")
        try:
            kw["duration"] = float(kw["duration"])
            kw["sample_rate"] = int(kw.get("sample_rate", 16000))
        except (TypeError, ValueError):
            raise ManifestError(f"{where}: 'duration' and 'sample_rate' must be numbers") from None
        for key in ("words", "phones"):
            if kw.get(key) is not None:
                kw[key] = _spans(kw[key], f"{where}: '{key}'")
        return cls(**kw)

    @property
    def has_alignments(self) -> bool:
        return self.phones is not None and len(self.phones) > 0

    def replace(self, **changes: Any) -> Utterance:
        return dataclasses.replace(self, **changes)


def _spans(value: Any, where: str) -> tuple[Span, ...]:
    if not isinstance(value, list):
        raise ManifestError(f"{where} must be a list of [label, start, end]")
    out = []
    for i, s in enumerate(value):
        if not (isinstance(s, (list, tuple)) and len(s) == 3):
            raise ManifestError(f"{where}[{i}] must be [label, start, end], got {s!r}")
        try:
            out.append((str(s[0]), float(s[1]), float(s[2])))
        except (TypeError, ValueError):
            raise ManifestError(f"{where}[{i}]: start and end must be numbers, got {s!r}") from None
    return tuple(out)


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read a JSONL manifest; ids must be unique. Raises ManifestError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: manifest not found; build one with `essl corpus synth` "
            "or `essl corpus import`"
        )
    utts: list[Utterance] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(
                    f"{where}: not valid JSON ({e.msg}); each line must be one JSON object"
                ) from None
            u = Utterance.from_dict(d, where)
            if u.id in seen:
                raise ManifestError(f"{where}: duplicate id '{u.id}'; ids must be unique")
            seen.add(u.id)
            utts.append(u)
    if not utts:
        raise ManifestError(f"{path}: manifest is empty")
    return utts


def write_manifest(path: str | Path, utts: Iterable[Utterance]) -> None:
    """Write a JSONL manifest atomically (compact, key order fixed: byte-identical per content)."""
    with atomic_open(path) as f:
        for u in utts:
            f.write(json.dumps(u.to_dict(), ensure_ascii=False, separators=(", ", ": ")) + "\n")


def resolve_audio_path(manifest_path: str | Path, utt: Utterance) -> Path:
    """The audio file of ``utt``, resolved against its manifest's folder."""
    p = Path(utt.path)
    return p if p.is_absolute() else Path(manifest_path).parent / p


def by_split(utts: Sequence[Utterance], split: str) -> list[Utterance]:
    return [u for u in utts if u.split == split]
