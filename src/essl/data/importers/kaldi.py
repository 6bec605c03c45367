"""Import a Kaldi data directory (Povey et al., ASRU 2011) as an essl manifest.

Files: ``wav.scp`` (required; ``RECORDING PATH`` per line), and optionally ``segments``
(``UTT RECORDING START END``, seconds, END -1 = to the end), ``text`` (``UTT WORDS...``),
``utt2spk`` (``UTT SPEAKER``) and ``spk2gender`` (``SPEAKER m|f``). Without ``segments`` each
recording is an utterance pointing at the original file (absolute path). With ``segments``
each segment is cut out and written as its own 16 kHz WAV under ``OUT_DIR/wav/`` (atomic;
each recording is decoded once). Piped ``wav.scp`` entries (``cmd ... |``) are
refused: essl reads plain audio files only. Relative paths resolve from the current folder,
the data dir, or the recipe folder two levels up (Kaldi's ``data/<set>`` convention).
The split is guessed from the folder name (``train*``, ``dev*``, ``test*``/``eval*``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from essl.data.audio import audio_info, load_audio, write_wav
from essl.data.importers._common import (
    TARGET_SAMPLE_RATE,
    progress,
    read_map,
    read_table,
    require_dir,
    require_file,
    safe_name,
    split_from_name,
)
from essl.data.manifest import Utterance, write_manifest
from essl.errors import EsslError

__all__ = ["import_kaldi", "read_wav_scp"]

LAYOUT = "a Kaldi data dir with wav.scp (and optionally segments, text, utt2spk, spk2gender)"
_SEX = {"f": "female", "m": "male"}
_END_TOLERANCE_S = 0.05
Segment = tuple[str, str, float, float]  # (utt, recording, start_s, end_s; -1 = to the end)


def import_kaldi(src: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir/manifest.jsonl`` for the Kaldi data dir ``src``; return its path."""
    src = require_dir(src, LAYOUT).resolve()
    out_dir = Path(out_dir)
    wavs = read_wav_scp(require_file(src / "wav.scp", LAYOUT))
    text, utt2spk = read_map(src / "text"), read_map(src / "utt2spk")
    spk2sex = _read_spk2gender(src / "spk2gender")
    split = split_from_name(src.name)
    if (src / "segments").is_file():
        durations = _cut_segments(_read_segments(src / "segments", wavs), wavs, out_dir)
        paths = {u: f"wav/{safe_name(u)}.wav" for u in durations}
        rates = dict.fromkeys(durations, TARGET_SAMPLE_RATE)
    else:
        infos = {u: audio_info(p) for u, p in progress(wavs.items(), len(wavs), "kaldi")}
        durations = {u: i.duration for u, i in infos.items()}
        paths = {u: str(p) for u, p in wavs.items()}
        rates = {u: i.sample_rate for u, i in infos.items()}
    utts = []
    for uid in sorted(durations):
        spk = utt2spk.get(uid)
        utts.append(
            Utterance(
                id=uid,
                path=paths[uid],
                duration=durations[uid],
                sample_rate=rates[uid],
                speaker=spk,
                sex=spk2sex.get(spk) if spk else None,
                text=text.get(uid),
                split=split,
            )
        )
    out = out_dir / "manifest.jsonl"
    write_manifest(out, utts)
    return out


def read_wav_scp(path: Path) -> dict[str, Path]:
    """Recording id -> audio file; refuses piped commands and files that do not exist."""
    roots = [Path.cwd(), path.parent, path.parent.parent.parent]
    out: dict[str, Path] = {}
    for lineno, rec, value in read_table(path):
        where = f"{path}:{lineno}"
        if value.endswith("|"):
            cmd = value[:-1].strip()
            raise EsslError(
                f"{where}: '{rec}' is a piped command ({value!r}); essl reads plain audio files "
                f"only; convert to plain files first, e.g. `{cmd} > wav/{rec}.wav`, and point "
                f"wav.scp at them ('{rec} wav/{rec}.wav')"
            )
        if not value:
            raise EsslError(f"{where}: no path for '{rec}'; each line must be 'RECORDING PATH'")
        if rec in out:
            raise EsslError(f"{where}: duplicate recording id '{rec}'; ids must be unique")
        p = Path(value)
        found = p if p.is_absolute() else next((r / p for r in roots if (r / p).is_file()), None)
        if found is None or not found.is_file():
            tried = [str(p)] if p.is_absolute() else [str(r / p) for r in roots]
            raise EsslError(
                f"{where}: audio for '{rec}' not found (tried {', '.join(tried)}); "
                "fix the path or make it absolute"
            )
        out[rec] = found.resolve()
    if not out:
        raise EsslError(f"{path}: wav.scp is empty; expected 'RECORDING PATH' lines")
    return out


def _read_segments(path: Path, wavs: dict[str, Path]) -> list[Segment]:
    segs: list[Segment] = []
    for lineno, utt, rest in read_table(path):
        where = f"{path}:{lineno}"
        parts = rest.split()
        try:
            rec, start, end = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise EsslError(f"{where}: expected 'UTT RECORDING START END' (seconds)") from None
        if rec not in wavs:
            raise EsslError(
                f"{where}: recording '{rec}' of '{utt}' is not in wav.scp; add it "
                "or drop the segment"
            )
        if start < 0 or (end != -1 and end <= start):
            raise EsslError(
                f"{where}: segment '{utt}' has start {start} and end {end}; need "
                "0 <= start < end (or end -1 for 'to the end')"
            )
        segs.append((utt, rec, start, end))
    if len({s[0] for s in segs}) != len(segs):
        raise EsslError(f"{path}: duplicate segment ids; ids must be unique")
    return segs


def _cut_segments(segs: list[Segment], wavs: dict[str, Path], out_dir: Path) -> dict[str, float]:
    """Write each segment as ``out_dir/wav/<utt>.wav`` at 16 kHz; return utt -> seconds."""
    by_rec: dict[str, list[Segment]] = defaultdict(list)
    for s in segs:
        by_rec[s[1]].append(s)
    durations: dict[str, float] = {}
    sr = TARGET_SAMPLE_RATE
    for rec, group in progress(by_rec.items(), len(by_rec), "kaldi segments"):
        src = wavs[rec]
        wave = load_audio(src, sample_rate=sr)
        for utt, _, start, end in group:
            if end != -1 and end > len(wave) / sr + _END_TOLERANCE_S:
                raise EsslError(
                    f"segment '{utt}' ends at {end} s but {src} lasts only "
                    f"{len(wave) / sr:.3f} s; fix the segments file"
                )
            piece = wave[round(start * sr) : None if end == -1 else round(end * sr)]
            if len(piece) == 0:
                raise EsslError(
                    f"segment '{utt}' ({start}-{end} s) is empty in {src}; fix the segments file"
                )
            write_wav(out_dir / "wav" / f"{safe_name(utt)}.wav", piece, sr)
            durations[utt] = len(piece) / sr
    return durations


def _read_spk2gender(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for lineno, spk, g in read_table(path):
        if g.strip().lower() not in _SEX:
            raise EsslError(f"{path}:{lineno}: gender of '{spk}' must be 'm' or 'f', got {g!r}")
        out[spk] = _SEX[g.strip().lower()]
    return out
