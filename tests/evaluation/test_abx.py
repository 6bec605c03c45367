"""ABX: item spans, DTW and scores against a pure-Python reference and constructed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from essl.data.manifest import Utterance
from essl.errors import ConfigError
from essl.evaluation.abx import (
    ABXConfig,
    ABXItem,
    abx,
    abx_items,
    item_frame_span,
    normalize_with_singularity,
)
from essl.evaluation.abx_reference import reference_abx, reference_dtw
from essl.evaluation.dtw import pair_dtw

PHONES = ["a", "b", "c", "d"]
FRAME_RATE = 100.0


def _corpus(
    seed: int,
    files: int = 12,
    speakers: int = 3,
    per_file: int = 14,
    dim: int = 6,
    one_hot: bool = False,
) -> tuple[list[torch.Tensor], list[ABXItem]]:
    """Random phone strings (10 ms frames, 3-6 frames per phone) with aligned features.

    No phone follows itself, so one-hot features make every triphone distinct.
    """
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    feats, items = [], []
    for f in range(files):
        seq = [PHONES[int(rng.integers(0, 3))]]  # 3 phones: contexts recur; no phone twice in a row
        while len(seq) < per_file:
            p = PHONES[int(rng.integers(0, 3))]
            seq += [p] if p != seq[-1] else []
        durs = rng.integers(3, 7, per_file)
        bounds = np.concatenate([[0], np.cumsum(durs)]) / FRAME_RATE
        T = int(durs.sum())
        if one_hot:
            x = torch.zeros(T, dim)
            for k, p in enumerate(seq):
                x[
                    round(bounds[k] * FRAME_RATE) : round(bounds[k + 1] * FRAME_RATE),
                    PHONES.index(p),
                ] = 1
        else:
            x = torch.randn(T, dim, generator=g)
        feats.append(x)
        for k in range(1, per_file - 1):
            items.append(
                ABXItem(
                    file=f,
                    onset=float(bounds[k - 1]),
                    offset=float(bounds[k + 2]),
                    phone=seq[k],
                    prev=seq[k - 1],
                    next=seq[k + 1],
                    speaker=f"s{f % speakers}",
                )
            )
    return feats, items


def test_item_frames_follow_libri_light_rounding():
    # ceil(f*onset - 0.5) .. floor(f*offset - 0.5), exclusive end, clipped to the sequence
    assert item_frame_span(0.0, 0.1, 100.0, 50) == (0, 9)
    assert item_frame_span(0.012, 0.047, 100.0, 50) == (1, 4)
    assert item_frame_span(0.015, 0.045, 100.0, 50) == (1, 4)
    assert item_frame_span(0.3, 0.9, 50.0, 40) == (15, 40)
    start, end = item_frame_span(0.0, 0.004, 100.0, 50)
    assert end <= start  # empty: abx() drops the item


def test_triphone_items_span_neighbours_and_skip_pause_centres():
    u = Utterance(
        id="u",
        path="u.wav",
        duration=1.0,
        speaker="s1",
        phones=(
            ("sil", 0.0, 0.1),
            ("a", 0.1, 0.2),
            ("b", 0.2, 0.35),
            ("sil", 0.35, 0.5),
            ("c", 0.5, 0.6),
            ("sil", 0.6, 0.7),
        ),
    )
    items = abx_items([u])
    assert [(i.phone, i.prev, i.next, i.onset, i.offset) for i in items] == [
        ("a", "sil", "b", 0.0, 0.35),
        ("b", "a", "sil", 0.1, 0.5),
        ("c", "sil", "sil", 0.35, 0.7),
    ]
    assert all(i.speaker == "s1" and i.file == 0 for i in items)


def test_batched_dtw_equals_the_cell_by_cell_reference(seed):
    lengths = [1, 2, 3, 5, 7, 9]
    seqs = [
        torch.nn.functional.normalize(torch.randn(n, 4, dtype=torch.float64), dim=1)
        for n in lengths * 2
    ]
    seqs.append(seqs[3].clone())  # identical pair: zero cost
    frames = torch.cat(seqs)
    ln = torch.tensor([s.shape[0] for s in seqs])
    offsets = torch.cumsum(ln, 0) - ln
    pairs = [(i, j) for i in range(len(seqs)) for j in range(len(seqs))]
    rows, cols = (torch.tensor(v) for v in zip(*pairs))
    got = pair_dtw(frames, offsets, ln, rows, cols)
    want = [reference_dtw(seqs[i].tolist(), seqs[j].tolist()) for i, j in pairs]
    # dot products agree to the last bit, but arccos near 1 turns one ulp of a cosine into
    # ~1e-8 rad, and BLAS builds sum in different orders (torch 2.11 vs 2.13 differ there)
    assert got.tolist() == pytest.approx(want, rel=1e-9, abs=1e-7)
    assert got[pairs.index((3, len(seqs) - 1))] < 1e-6  # arccos(1 - ulp) is not exactly 0


def test_dtw_breaks_ties_diagonal_then_left_then_up():
    # Constant distances: every path costs the same per cell, so the backtrack decides the
    # path length: diagonal first gives max(n, m) cells.
    x = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0]] * 2, dtype=torch.float64)
    frames = torch.cat([x, y])
    got = pair_dtw(
        frames, torch.tensor([0, 4]), torch.tensor([4, 2]), torch.tensor([0]), torch.tensor([1])
    )
    # cost = 0.5 per cell along the min-cost path (4 cells) over path length 4
    assert got.item() == pytest.approx(0.5)
    assert got.item() == reference_dtw(x.tolist(), y.tolist())


@pytest.mark.parametrize(
    "cfg", [ABXConfig(max_size_group=100), ABXConfig(max_size_group=2, max_x_across=1, seed=3)]
)
def test_vectorised_abx_equals_pure_python_reference(cfg):
    feats, items = _corpus(seed=1, files=8, per_file=12)
    got = abx(feats, items, FRAME_RATE, cfg)
    want = reference_abx(feats, items, FRAME_RATE, cfg)
    assert got.within == want["within"] and got.across == want["across"]
    assert got.num_items == len(items) and got.num_triplet_groups["within"] > 0


def test_one_hot_phone_features_score_zero_error():
    feats, items = _corpus(seed=2, one_hot=True)
    r = abx(feats, items, FRAME_RATE)
    assert r.within == 0.0 and r.across == 0.0


def test_random_features_score_near_chance():
    feats, items = _corpus(seed=3, files=30, speakers=3, per_file=20)
    r = abx(feats, items, FRAME_RATE)
    assert 0.4 < r.within < 0.6 and 0.4 < r.across < 0.6


def test_subsampling_is_seeded():
    feats, items = _corpus(seed=4)
    a = abx(feats, items, FRAME_RATE, ABXConfig(max_size_group=2, seed=7))
    b = abx(feats, items, FRAME_RATE, ABXConfig(max_size_group=2, seed=7))
    assert (a.within, a.across) == (b.within, b.across)


def test_single_speaker_has_no_across_score():
    feats, items = _corpus(seed=5, speakers=1)
    r = abx(feats, items, FRAME_RATE)
    assert not math.isnan(r.within) and math.isnan(r.across)


def test_invalid_config_names_the_field():
    with pytest.raises(ConfigError, match="max_size_group"):
        ABXConfig(max_size_group=1).validate()
    with pytest.raises(ConfigError, match="modes"):
        ABXConfig(modes=("sideways",)).validate()


def test_zero_frames_sit_at_maximal_distance_like_libri_light():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    z = normalize_with_singularity(x)
    assert z.shape == (3, 3)
    assert torch.allclose(z[1, :2], torch.tensor([0.6, 0.8], dtype=torch.float64))
    d = torch.arccos((z @ z.T).clamp(-1, 1)) / math.pi
    assert d[0, 1].item() == 1.0 and d[0, 2].item() == 0.0
