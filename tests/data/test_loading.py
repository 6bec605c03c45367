"""Loading: crops and padding match the files, labels follow the audio, exact resume, ranks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from essl.data.batch import Batch
from essl.data.dataset import conv_frames
from essl.data.loading import LoaderConfig, ResumableLoader, build_loader
from essl.data.manifest import Utterance, write_manifest
from essl.errors import AudioError, ConfigError, EsslError

SR = 16000
RAMP = 2.0**-22  # sample j of every file holds j * RAMP (exact in float32)


def _ramp_corpus(root: Path, durations: list[float]) -> Path:
    """Float WAVs whose samples encode their own position, so a crop reveals its offset."""
    (root / "wav").mkdir(parents=True)
    utts = []
    for i, d in enumerate(durations):
        n = round(d * SR)
        sf.write(root / f"wav/u{i:03d}.wav", np.arange(n) * RAMP, SR, subtype="FLOAT")
        split = ("train", "dev")[i % 2]
        utts.append(
            Utterance(id=f"u{i:03d}", path=f"wav/u{i:03d}.wav", duration=n / SR, split=split)
        )
    write_manifest(root / "manifest.jsonl", utts)
    return root / "manifest.jsonl"


@pytest.fixture
def ramp_corpus(tmp_path: Path) -> Path:
    durations = np.random.default_rng(0).uniform(0.2, 3.0, 24).round(3).tolist()
    return _ramp_corpus(tmp_path / "ramp", durations)


def _cfg(**kw: object) -> LoaderConfig:
    args: dict = dict(max_batch_seconds=4.0, min_seconds=0.3, max_seconds=1.5, num_buckets=4)
    args.update(kw)
    return LoaderConfig(**args)


def _key(batch: Batch) -> list[tuple[str, int, int]]:
    return [
        (u.id, int(o), int(n))
        for u, o, n in zip(batch.utterances, batch.offsets, batch.lengths, strict=True)
    ]


def test_rows_are_the_file_crops_zero_padded_with_true_lengths(ramp_corpus: Path) -> None:
    for batch in build_loader(ramp_corpus, _cfg(), seed=1):
        B, S = batch.wavs.shape
        longest = int(batch.lengths.max())
        assert batch.lengths.shape == batch.offsets.shape == (B,)
        assert S % 8000 == 0 and longest <= S < longest + 8000  # padded to 0.5 s multiples
        for row in range(B):
            n, off = int(batch.lengths[row]), int(batch.offsets[row])
            total = round(batch.utterances[row].duration * SR)
            expected = (np.arange(off, off + n) * RAMP).astype(np.float32)
            assert n == min(total, round(1.5 * SR))
            np.testing.assert_array_equal(batch.wavs[row, :n].numpy(), expected)
            assert (batch.wavs[row, n:] == 0).all()


def test_padded_batch_stays_under_the_seconds_cap_and_crops_are_aligned(ramp_corpus: Path) -> None:
    for seed in range(5):
        for batch in build_loader(ramp_corpus, _cfg(max_batch_seconds=3.0), seed=seed):
            assert batch.wavs.numel() <= 3.0 * SR
            assert (batch.offsets % 320 == 0).all()
            assert (batch.lengths >= 0.3 * SR).all() and (batch.lengths <= 1.5 * SR).all()


def test_utterances_shorter_than_min_seconds_are_dropped(ramp_corpus: Path) -> None:
    loader = build_loader(ramp_corpus, _cfg(min_seconds=1.0), seed=0)
    seen = [u for b in loader for u in b.utterances]
    assert seen and all(u.duration >= 1.0 for u in seen)
    assert len(seen) == len(loader.dataset)


def test_labels_are_cropped_with_the_audio_and_padded_with_minus_100(ramp_corpus: Path) -> None:
    utts = build_loader(ramp_corpus, _cfg(), seed=0).dataset.utterances
    labels = {u.id: np.arange(round(u.duration * SR) // 320) for u in utts}  # label = frame index
    for batch in build_loader(ramp_corpus, _cfg(), seed=2, labels=labels):
        assert batch.labels is not None
        for row in range(len(batch.utterances)):
            n, first = int(batch.lengths[row]), int(batch.offsets[row]) // 320
            frames = conv_frames(n)
            have = min(frames, len(labels[batch.ids[row]]) - first)
            got = batch.labels[row].numpy()
            np.testing.assert_array_equal(got[:have], np.arange(first, first + have))
            assert (got[have:] == -100).all()


def test_custom_frames_fn_sets_the_label_length(ramp_corpus: Path) -> None:
    utts = build_loader(ramp_corpus, _cfg(), seed=0).dataset.utterances
    labels = {u.id: np.ones(1000, dtype=np.int64) for u in utts}
    loader = build_loader(ramp_corpus, _cfg(), seed=0, labels=labels, frames_fn=lambda s: s // 320)
    batch = next(iter(loader))
    assert batch.labels is not None
    assert batch.labels.shape[1] == int(batch.lengths.max()) // 320


def test_missing_labels_name_the_utterance(ramp_corpus: Path) -> None:
    with pytest.raises(EsslError, match="u0"):
        build_loader(ramp_corpus, _cfg(), seed=0, labels={"nope": np.zeros(3)})


def test_same_seed_same_batches_and_next_epoch_differs(ramp_corpus: Path) -> None:
    a, b = build_loader(ramp_corpus, _cfg(), seed=7), build_loader(ramp_corpus, _cfg(), seed=7)
    epoch0 = [_key(x) for x in a]
    assert epoch0 == [_key(x) for x in b]
    assert a.state_dict() == {"epoch": 1, "batches": 0}
    assert [_key(x) for x in a] != epoch0


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_yields_exactly_the_remaining_batches(
    ramp_corpus: Path, workers: int
) -> None:
    cfg = _cfg(num_workers=workers)
    reference = build_loader(ramp_corpus, cfg, seed=3)
    reference.set_epoch(1)
    full = [(_key(b), b.wavs) for b in reference]
    interrupted = build_loader(ramp_corpus, cfg, seed=3)
    interrupted.set_epoch(1)
    for k, _batch in enumerate(interrupted):
        if k == 2:  # batches 0..2 delivered; workers have already prefetched more
            break
    state = json.loads(json.dumps(interrupted.state_dict()))
    assert state == {"epoch": 1, "batches": 3}
    resumed = build_loader(ramp_corpus, cfg, seed=3)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)  # the trainer's usual call: keeps the restored position
    rest = [(_key(b), b.wavs) for b in resumed]
    assert [k for k, _ in rest] == [k for k, _ in full[3:]]
    for (_, w1), (_, w2) in zip(rest, full[3:], strict=True):
        assert w1.equal(w2)
    # the interrupted loader itself (workers kept alive) also picks up where it stopped
    assert [_key(b) for b in interrupted] == [k for k, _ in full[3:]]


def test_ranks_split_each_global_batch_like_a_single_process_with_two_shards(
    ramp_corpus: Path,
) -> None:
    single = [_key(b) for b in build_loader(ramp_corpus, _cfg(global_shards=2), seed=4)]
    ranks = [
        [_key(b) for b in build_loader(ramp_corpus, _cfg(), seed=4, rank=r, world_size=2)]
        for r in range(2)
    ]
    assert len(single) == len(ranks[0]) == len(ranks[1]) > 1
    for k, batch in enumerate(single):
        assert not set(ranks[0][k]) & set(ranks[1][k])
        assert sorted(batch) == sorted(ranks[0][k] + ranks[1][k])


def test_split_filter_keeps_only_that_split(tiny_corpus: Path) -> None:
    loader = build_loader(tiny_corpus, _cfg(), seed=0, split="train")
    seen = [u for b in loader for u in b.utterances]
    assert len(seen) == 4 and {u.split for u in seen} == {"train"}


def test_empty_selection_names_the_manifest_and_the_filter(tiny_corpus: Path) -> None:
    with pytest.raises(EsslError, match=r"manifest\.jsonl.*split='valid'"):
        build_loader(tiny_corpus, _cfg(), seed=0, split="valid")
    with pytest.raises(EsslError, match="min_seconds"):
        build_loader(tiny_corpus, _cfg(min_seconds=1.2, max_seconds=1.5), seed=0)


@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_audio_raises_audio_error_naming_the_file(
    tiny_corpus: Path, workers: int
) -> None:
    victim = sorted((tiny_corpus.parent / "wav").glob("*.wav"))[3]
    victim.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=victim.name):
        for _ in build_loader(tiny_corpus, _cfg(num_workers=workers), seed=0):
            pass


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_seconds=5.0),  # above max_batch_seconds
        dict(min_seconds=2.0),  # above max_seconds
        dict(crop_alignment=0),
        dict(num_workers=-1),
        dict(global_shards=0),
    ],
)
def test_invalid_config_raises_config_error_before_reading_anything(
    kw: dict, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError):
        build_loader(tmp_path / "absent.jsonl", _cfg(**kw), seed=0)


def test_shards_must_be_a_multiple_of_world_size_and_labels_need_320_alignment(
    tmp_path: Path,
) -> None:
    absent = tmp_path / "absent.jsonl"
    with pytest.raises(ConfigError, match="global_shards"):
        build_loader(absent, _cfg(global_shards=3), seed=0, rank=0, world_size=2)
    with pytest.raises(ConfigError, match="crop_alignment"):
        build_loader(absent, _cfg(crop_alignment=160), seed=0, labels={})
    with pytest.raises(ConfigError, match="rank"):
        build_loader(absent, _cfg(), seed=0, rank=2, world_size=2)


def test_loader_state_round_trips_and_rejects_garbage(tiny_corpus: Path) -> None:
    loader: ResumableLoader = build_loader(tiny_corpus, _cfg(), seed=0)
    loader.load_state_dict({"epoch": 2, "batches": 1})
    assert loader.state_dict() == {"epoch": 2, "batches": 1}
    total = len(loader)
    assert total > 1 and len(list(loader)) == total - 1
    assert loader.state_dict() == {"epoch": 3, "batches": 0}
    with pytest.raises(EsslError):
        loader.load_state_dict({"epoch": "x"})


def test_batches_carry_frame_segments_of_their_crops_when_boundaries_are_given(tiny_corpus):
    from essl.data.loading import LoaderConfig, build_loader
    from essl.data.manifest import read_manifest

    utts = read_manifest(tiny_corpus)
    bounds = {u.id: [p[1] for p in u.phones[1:]] for u in utts}  # phone onsets
    loader = build_loader(
        tiny_corpus, LoaderConfig(max_seconds=0.6, max_batch_seconds=4.0), seed=0, boundaries=bounds
    )
    for batch in loader:
        assert batch.segments is not None and len(batch.segments) == len(batch.utterances)
        for segs, n in zip(batch.segments, batch.lengths.tolist()):
            T = 1 + (n - 400) // 320
            assert segs and segs[0][0] == 0 and segs[-1][1] == T
            assert all(a[1] == b[0] for a, b in itertools.pairwise(segs))  # contiguous tiling


def test_without_a_pad_multiple_batches_pad_to_the_longest_crop(ramp_corpus: Path) -> None:
    shapes = set()
    for batch in build_loader(ramp_corpus, _cfg(pad_multiple=0), seed=1):
        assert batch.wavs.shape[1] == int(batch.lengths.max())
        shapes.add(tuple(batch.wavs.shape))
    padded = {tuple(b.wavs.shape) for b in build_loader(ramp_corpus, _cfg(), seed=1)}
    assert len(padded) < len(shapes)  # shapes repeat: FLOPs are measured once per shape
