import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from essl.data.manifest import Utterance, read_manifest
from essl.masking.boundaries import (
    BoundaryFileError,
    ContrastiveConfig,
    ContrastiveDetector,
    SpectralDetector,
    boundary_counts,
    evaluate_boundaries,
    oracle_boundaries,
    peak_times,
    read_boundaries,
    reference_boundaries,
    train_contrastive,
    write_boundaries,
)
from essl.masking.boundaries.build import eval_split, evaluate_detector, tune_on_dev
from essl.masking.boundaries.detect import load_waves
from essl.masking.boundaries.from_model import load_model_detector


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: small convolutions on a shared 2-core machine run far faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _utt(phones):
    return Utterance(id="u", path="u.wav", duration=phones[-1][2], phones=tuple(phones))


def test_reference_boundaries_are_internal_phone_onsets():
    u = _utt([("sil", 0.0, 0.1), ("a", 0.1, 0.2), ("b", 0.2, 0.35), ("sil", 0.35, 0.5)])
    assert reference_boundaries(u) == [0.1, 0.2, 0.35]


def test_metrics_on_a_hand_built_case_lenient_and_one_to_one():
    refs, preds = [0.1, 0.2, 0.3], [0.105, 0.11, 0.25, 0.31]
    c = boundary_counts(refs, preds, 0.02)
    assert (c.precise_hits, c.recalled_hits, c.matched) == (3, 2, 2)
    r = evaluate_boundaries([(refs, preds)], 0.02)
    p, rec = 3 / 4, 2 / 3
    os_ = rec / p - 1
    rval = 1 - (math.sqrt((1 - rec) ** 2 + os_**2) + abs((-os_ + rec - 1) / math.sqrt(2))) / 2
    assert r["lenient"]["precision"] == pytest.approx(p)
    assert r["lenient"]["recall"] == pytest.approx(rec)
    assert r["lenient"]["f1"] == pytest.approx(2 * p * rec / (p + rec))
    assert r["lenient"]["over_segmentation"] == pytest.approx(os_)
    assert r["lenient"]["r_value"] == pytest.approx(rval)
    assert r["one_to_one"]["precision"] == pytest.approx(2 / 4)
    assert r["one_to_one"]["recall"] == pytest.approx(2 / 3)


def test_perfect_predictions_score_one_and_doubled_ones_are_only_punished_one_to_one():
    refs = [0.1, 0.25, 0.4]
    perfect = evaluate_boundaries([(refs, refs)])["lenient"]
    assert perfect["precision"] == perfect["recall"] == perfect["r_value"] == pytest.approx(1.0)
    assert perfect["over_segmentation"] == pytest.approx(0.0)
    doubled = evaluate_boundaries([(refs, sorted(refs + [t + 0.01 for t in refs]))])
    assert doubled["lenient"]["precision"] == pytest.approx(1.0)
    assert doubled["one_to_one"]["precision"] == pytest.approx(0.5)
    assert doubled["one_to_one"]["over_segmentation"] == pytest.approx(1.0)


def test_one_to_one_matching_is_maximal_not_greedy_nearest():
    # nearest-first greedy would give 0.115 to 0.12 and leave 0.1 unmatched
    c = boundary_counts([0.1, 0.12], [0.115, 0.135], 0.02)
    assert c.matched == 2


def test_no_predictions_give_zero_precision_and_recall():
    r = evaluate_boundaries([([0.1, 0.2], [])])["lenient"]
    assert r["precision"] == 0 and r["recall"] == 0 and r["r_value"] <= 0.5


def test_peak_times_find_planted_peaks_inside_the_utterance():
    score = np.zeros(100)
    score[[20, 50, 80]] = [1.0, 0.8, 0.9]
    assert peak_times(score, 0.1, 100.0, 0.005, 1.0) == [0.205, 0.505, 0.805]
    assert peak_times(score, 0.95, 100.0, 0.0, 1.0) == [0.2]
    assert peak_times(np.ones(50), 0.0, 100.0, 0.0, 0.5) == []


def test_spectral_detector_finds_synthetic_phone_boundaries(tiny_corpus: Path):
    utts = read_manifest(tiny_corpus)
    det = SpectralDetector()
    tune_on_dev(det, tiny_corpus, utts)
    res = evaluate_detector(det, tiny_corpus, eval_split(utts, "all"))
    assert res["lenient"]["r_value"] > 0.7
    assert res["one_to_one"]["precision"] <= res["lenient"]["precision"] + 1e-9


def test_boundaries_file_round_trips_with_metadata(tmp_path: Path):
    times = {"a": [0.3, 0.1], "b": []}
    path = write_boundaries(
        tmp_path / "boundaries.jsonl", times, {"detector": "spectral", "frame_rate": 100.0}
    )
    b = read_boundaries(path)
    assert b.times == {"a": [0.1, 0.3], "b": []}
    assert b.meta["detector"] == "spectral" and b.meta["num_utterances"] == 2
    assert not list(tmp_path.glob(".*tmp"))


def test_malformed_boundaries_files_raise_naming_the_line(tmp_path: Path):
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"essl_boundaries": 1}\n{"id": "a", "boundaries": "x"}\n')
    with pytest.raises(BoundaryFileError, match=r"b.jsonl:2"):
        read_boundaries(bad)
    with pytest.raises(BoundaryFileError, match="not found"):
        read_boundaries(tmp_path / "missing.jsonl")
    (tmp_path / "nohead.jsonl").write_text('{"id": "a", "boundaries": []}\n')
    with pytest.raises(BoundaryFileError, match="metadata"):
        read_boundaries(tmp_path / "nohead.jsonl")


def test_oracle_word_boundaries_lie_inside_the_utterance(tiny_corpus: Path):
    utts = read_manifest(tiny_corpus)
    words = oracle_boundaries(utts, "words")
    for u in utts:
        assert all(0 < t < u.duration for t in words[u.id])
        assert words[u.id] == sorted(words[u.id])


@pytest.mark.slow
def test_contrastive_model_trains_and_saved_model_scores_identically(tiny_corpus: Path, tmp_path):
    utts = read_manifest(tiny_corpus)
    waves = load_waves(tiny_corpus, utts)
    cfg = ContrastiveConfig(
        channels=32, proj_dim=16, steps=25, lr=3e-3, batch_size=4, crop_seconds=0.5
    )
    det, losses = train_contrastive(waves, cfg)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    det.prominence = 0.07
    det.save(tmp_path / "seg")
    again = ContrastiveDetector.load(tmp_path / "seg")
    assert again.prominence == 0.07
    a, b = det.scores(waves[:2]), again.scores(waves[:2])
    for w, x, y in zip(waves, a, b):
        assert len(x) == 1 + (len(w) - 465) // 160
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_contrastive_frames_follow_the_papers_geometry():
    from essl.masking.boundaries import NextFrameModel

    m = NextFrameModel(channels=8, proj_dim=4).eval()
    z = m(torch.zeros(2, 16000))
    assert z.shape[1] == int(m.frame_lengths(torch.tensor([16000]))[0]) == (16000 - 465) // 160 + 1


def test_random_model_detector_gives_one_score_per_encoder_frame(tiny_corpus: Path):
    det = load_model_detector("preset:tiny", layer=1)
    waves = load_waves(tiny_corpus, read_manifest(tiny_corpus)[:2])
    scores = det.scores(waves)
    assert [len(s) for s in scores] == [1 + (len(w) - 400) // 320 for w in waves]
    assert det.frame_rate == 50.0
    assert all(0 < t < 1.0 for t in det.detect(waves)[0])


@pytest.mark.slow
def test_cli_evaluate_prints_both_countings_as_json(tiny_corpus: Path, capsys, tmp_path):
    import argparse

    from essl.cli.boundaries import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(
        ["boundaries", "evaluate", str(tiny_corpus), "--split", "all", "--json", "--no-progress"]
    )
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    for kind in ("lenient", "one_to_one"):
        assert set(out[kind]) == {"precision", "recall", "f1", "over_segmentation", "r_value"}
    assert out["counting"] == "lenient"
    assert {k: out[k] for k in out["lenient"]} == out["lenient"]  # headline at the top level
    args = parser.parse_args(
        [
            "boundaries",
            "detect",
            str(tiny_corpus),
            "--no-progress",
            "--out",
            str(tmp_path / "b.jsonl"),
        ]
    )
    assert args.handler(args) == 0
    b = read_boundaries(tmp_path / "b.jsonl")
    assert b.meta["detector"] == "spectral" and len(b.times) == 8
