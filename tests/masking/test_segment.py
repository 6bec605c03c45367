import itertools

import numpy as np
import pytest
import torch

from essl.errors import ConfigError
from essl.masking import RandomSpanConfig, RandomSpanMasker, expected_mask_fraction
from essl.masking.segment import (
    SegmentMaskConfig,
    SegmentMasker,
    batch_segments,
    crop_segments,
    random_span_fraction,
)
from essl.testing.configs import tiny_task


def _phone_segments(n: int, seed: int) -> list[tuple[int, int]]:
    """Random phone-like segments of 2..9 frames tiling [0, n)."""
    rng = np.random.default_rng(seed)
    segs, t = [], 0
    while t < n:
        e = min(n, t + int(rng.integers(2, 10)))
        segs.append((t, e))
        t = e
    return segs


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], row.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def test_exact_random_span_fraction_matches_the_random_span_masker():
    masker = RandomSpanMasker(RandomSpanConfig())
    for T in (20, 99):
        m = masker(torch.full((3000,), T), T, None, torch.Generator().manual_seed(T))
        assert float(m.float().mean()) == pytest.approx(
            random_span_fraction(0.65, 10, 2, T), abs=0.005
        )


@pytest.mark.parametrize("match", ["exact", "formula"])
def test_realised_masked_fraction_matches_the_random_span_expectation_over_seeds(match):
    masker = SegmentMasker(SegmentMaskConfig(match=match))
    T = 250
    target = (
        random_span_fraction(0.65, 10, 2, T)
        if match == "exact"
        else expected_mask_fraction(0.65, 10, T)
    )
    fracs = []
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        m = masker(torch.tensor([T]), T, [_phone_segments(T, seed)], g)
        fracs.append(float(m.float().mean()))
    assert abs(np.mean(fracs) - target) < 0.01
    assert np.std(fracs) < 0.05


@pytest.mark.parametrize("k", [1, 3])
def test_masked_runs_start_and_end_on_segment_edges(k):
    masker = SegmentMasker(SegmentMaskConfig(span_segments=k))
    T = 120
    segs = _phone_segments(T, 7)
    starts, ends = {s for s, _ in segs}, {e for _, e in segs}
    for seed in range(20):
        m = masker(torch.tensor([T]), T, [segs], torch.Generator().manual_seed(seed))[0].numpy()
        for s, e in _runs(m):
            assert s in starts and e in ends


def test_padding_and_frames_outside_segments_are_never_masked():
    masker = SegmentMasker(SegmentMaskConfig(target_fraction=0.9))
    lengths = torch.tensor([60, 100])
    segs = [[(0, 30), (30, 60), (60, 90)], [(10, 40), (40, 80)]]
    m = masker(lengths, 100, segs, torch.Generator().manual_seed(0))
    assert not m[0, 60:].any()
    assert not m[1, :10].any() and not m[1, 80:].any()


def test_a_configured_target_fraction_is_met_on_average():
    masker = SegmentMasker(SegmentMaskConfig(target_fraction=0.3))
    T = 200
    fr = [
        float(
            masker(torch.tensor([T]), T, [_phone_segments(T, s)], torch.Generator().manual_seed(s))
            .float()
            .mean()
        )
        for s in range(150)
    ]
    assert abs(np.mean(fr) - 0.3) < 0.01


def test_rows_without_segments_fall_back_to_random_spans():
    masker = SegmentMasker(SegmentMaskConfig())
    lengths = torch.tensor([200, 150])
    m = masker(lengths, 200, [[], _phone_segments(150, 1)], torch.Generator().manual_seed(0))
    assert 0.2 < float(m[0].float().mean()) < 0.8
    assert not m[1, 150:].any()
    all_random = masker(lengths, 200, None, torch.Generator().manual_seed(0))
    assert all_random.shape == (2, 200) and not all_random[1, 150:].any()


def test_config_rejects_bad_values_naming_the_field():
    with pytest.raises(ConfigError, match="target_fraction"):
        SegmentMaskConfig(target_fraction=1.5).validate()
    with pytest.raises(ConfigError, match="span_segments"):
        SegmentMaskConfig(span_segments=0).validate()
    rs = RandomSpanConfig()
    assert SegmentMaskConfig(match="formula").target(500) == pytest.approx(
        expected_mask_fraction(rs.mask_prob, rs.mask_length, 500)
    )
    assert SegmentMaskConfig().target(500) == pytest.approx(
        random_span_fraction(rs.mask_prob, rs.mask_length, rs.min_masks, 500)
    )


def test_crop_segments_tile_the_crop_frames_with_boundaries_at_frame_centres():
    # crop of 1 s starting 0.5 s into the utterance: T = 1 + (16000 - 400) // 320 = 49
    segs = crop_segments([0.3, 0.6, 0.8, 1.7], offset_samples=8000, num_samples=16000)
    assert segs[0][0] == 0 and segs[-1][1] == 49
    assert all(a[1] == b[0] for a, b in itertools.pairwise(segs))
    # 0.6 s -> crop sample 1600; frame t centre = 320 t + 200 >= 1600 -> t = 5 (ceil 4.375)
    # 0.8 s -> crop sample 4800 -> t = ceil(14.375) = 15; 0.3 and 1.7 s are outside the crop
    assert segs == [(0, 5), (5, 15), (15, 49)]
    assert crop_segments([0.1], 0, 300) == []


def test_batch_segments_marks_rows_without_boundaries_empty():
    from essl.data.manifest import Utterance

    utts = [Utterance(id=i, path="x.wav", duration=1.0) for i in ("a", "b")]
    segs = batch_segments({"a": [0.5]}, utts, torch.tensor([0, 0]), torch.tensor([16000, 16000]))
    assert segs is not None and segs[1] == [] and len(segs[0]) == 2
    assert batch_segments({}, utts, torch.tensor([0, 0]), torch.tensor([16000, 16000])) is None


@pytest.mark.parametrize("objective", ["wav2vec2", "hubert"])
def test_segment_masks_drive_both_objectives(objective, seed):
    from essl.data.batch import Batch
    from essl.data.manifest import Utterance

    task = tiny_task(objective)
    S = 16000
    lengths = torch.tensor([S, 12000])
    utts = [Utterance(id=f"u{i}", path="x.wav", duration=1.0) for i in range(2)]
    segments = batch_segments(
        {"u0": [0.1 * i for i in range(1, 10)], "u1": [0.2, 0.4]},
        utts,
        torch.zeros(2, dtype=torch.long),
        lengths,
    )
    frames = task.encoder.frame_lengths(lengths)
    T = int(frames.max())
    mask = SegmentMasker(SegmentMaskConfig())(frames, T, segments, torch.Generator().manual_seed(0))
    batch = Batch(
        wavs=torch.randn(2, S) * 0.1,
        lengths=lengths,
        utterances=utts,
        offsets=torch.zeros(2, dtype=torch.long),
        segments=segments,
        labels=torch.randint(0, 5, (2, T)),
    )
    out = task(batch, mask=mask)
    assert torch.isfinite(out.loss)
    assert out.masked_frames == int(mask.sum())
    assert out.logs["mask_fraction"] == pytest.approx(int(mask.sum()) / int(frames.sum()))
