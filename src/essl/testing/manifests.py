"""Tiny corpora on disk for tests: WAVs plus a manifest with alignments and demographics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from essl.data.manifest import Utterance, write_manifest
from essl.testing.audio import PHONE_FORMANTS, synthetic_vowels


def make_tiny_corpus(
    out_dir: str | Path,
    num_utterances: int = 8,
    num_speakers: int = 4,
    seconds: float = 1.0,
    seed: int = 0,
    sample_rate: int = 16000,
) -> Path:
    """Write ``num_utterances`` synthetic utterances and ``manifest.jsonl``; return its path.

    Speakers alternate female/male (f0 ~210 / ~115 Hz) and two accents; each utterance is a
    random phone sequence with exact ``phones`` and one-word-per-two-phones ``words``.
    Utterance i has split train/dev/test for i % 4 in (0, 1) / 2 / 3.
    """
    out_dir = Path(out_dir)
    (out_dir / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = list(PHONE_FORMANTS)
    utts = []
    for i in range(num_utterances):
        spk = i % num_speakers
        sex = "female" if spk % 2 == 0 else "male"
        f0 = (210.0 if sex == "female" else 115.0) * (1 + 0.05 * spk)
        n_ph = max(2, int(seconds / 0.1) - 2)
        durs = rng.uniform(0.06, 0.14, n_ph)
        durs *= (seconds - 0.2) / durs.sum()
        seq = (
            [("sil", 0.1)] + [(labels[rng.integers(len(labels))], d) for d in durs] + [("sil", 0.1)]
        )
        wave, spans = synthetic_vowels(seq, f0=f0, sample_rate=sample_rate, seed=seed * 1000 + i)
        uid = f"spk{spk}_{i:04d}"
        rel = f"wav/{uid}.wav"
        sf.write(out_dir / rel, wave, sample_rate, subtype="PCM_16")
        inner = [s for s in spans if s[0] != "sil"]
        words = [
            (f"w{j}", inner[j][1], inner[min(j + 1, len(inner) - 1)][2])
            for j in range(0, len(inner), 2)
        ]
        utts.append(
            Utterance(
                id=uid,
                path=rel,
                duration=len(wave) / sample_rate,
                sample_rate=sample_rate,
                speaker=f"spk{spk}",
                sex=sex,
                accent="en-us" if spk < num_speakers // 2 else "en",
                age=None,
                text=" ".join(w for w, _, _ in words),
                words=tuple(words),
                phones=tuple(spans),
                split=("train", "train", "dev", "test")[i % 4],
            )
        )
    path = out_dir / "manifest.jsonl"
    write_manifest(path, utts)
    return path
