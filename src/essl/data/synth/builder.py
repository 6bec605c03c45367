"""Build the corpus: synthesize in worker processes, resample to 16 kHz, write WAVs and the
manifest into a temporary sibling folder, then move it into place.

An interrupted build leaves either no corpus or the previous one, never a manifest pointing
at missing audio (a hard kill can leave a hidden ``.<name>.*.building`` folder behind). A
non-empty output folder that is not a previous synthetic corpus (it has no ``corpus.json``
written by this builder) is refused.

Byte-identical output for a seed, whatever ``jobs``: see :data:`CHUNK` and
:mod:`essl.data.synth._espeak` for the library state this works around; resampling runs in
float32 because soxr's int16 output path dithers.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from essl._io import write_json
from essl.config import to_dict
from essl.data.manifest import Utterance, write_manifest
from essl.data.synth._espeak import Engine, data_path, library_version
from essl.data.synth.align import align
from essl.data.synth.config import SynthConfig
from essl.data.synth.plan import SAMPLE_RATE, SPLIT_RULE, UttPlan, plan_corpus
from essl.data.synth.voices import check_accents
from essl.errors import ConfigError, EsslError

__all__ = ["PHONE_SET", "build_corpus"]

BUILDER = "essl.data.synth"
PHONE_SET = (
    "espeak-ng phoneme mnemonics of the English phoneme tables (e.g. D, @, aU, tS), "
    "stress marks removed; pauses and silence are 'sil'"
)

_ENGINE: Engine | None = None
"""The worker process's engine, created once by :func:`_init_worker`."""


def _init_worker(data_dir: Path) -> None:
    global _ENGINE
    _ENGINE = Engine(data_dir)


def _write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono PCM_16 WAV. The stdlib writer does not fsync each file (libsndfile does,
    which costs ~10 ms a file); the build folder only becomes the corpus after all are written.
    """
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(audio.astype("<i2").tobytes())


def _synthesize(job: tuple[UttPlan, Path]) -> Utterance:
    """Speak one planned utterance, write ``<wav_dir>/<id>.wav`` and return its record."""
    plan, wav_dir = job
    assert _ENGINE is not None, "worker not initialised"
    spk = plan.speaker
    syn = _ENGINE.synthesize(
        plan.text,
        spk.voice,
        pitch=spk.pitch,
        pitch_range=spk.pitch_range,
        rate=spk.rate,
        seed=plan.seed,
    )
    # float32 in and out, rounded here: soxr's own int16 output path dithers (not reproducible)
    speech = soxr.resample(syn.audio.astype(np.float32), syn.sample_rate, SAMPLE_RATE)
    speech = np.clip(np.rint(speech), -32768, 32767).astype(np.int16)
    audio = np.concatenate(
        [np.zeros(plan.pad_start, np.int16), speech, np.zeros(plan.pad_end, np.int16)]
    )
    duration = len(audio) / SAMPLE_RATE
    words, phones = align(
        syn.events, len(syn.audio), syn.sample_rate, plan.pad_start / SAMPLE_RATE, duration
    )
    _write_wav(wav_dir / f"{plan.id}.wav", audio)
    return Utterance(
        id=plan.id,
        path=f"wav/{plan.id}.wav",
        duration=duration,
        sample_rate=SAMPLE_RATE,
        speaker=spk.id,
        sex=spk.sex,
        accent=spk.accent,
        age=None,
        text=plan.text,
        words=words,
        phones=phones,
        split=plan.split,
        twin=plan.twin,
    )


CHUNK = 64
"""Utterances per forked child. libespeak-ng's output depends on what the process spoke
before (filter and generator state that no API call resets), so each worker initialises the
library once (same state in every worker) and forks a child per chunk of ``CHUNK``
consecutive utterances, which speaks them in order from that state: the output is the same
for any number of workers. A chunk's fork costs ~25 ms of CPU (copy-on-write), initialising
the library ~20 ms: 64 utterances (~3 min of audio) keep that near 10%."""


def _chunk_payload(jobs: list[tuple[UttPlan, Path]]) -> bytes:
    """``(True, utterances)`` or ``(False, exception)``, pickled."""
    try:
        return pickle.dumps((True, [_synthesize(job) for job in jobs]))
    except BaseException as e:
        try:
            return pickle.dumps((False, e))
        except Exception:
            return pickle.dumps((False, RuntimeError(repr(e))))


def _synthesize_chunk(jobs: list[tuple[UttPlan, Path]]) -> list[Utterance]:
    if not hasattr(os, "fork"):  # no fork (Windows): deterministic for a fixed `jobs` only
        return [_synthesize(job) for job in jobs]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, send the results (or the error) back, exit without cleanup
        try:
            os.close(r)
            with os.fdopen(w, "wb") as f:
                f.write(_chunk_payload(jobs))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"synthesis worker died on utterances from {jobs[0][0].id}")
    ok, result = pickle.loads(data)
    if not ok:
        raise result
    return list(result)


def _synthesize_all(
    jobs: list[tuple[UttPlan, Path]], data_dir: Path, n_workers: int, progress: bool
) -> list[Utterance]:
    """Run :func:`_synthesize` over ``jobs`` in worker processes; results in order."""
    from tqdm import tqdm

    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ctx.Pool(
        min(n_workers, len(chunks)),
        initializer=_init_worker,
        initargs=(data_dir,),
    )  # created before tqdm starts its monitor thread
    try:
        out: list[Utterance] = []
        with tqdm(
            total=len(jobs), unit="utt", desc="synth", file=sys.stderr, disable=not progress
        ) as bar:
            for done in pool.imap(_synthesize_chunk, chunks):
                out.extend(done)
                bar.update(len(done))
        return out
    finally:
        pool.terminate()
        pool.join()


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EsslError(f"{out}: exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not _is_synth_corpus(out):
        raise EsslError(
            f"{out}: folder is not empty and is not a corpus built by `essl corpus "
            "synth` (no corpus.json); choose an empty or new output folder"
        )


def _is_synth_corpus(out: Path) -> bool:
    import json

    try:
        return bool(json.loads((out / "corpus.json").read_text())["builder"] == BUILDER)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` to ``out``, then delete whatever ``out`` held before."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _metadata(cfg: SynthConfig, speakers: list[Any], version: str) -> dict[str, Any]:
    return {
        "builder": BUILDER,
        "config": to_dict(cfg),
        "espeak_ng": version,
        "sample_rate": SAMPLE_RATE,
        "phone_set": PHONE_SET,
        "split_rule": SPLIT_RULE,
        "speakers": [to_dict(s) for s in speakers],
    }


def build_corpus(
    cfg: SynthConfig,
    out_dir: str | os.PathLike[str],
    jobs: int | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Synthesize the corpus of ``cfg`` into ``out_dir``; return the manifest's path.

    ``out_dir`` gets ``wav/<id>.wav`` (16 kHz mono PCM_16), ``manifest.jsonl`` and
    ``corpus.json`` (config, speakers, phone set, split rule). ``jobs`` worker processes
    (default: all cores) give byte-identical output for any ``jobs``.
    """
    cfg.validate()
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be >= 1 worker process, got {jobs}")
    out = Path(out_dir)
    _check_out_dir(out)
    n_workers = jobs if jobs is not None else (os.cpu_count() or 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    data_dir = data_path()
    check_accents(cfg.accents, data_dir)
    speakers, plans = plan_corpus(cfg, data_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    try:
        (tmp / "wav").mkdir()
        work = [(p, tmp / "wav") for p in plans]
        utts = _synthesize_all(work, data_dir, n_workers, progress)
        write_json(tmp / "corpus.json", _metadata(cfg, speakers, library_version()))
        write_manifest(tmp / "manifest.jsonl", utts)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "manifest.jsonl"
