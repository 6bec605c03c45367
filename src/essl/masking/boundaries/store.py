"""Precomputed boundaries of a corpus: one JSONL file next to the manifest.

Layout (``boundaries.jsonl`` by default, written atomically)::

    {"essl_boundaries": 1, "detector": "spectral", "params": {...}, "frame_rate": 100.0,
     "manifest": "manifest.jsonl", "num_utterances": 69}
    {"id": "spk000_0000", "boundaries": [0.1304, 0.2336, ...]}
    ...

The first line is the metadata; each further line holds the internal boundary times (seconds,
sorted, utterance start and end excluded) of one utterance. The loader reads it once with
:func:`read_boundaries` and turns each crop's times into frame segments with
:func:`essl.masking.segment.crop_segments`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from essl._io import atomic_open
from essl.data.manifest import Utterance
from essl.errors import EsslError

__all__ = [
    "Boundaries",
    "BoundaryFileError",
    "default_boundaries_path",
    "oracle_boundaries",
    "read_boundaries",
    "write_boundaries",
]

FORMAT_VERSION = 1


class BoundaryFileError(EsslError):
    """A boundaries file that is missing, malformed or does not fit the manifest."""


@dataclass
class Boundaries:
    """Boundary times per utterance id, with how they were made."""

    times: dict[str, list[float]]
    """``{utterance id: sorted internal boundary times in seconds}``."""
    meta: dict[str, Any] = field(default_factory=dict)
    """``detector``, ``params``, ``frame_rate``, ``manifest``, ``num_utterances``."""

    def get(self, utt_id: str) -> list[float] | None:
        return self.times.get(utt_id)


def default_boundaries_path(manifest_path: str | Path) -> Path:
    """``boundaries.jsonl`` in the manifest's folder."""
    return Path(manifest_path).parent / "boundaries.jsonl"


def oracle_boundaries(utts: Sequence[Utterance], unit: str = "phones") -> dict[str, list[float]]:
    """Boundaries from the manifest's own alignments (``unit`` = ``phones`` or ``words``).

    Word boundaries are the onsets and offsets of words (pauses between words become their
    own segments), excluding the utterance edges.
    """
    out: dict[str, list[float]] = {}
    for u in utts:
        spans = u.phones if unit == "phones" else u.words
        if not spans:
            continue
        edges = {round(t, 6) for _, s, e in spans for t in (s, e)}
        out[u.id] = sorted(t for t in edges if 0.0 < t < u.duration - 1e-6)
    return out


def write_boundaries(
    path: str | Path, times: Mapping[str, Sequence[float]], meta: Mapping[str, Any]
) -> Path:
    """Atomically write ``times`` and JSON-able ``meta`` (see the module docstring)."""
    header = {"essl_boundaries": FORMAT_VERSION, **meta, "num_utterances": len(times)}
    with atomic_open(path) as f:
        f.write(json.dumps(header, sort_keys=True) + "\n")
        for uid, ts in times.items():
            rounded = [round(float(t), 5) for t in sorted(ts)]
            f.write(json.dumps({"id": uid, "boundaries": rounded}) + "\n")
    return Path(path)


def read_boundaries(path: str | Path) -> Boundaries:
    """Read a file written by :func:`write_boundaries`; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise BoundaryFileError(
            f"{path}: boundaries file not found; create it with "
            "`essl boundaries detect MANIFEST --detector spectral --out FILE`"
        )
    times: dict[str, list[float]] = {}
    meta: dict[str, Any] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise BoundaryFileError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if lineno == 1:
                if not isinstance(d, dict) or "essl_boundaries" not in d:
                    raise BoundaryFileError(
                        f"{path}:1: missing the metadata line; regenerate the file with "
                        "`essl boundaries detect`"
                    )
                meta = d
                continue
            if not isinstance(d, dict) or not isinstance(d.get("id"), str):
                raise BoundaryFileError(
                    f"{path}:{lineno}: expected {{'id': ..., 'boundaries': [...]}}"
                )
            ts = d.get("boundaries")
            if not isinstance(ts, list) or not all(isinstance(t, (int, float)) for t in ts):
                raise BoundaryFileError(f"{path}:{lineno}: 'boundaries' must be a list of seconds")
            times[d["id"]] = sorted(float(t) for t in ts)
    if not meta:
        raise BoundaryFileError(f"{path}: empty boundaries file; regenerate it")
    return Boundaries(times=times, meta=meta)
