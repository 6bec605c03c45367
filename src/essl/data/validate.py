"""Validate a manifest and every audio file it names; optionally quarantine the bad entries.

``essl corpus validate MANIFEST [--quarantine OUT]`` calls :func:`validate_manifest`. The
manifest is read line by line so one malformed line becomes one rejected entry with its
reason instead of aborting the run. Each entry is checked for (problem kinds in brackets):

- a well-formed line: JSON object, required fields, types, unique id [malformed, duplicate_id];
  known values for ``sex`` / ``split``, positive duration and rate, a ``twin`` that exists
  [bad_field];
- audio: present [missing], decodable [corrupt], not cut off — a WAV whose header declares
  more frames than the file holds, or a stream that decodes short [truncated], non-empty
  [empty], mono [multichannel], 16 kHz and equal to the entry's ``sample_rate``
  [wrong_rate], finite samples [non_finite], ``duration`` within 10 ms of the file's
  [duration_mismatch];
- ``words`` / ``phones``: each span has start <= end inside [0, duration] and spans are
  ordered without overlap [bad_alignment].
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from essl._io import atomic_open
from essl.data.audio import AudioInfo, wav_header_frames
from essl.data.manifest import SEXES, SPLITS, Utterance, resolve_audio_path, write_manifest
from essl.errors import ManifestError

__all__ = ["PROBLEM_KINDS", "EntryReport", "Problem", "ValidationReport", "validate_manifest"]

EXPECTED_SAMPLE_RATE = 16000
DURATION_TOLERANCE_S = 0.010
"""Largest accepted gap between an entry's ``duration`` and its file's."""
ALIGN_TOLERANCE_S = 0.010
"""How far a span may reach outside [0, duration] (rounding of aligner output)."""
_OVERLAP_EPS_S = 1e-6

PROBLEM_KINDS: dict[str, str] = {
    "malformed": "manifest line is not a valid entry",
    "duplicate_id": "id already used by an earlier line",
    "bad_field": "field value out of range",
    "missing": "audio file not found",
    "corrupt": "audio cannot be decoded",
    "truncated": "audio file is cut off",
    "empty": "audio has no samples",
    "multichannel": "audio is not mono",
    "wrong_rate": "audio is wrongly sampled",
    "non_finite": "audio has NaN/Inf samples",
    "duration_mismatch": "duration differs from the audio",
    "bad_alignment": "word/phone alignment is invalid",
}
"""Every problem kind a report can contain, with a one-line description."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an entry."""

    kind: str
    """A key of :data:`PROBLEM_KINDS`."""
    message: str
    """What is wrong, naming the item, and the fix."""


@dataclass
class EntryReport:
    """The verdict on one manifest line."""

    line: int
    """1-based line number in the manifest."""
    raw: str
    """The line as written (without its newline)."""
    id: str | None
    """The entry's id when it could be read."""
    utt: Utterance | None
    """The parsed entry (None when the line is malformed)."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(f"[{p.kind}] {p.message}" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.id,
            "ok": self.ok,
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
        }


@dataclass
class ValidationReport:
    """Per-entry verdicts on a manifest; ``ok`` only when it has entries and all are good."""

    manifest: Path
    entries: list[EntryReport]
    seconds: float
    """Wall-clock time the validation took."""
    quarantine: Path | None = None
    """Folder holding ``manifest.jsonl`` (good) and ``rejects.jsonl`` (bad), if written."""

    @property
    def ok(self) -> bool:
        return bool(self.entries) and all(e.ok for e in self.entries)

    @property
    def good(self) -> list[EntryReport]:
        return [e for e in self.entries if e.ok]

    @property
    def bad(self) -> list[EntryReport]:
        return [e for e in self.entries if not e.ok]

    def counts(self) -> dict[str, int]:
        """Number of entries showing each problem kind (an entry may show several)."""
        c = Counter(k for e in self.entries for k in {p.kind for p in e.problems})
        return {k: c[k] for k in PROBLEM_KINDS if c[k]}

    @property
    def entries_per_s(self) -> float:
        return len(self.entries) / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        n, bad = len(self.entries), self.bad
        head = "OK" if self.ok else "FAILED"
        lines = [
            f"{head}: {self.manifest}: {n - len(bad)}/{n} entries good, {len(bad)} bad "
            f"({self.seconds:.2f} s, {self.entries_per_s:.0f} entries/s)"
        ]
        if not self.entries:
            lines.append("  the manifest has no entries")
        for kind, count in self.counts().items():
            lines.append(f"  {kind:<18} {count:>6}  {PROBLEM_KINDS[kind]}")
        for e in bad:
            lines.append(f"  line {e.line} ({e.id or '?'}): {e.reason}")
        if self.quarantine is not None:
            lines.append(
                f"quarantine: {self.quarantine}/manifest.jsonl ({n - len(bad)} good), "
                f"{self.quarantine}/rejects.jsonl ({len(bad)} bad)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest),
            "ok": self.ok,
            "entries": len(self.entries),
            "good": len(self.good),
            "bad": len(self.bad),
            "counts": self.counts(),
            "seconds": round(self.seconds, 4),
            "quarantine": str(self.quarantine) if self.quarantine else None,
            "results": [e.to_dict() for e in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def validate_manifest(
    manifest_path: str | Path,
    quarantine: str | Path | None = None,
    *,
    check_audio: bool = True,
    jobs: int | None = None,
) -> ValidationReport:
    """Check every line of ``manifest_path`` and (``check_audio``) the audio it names.

    With ``quarantine``, write ``quarantine/manifest.jsonl`` with every good entry (paths
    rewritten to resolve from there) and ``quarantine/rejects.jsonl`` with each bad line and
    its reason, both atomically. ``jobs`` threads read audio (default: up to 4; libsndfile
    and numpy release the GIL). Raises ManifestError only if the manifest cannot be read.
    """
    t0 = time.perf_counter()
    path = Path(manifest_path)
    entries = _parse_lines(path)
    _check_twins(entries)
    for e in entries:
        if e.utt is not None:
            e.problems.extend(_check_alignments(e.utt))
    if check_audio:
        todo = [e for e in entries if e.utt is not None]
        files = [str(resolve_audio_path(path, e.utt)) for e in todo if e.utt is not None]
        jobs = jobs or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = pool.map(_check_audio, files, [e.utt for e in todo], chunksize=16)
            for e, found in zip(todo, _progress(results, len(todo)), strict=True):
                e.problems.extend(found)
    report = ValidationReport(manifest=path, entries=entries, seconds=0.0)
    if quarantine is not None:
        report.quarantine = _write_quarantine(path, entries, Path(quarantine))
    report.seconds = time.perf_counter() - t0
    return report


def _progress(it: Any, total: int) -> Any:
    if total < 2000:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="validate", unit="utt", disable=None)


def _parse_lines(path: Path) -> list[EntryReport]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(
            f"{path}: cannot read the manifest ({e}); it must be UTF-8 JSONL"
        ) from None
    entries: list[EntryReport] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        entry = _parse_line(f"{path}:{lineno}", lineno, raw)
        entries.append(entry)
        if entry.utt is None:
            continue
        if entry.utt.id in seen:
            msg = (
                f"id '{entry.utt.id}' already used on line {seen[entry.utt.id]}; ids must be unique"
            )
            entry.problems.append(Problem("duplicate_id", msg))
        else:
            seen[entry.utt.id] = lineno
            entry.problems.extend(_check_fields(entry.utt))
    return entries


def _parse_line(where: str, lineno: int, raw: str) -> EntryReport:
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        msg = f"{where}: not valid JSON ({e.msg}); each line must be one JSON object"
        return EntryReport(
            line=lineno, raw=raw, id=None, utt=None, problems=[Problem("malformed", msg)]
        )
    uid = d.get("id") if isinstance(d, dict) and isinstance(d.get("id"), str) else None
    try:
        utt = Utterance.from_dict(d, where)
    except (ManifestError, TypeError, ValueError, OverflowError) as e:
        # Utterance.from_dict lets a few conversions escape (e.g. sample_rate Infinity)
        msg = str(e) if isinstance(e, ManifestError) else f"{where}: {e}; fix the field values"
        return EntryReport(
            line=lineno, raw=raw, id=uid, utt=None, problems=[Problem("malformed", msg)]
        )
    return EntryReport(line=lineno, raw=raw, id=utt.id, utt=utt)


def _check_fields(u: Utterance) -> list[Problem]:
    out = []
    if not (math.isfinite(u.duration) and u.duration > 0):
        msg = f"duration {u.duration} must be a positive number of seconds; set it from the audio"
        out.append(Problem("bad_field", msg))
    if u.sample_rate <= 0:
        out.append(Problem("bad_field", f"sample_rate {u.sample_rate} must be positive"))
    if u.sex is not None and u.sex not in SEXES:
        out.append(Problem("bad_field", f"sex {u.sex!r} must be one of {SEXES} or null"))
    if u.split is not None and u.split not in SPLITS:
        out.append(Problem("bad_field", f"split {u.split!r} must be one of {SPLITS} or null"))
    return out


def _check_twins(entries: Sequence[EntryReport]) -> None:
    ids = {e.utt.id for e in entries if e.utt is not None}
    for e in entries:
        if e.utt is not None and e.utt.twin is not None and e.utt.twin not in ids:
            msg = f"twin '{e.utt.twin}' is not an id in this manifest; fix it or set it to null"
            e.problems.append(Problem("bad_field", msg))


def _check_alignments(u: Utterance) -> list[Problem]:
    out = []
    for tier in ("words", "phones"):
        spans = getattr(u, tier) or ()
        prev_end, prev = -math.inf, ""
        for i, (label, start, end) in enumerate(spans):
            where = f"{tier}[{i}] {label!r} ({start:g}-{end:g} s)"
            msg = None
            if not (math.isfinite(start) and math.isfinite(end)):
                msg = f"{where} has a non-finite time"
            elif start > end:
                msg = f"{where} starts after it ends"
            elif start < -ALIGN_TOLERANCE_S or end > u.duration + ALIGN_TOLERANCE_S:
                msg = f"{where} lies outside the audio [0, {u.duration:g}] s"
            elif start < prev_end - _OVERLAP_EPS_S:
                msg = f"{where} overlaps or precedes the previous span {prev}"
            if msg is not None:
                fix = "re-run the aligner or fix the times so spans are ordered and disjoint"
                out.append(Problem("bad_alignment", f"{msg}; {fix}"))
                break  # one message per tier: later spans are usually off by the same cause
            prev_end, prev = end, where
    return out


def _check_audio(file: str, u: Utterance) -> list[Problem]:
    """Open ``file`` once, check its header against entry ``u``, then decode it fully."""
    if not os.path.isfile(file):
        return [Problem("missing", f"{file}: audio file not found; fix the path or restore it")]
    try:
        with sf.SoundFile(file) as f:
            return _check_open(file, f, u)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        msg = f"{file}: corrupt or undecodable audio ({e}); re-export it or drop the entry"
        return [Problem("corrupt", msg)]


def _check_open(file: str, f: sf.SoundFile, u: Utterance) -> list[Problem]:
    sr = int(f.samplerate)
    info = AudioInfo(
        sample_rate=sr,
        channels=f.channels,
        frames=f.frames,
        duration=f.frames / sr,
        subtype=f.subtype,
    )
    declared = wav_header_frames(file)
    if declared is not None and declared[0] > declared[1]:
        return [Problem("truncated", _truncated_msg(file, info, declared[0], declared[1]))]
    if info.frames <= 0:
        msg = f"{file}: empty audio (0 samples); re-export the recording or drop the entry"
        return [Problem("empty", msg)]
    out = []
    if info.channels != 1:
        what = "stereo" if info.channels == 2 else f"{info.channels} channels"
        fix = "e.g. `sox IN.wav -c 1 OUT.wav` or `ffmpeg -i IN -ac 1 OUT.wav`"
        out.append(Problem("multichannel", f"{file}: {what}, essl expects mono; downmix, {fix}"))
    out.extend(_check_rate(file, info, u))
    return out + _check_samples(file, f.read(dtype="float32", always_2d=True), info, u)


def _check_samples(file: str, data: np.ndarray, info: AudioInfo, u: Utterance) -> list[Problem]:
    """``data`` (S, channels) must hold every frame, all finite, lasting ``u.duration``."""
    if len(data) < info.frames:
        return [Problem("truncated", _truncated_msg(file, info, info.frames, len(data)))]
    out = []
    finite = np.isfinite(data)
    if not finite.all():
        first = int(np.argmin(finite.all(axis=1))) / info.sample_rate
        msg = (
            f"{file}: {int((~finite).sum())} NaN/Inf samples (first at {first:.3f} s); "
            "regenerate the file or replace them (np.nan_to_num) and re-save"
        )
        out.append(Problem("non_finite", msg))
    actual = len(data) / info.sample_rate
    if abs(actual - u.duration) > DURATION_TOLERANCE_S:
        msg = (
            f"entry says {u.duration:.3f} s but {file} lasts {actual:.3f} s; "
            f"set duration to {actual:.6f}"
        )
        out.append(Problem("duration_mismatch", msg))
    return out


def _check_rate(file: str, info: AudioInfo, u: Utterance) -> list[Problem]:
    sr = info.sample_rate
    if sr != EXPECTED_SAMPLE_RATE:
        return [
            Problem(
                "wrong_rate",
                f"{file}: sampled at {sr} Hz (entry says "
                f"{u.sample_rate} Hz), essl expects {EXPECTED_SAMPLE_RATE} Hz; resample, "
                f"e.g. `sox IN.wav -r {EXPECTED_SAMPLE_RATE} OUT.wav`",
            )
        ]
    if u.sample_rate != sr:
        return [
            Problem(
                "wrong_rate",
                f"entry says sample_rate {u.sample_rate} but {file} is "
                f"{sr} Hz; set sample_rate to {sr}",
            )
        ]
    return []


def _truncated_msg(file: str, info: AudioInfo, declared: int, held: int) -> str:
    sr = info.sample_rate
    return (
        f"{file}: truncated, the header declares {declared} frames "
        f"({declared / sr:.3f} s) but the file holds only {held} ({held / sr:.3f} s); "
        "re-copy or re-export it"
    )


def _write_quarantine(manifest: Path, entries: Sequence[EntryReport], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    good = []
    for e in entries:
        if e.ok and e.utt is not None:
            good.append(e.utt.replace(path=_path_from(out, manifest, e.utt)))
    write_manifest(out / "manifest.jsonl", good)
    with atomic_open(out / "rejects.jsonl") as f:
        for e in entries:
            if not e.ok:
                rec = {
                    "line": e.line,
                    "id": e.id,
                    "reason": e.reason,
                    "raw": e.raw,
                    "problems": [{"kind": p.kind, "message": p.message} for p in e.problems],
                }
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return out


def _path_from(out: Path, manifest: Path, u: Utterance) -> str:
    """``u``'s audio path as seen from folder ``out``: absolute stays absolute."""
    if Path(u.path).is_absolute():
        return u.path
    target = resolve_audio_path(manifest, u).resolve()
    return os.path.relpath(target, out.resolve())
