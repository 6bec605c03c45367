"""Batch planning: caps, crops, determinism, resume and rank sharding (no audio needed)."""

from __future__ import annotations

import numpy as np
import pytest

from essl.data.sampler import BucketBatchSampler, Crop

SR = 16000


def _lengths(rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """Durations from 0.2 s to 40 s, many longer than the crop."""
    return (rng.uniform(0.2, 40.0, n) * SR).astype(np.int64)


def _sampler(lengths: np.ndarray, **kw: object) -> BucketBatchSampler:
    args: dict = dict(max_batch_samples=20 * SR, max_crop_samples=6 * SR, num_buckets=8, seed=3)
    args.update(kw)
    return BucketBatchSampler(lengths, **args)


def _flat(plan: list[list[Crop]]) -> list[Crop]:
    return [c for b in plan for c in b]


def test_padded_batch_never_exceeds_the_cap_over_many_seeds_and_world_sizes() -> None:
    for seed in range(20):
        lengths = _lengths(np.random.default_rng(seed))
        for world in (1, 2, 3):
            s = _sampler(lengths, seed=seed, world_size=world, rank=world - 1)
            for epoch in (0, 1):
                for batch in s.rank_plan(epoch):
                    assert 0 < len(batch) * max(c.length for c in batch) <= 20 * SR


def test_crops_are_within_the_utterance_at_most_max_long_and_aligned() -> None:
    lengths = _lengths(np.random.default_rng(0))
    s = _sampler(lengths, crop_alignment=320)
    crops = _flat(s.global_plan(0))
    assert len(crops) == len(lengths)
    for c in crops:
        assert c.length == min(lengths[c.item], 6 * SR)
        assert c.offset % 320 == 0 and c.offset >= 0
        assert c.offset + c.length <= lengths[c.item]
    assert any(c.offset > 0 for c in crops)


def test_without_random_crop_every_crop_starts_at_zero() -> None:
    s = _sampler(_lengths(np.random.default_rng(0)), random_crop=False)
    assert all(c.offset == 0 for c in _flat(s.global_plan(0)))


def test_every_item_is_planned_exactly_once_per_epoch() -> None:
    lengths = _lengths(np.random.default_rng(1))
    s = _sampler(lengths)
    for epoch in range(3):
        assert sorted(c.item for c in _flat(s.global_plan(epoch))) == list(range(len(lengths)))


def test_plan_is_deterministic_per_seed_and_changes_with_epoch_and_seed() -> None:
    lengths = _lengths(np.random.default_rng(2))
    a, b = _sampler(lengths, seed=5), _sampler(lengths, seed=5)
    assert a.global_plan(1) == b.global_plan(1)
    assert a.global_plan(0) != a.global_plan(1)
    assert a.global_plan(0) != _sampler(lengths, seed=6).global_plan(0)
    offsets = np.array([c.offset for c in sorted(_flat(a.global_plan(0)))])
    offsets1 = np.array([c.offset for c in sorted(_flat(a.global_plan(1)))])
    assert (offsets != offsets1).any()


def test_equal_lengths_are_batched_in_random_groups() -> None:
    s = _sampler(np.full(64, 10 * SR), num_buckets=4)
    groups = [sorted(c.item for c in b) for b in s.global_plan(0)]
    assert groups != [list(range(i, i + 2)) for i in range(0, 64, 2)]


def test_batches_pad_little_thanks_to_buckets() -> None:
    lengths = (np.random.default_rng(4).uniform(0.5, 6.0, 500) * SR).astype(np.int64)
    s = _sampler(lengths, num_buckets=20)
    plan = s.global_plan(0)
    padded = sum(len(b) * max(c.length for c in b) for b in plan)
    assert sum(c.length for c in _flat(plan)) / padded > 0.8


def test_ranks_get_disjoint_items_and_the_same_number_of_batches() -> None:
    lengths = _lengths(np.random.default_rng(5), 101)
    plans = [_sampler(lengths, rank=r, world_size=3).rank_plan(0) for r in range(3)]
    assert len({len(p) for p in plans}) == 1
    items = [c.item for p in plans for c in _flat(p)]
    assert len(items) == len(set(items))
    assert all(len(b) > 0 for p in plans for b in p)


def test_union_over_ranks_is_the_single_process_global_batch_at_every_step() -> None:
    lengths = _lengths(np.random.default_rng(6), 77)
    single = _sampler(lengths, world_size=1, shards=2).rank_plan(2)
    ranks = [_sampler(lengths, rank=r, world_size=2).rank_plan(2) for r in range(2)]
    assert len(single) == len(ranks[0]) == len(ranks[1])
    for k, batch in enumerate(single):
        assert sorted(batch) == sorted(ranks[0][k] + ranks[1][k])
    # a rank's shard respects the cap; the single process holds both shards
    assert all(len(b) * max(c.length for c in b) <= 20 * SR for p in ranks for b in p)


def test_drop_last_drops_only_an_incomplete_final_batch() -> None:
    lengths = np.full(7, 5 * SR)  # 4 per batch at a 20 s cap: 4 + 3
    assert [len(b) for b in _sampler(lengths, shuffle=False).global_plan(0)] == [4, 3]
    assert [len(b) for b in _sampler(lengths, drop_last=True).global_plan(0)] == [4]
    full = np.full(8, 5 * SR)
    assert [len(b) for b in _sampler(full, drop_last=True).global_plan(0)] == [4, 4]


def test_a_final_batch_too_small_for_every_rank_is_dropped() -> None:
    lengths = np.full(9, 5 * SR)  # global batches of 8 (2 shards x 4), then 1 item
    plans = [_sampler(lengths, rank=r, world_size=2).rank_plan(0) for r in range(2)]
    assert [len(b) for b in plans[0]] == [4] and [len(b) for b in plans[1]] == [4]


def test_set_epoch_start_skips_exactly_the_consumed_batches() -> None:
    s = _sampler(_lengths(np.random.default_rng(7)))
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(4, start=3)
    assert list(s) == full[3:] and len(s) == len(full)


@pytest.mark.parametrize(
    "kw",
    [
        dict(rank=2, world_size=2),
        dict(world_size=2, shards=3),
        dict(max_crop_samples=30 * SR),
        dict(seed=-1),
    ],
)
def test_invalid_settings_are_rejected(kw: dict) -> None:
    with pytest.raises(ValueError):
        _sampler(np.full(4, SR), **kw)
