"""Counterfactual metrics on twins: pairs, error gap, flip rate, distances, pitch-shifted copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from essl.data.manifest import Utterance, read_manifest
from essl.evaluation.counterfactual import (
    counterfactual_error_gap,
    flip_rate,
    make_pitch_shifted_twins,
    pitch_shift,
    representation_distance,
    twin_pairs,
)


def _utt(uid: str, twin: str | None = None, sex: str = "male") -> Utterance:
    return Utterance(id=uid, path=f"{uid}.wav", duration=1.0, twin=twin, sex=sex)


def test_twin_pairs_are_deduplicated_and_ignore_missing_twins() -> None:
    utts = [_utt("a", "b"), _utt("b", "a", "female"), _utt("c", "zz"), _utt("d", "c")]
    assert twin_pairs(utts) == [(0, 1), (2, 3)]


def test_flip_rate_counts_pairs_with_different_predictions() -> None:
    pred = ["x", "x", "y", "z", "q", "q"]
    assert flip_rate(pred, [(0, 1), (2, 3), (4, 5)]) == pytest.approx(1 / 3)
    assert np.isnan(flip_rate(pred, []))


def test_error_gap_is_mean_absolute_rate_difference_and_signed_by_group() -> None:
    errors, totals = np.array([1, 3, 2, 2]), np.array([10, 10, 4, 8])
    res = counterfactual_error_gap(
        errors, totals, [(0, 1), (2, 3)], ["female", "male", "male", "female"]
    )
    assert res["absolute"] == pytest.approx((0.2 + 0.25) / 2)
    # signed: female − male: (0.1 − 0.3) and (0.25 − 0.5) → mean −0.225
    assert res["signed"] == pytest.approx(-0.225) and res["signed_group"] == "female"


def test_identical_twins_have_zero_distance_and_ratio_below_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 8))
    x[5:] = x[:5] + 1e-3 * rng.normal(size=(5, 8))
    res = representation_distance(x, [(i, i + 5) for i in range(5)], seed=0)
    assert res["twin"] < 1e-4 and res["random"] > 0.1 and res["ratio"] < 0.01


def test_pitch_shift_moves_a_tone_up_by_the_semitone_factor() -> None:
    sr, f0 = 16000, 200.0
    t = np.arange(sr) / sr
    out = pitch_shift(np.sin(2 * np.pi * f0 * t).astype(np.float32), 12.0, sr)
    assert len(out) == pytest.approx(sr / 2, abs=2)
    spec = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak = np.fft.rfftfreq(len(out), 1 / sr)[spec.argmax()]
    assert peak == pytest.approx(2 * f0, rel=0.02)


def test_pitch_shifted_twins_link_both_ways_and_rescale_alignments(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    utts = read_manifest(tiny_corpus)[:2]
    path, out = make_pitch_shifted_twins(utts, tiny_corpus, tmp_path / "cf", semitones=12.0)
    back = read_manifest(path)
    assert [u.id for u in back] == [u.id for u in out] and len(back) == 4
    assert twin_pairs(back) == [(0, 2), (1, 3)]
    orig, copy = back[0], back[2]
    assert copy.duration == pytest.approx(orig.duration / 2, abs=1e-3)
    assert orig.phones is not None and copy.phones is not None
    assert copy.phones[-1][2] == pytest.approx(orig.phones[-1][2] / 2)
    assert copy.speaker == orig.speaker and copy.split == orig.split
