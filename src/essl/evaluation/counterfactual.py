"""Counterfactual fairness on twins: same words, the protected attribute changed.

Twins come from the manifest (``Utterance.twin``: the corpus builder has a matched speaker of
the other sex say the same sentence) or, when a corpus has none, from
:func:`make_pitch_shifted_twins`: copies resampled by ``2^(semitones / 12)`` — a simple
resampling shift that moves pitch *and* formants up (a shorter vocal tract, the main acoustic
correlates of perceived sex) and shortens the audio by the same factor; alignments are
rescaled to match.

Metrics (after Kusner et al. 2017, "Counterfactual fairness", §3, applied to speech as in
Sarı, Hasegawa-Johnson & Yoo 2021, TASLP, §V):

* **counterfactual equal-odds gap** — mean over pairs of ``|e_a − e_b|``, the absolute
  difference of the twins' error rates (``signed``: mean of ``e_a − e_b`` with ``a`` the twin
  of the first group in sorted order, so its sign says which group is worse);
* **flip rate** — fraction of pairs whose utterance-level predictions differ;
* **representation distance** — per layer, mean cosine distance ``1 − cos`` between the
  twins' mean-pooled features, against the same mean over as many random pairs of distinct,
  non-twin utterances (seeded); ``ratio = twin / random`` < 1 means the representation moves
  less under the attribute change than between unrelated utterances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from essl.data.manifest import Utterance, resolve_audio_path, write_manifest
from essl.errors import EsslError

__all__ = [
    "counterfactual_error_gap",
    "flip_rate",
    "make_pitch_shifted_twins",
    "pitch_shift",
    "representation_distance",
    "twin_pairs",
]


def twin_pairs(utts: Sequence[Utterance]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of utterances whose ``twin`` links each other (or one way)."""
    index = {u.id: i for i, u in enumerate(utts)}
    pairs = set()
    for i, u in enumerate(utts):
        j = index.get(u.twin) if u.twin else None
        if j is not None and j != i:
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def counterfactual_error_gap(
    errors: np.ndarray,
    totals: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    groups: Sequence[str] | None = None,
) -> dict[str, float]:
    """``{"absolute": mean |e_i − e_j|, "signed": ..., "pairs": n}`` of per-utterance error rates."""
    if not pairs:
        return {"absolute": float("nan"), "signed": float("nan"), "pairs": 0}
    rate = np.asarray(errors, float) / np.maximum(np.asarray(totals, float), 1e-12)
    i, j = np.asarray(pairs).T
    diff = rate[i] - rate[j]
    out = {"absolute": float(np.abs(diff).mean()), "pairs": len(pairs)}
    if groups is not None:
        first = sorted(set(groups))[0]
        sign = np.asarray([1.0 if groups[a] == first else -1.0 for a in i.tolist()])
        out["signed"] = float((sign * diff).mean())
        out["signed_group"] = first  # type: ignore[assignment]
    return out


def flip_rate(predictions: Sequence[Any], pairs: Sequence[tuple[int, int]]) -> float:
    """Fraction of twin pairs with different predictions (nan without pairs)."""
    if not pairs:
        return float("nan")
    return float(np.mean([predictions[i] != predictions[j] for i, j in pairs]))


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1).clip(1e-12)
    nb = np.linalg.norm(b, axis=1).clip(1e-12)
    return np.asarray(1.0 - (a * b).sum(1) / (na * nb))


def representation_distance(
    pooled: np.ndarray, pairs: Sequence[tuple[int, int]], seed: int = 0
) -> dict[str, float]:
    """Twin vs random-pair mean cosine distance of (U, D) pooled features (module docstring)."""
    pooled = np.asarray(pooled, dtype=np.float64)
    n = pooled.shape[0]
    if not pairs or n < 3:
        return {"twin": float("nan"), "random": float("nan"), "ratio": float("nan")}
    i, j = np.asarray(pairs).T
    twin = float(_cosine_distance(pooled[i], pooled[j]).mean())
    linked = {(a, b) for a, b in pairs} | {(b, a) for a, b in pairs}
    rng = np.random.default_rng(seed)
    ra: list[int] = []
    rb: list[int] = []
    while len(ra) < len(pairs):
        a, b = (int(v) for v in rng.choice(n, size=2, replace=False))
        if (a, b) not in linked:
            ra.append(a)
            rb.append(b)
    rand = float(_cosine_distance(pooled[ra], pooled[rb]).mean())
    return {"twin": twin, "random": rand, "ratio": twin / rand if rand > 0 else float("nan")}


def pitch_shift(wave: np.ndarray, semitones: float, sample_rate: int = 16000) -> np.ndarray:
    """Resampling shift by ``2^(semitones/12)``: pitch and formants move, duration shrinks."""
    import soxr

    factor = 2.0 ** (semitones / 12.0)
    out = soxr.resample(np.asarray(wave, np.float32), sample_rate * factor, sample_rate)
    return np.asarray(out, dtype=np.float32)


def _scale(spans: Sequence[Any] | None, factor: float) -> tuple[Any, ...] | None:
    """Alignment spans with times divided by ``factor``."""
    return None if spans is None else tuple((p, s / factor, e / factor) for p, s, e in spans)


def make_pitch_shifted_twins(
    utts: Sequence[Utterance],
    manifest_path: str | Path,
    out_dir: str | Path,
    semitones: float = 4.0,
) -> tuple[Path, list[Utterance]]:
    """Write a shifted copy of each utterance under ``out_dir`` and a manifest of originals + copies.

    Copies get id ``<id>~cf``, the same speaker, text and split, alignments scaled by
    ``1 / factor``, and ``twin`` links both ways. Returns (manifest path, its utterances).
    """
    import soundfile as sf

    from essl.data.audio import load_audio

    if semitones == 0:
        raise EsslError("counterfactual semitones: 0 makes identical copies; use e.g. 4 or -4")
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    factor = 2.0 ** (semitones / 12.0)
    originals, copies = [], []
    for u in utts:
        src = resolve_audio_path(manifest_path, u)
        wave = pitch_shift(load_audio(src, sample_rate=16000), semitones)
        rel = f"wav/{u.id}~cf.wav"
        sf.write(out / rel, wave, 16000, subtype="FLOAT")
        copies.append(
            replace(
                u,
                id=f"{u.id}~cf",
                path=rel,
                duration=len(wave) / 16000,
                sample_rate=16000,
                phones=_scale(u.phones, factor),
                words=_scale(u.words, factor),
                twin=u.id,
                extra={**u.extra, "counterfactual": f"pitch{semitones:+g}"},
            )
        )
        originals.append(replace(u, path=str(src.resolve()), twin=f"{u.id}~cf"))
    path = out / "manifest.jsonl"
    write_manifest(path, [*originals, *copies])
    return path, [*originals, *copies]
