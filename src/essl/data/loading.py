"""Loading for training and evaluation: config, resumable loader, and the factory.

::

    loader = build_loader("corpus/manifest.jsonl", LoaderConfig(max_batch_seconds=32.0),
                          seed=0, rank=rank, world_size=world_size, split="train")
    loader.load_state_dict(ckpt["loader"])          # resume mid-epoch (optional)
    for step, batch in enumerate(loader):           # this epoch's remaining batches
        ...
        ckpt["loader"] = loader.state_dict()        # {"epoch": e, "batches": n}: JSON

Iterating the loader to its end moves it to the next epoch, so ``while True: for b in
loader:`` walks epochs 0, 1, 2...; ``set_epoch(e)`` jumps to epoch ``e`` (a no-op for the
current one, so a resumed position survives ``set_epoch(start_epoch)``).
See :mod:`essl.data.sampler` for how batches, crops and rank shards are planned.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from essl.data.batch import Batch
from essl.data.collate import collate
from essl.data.dataset import SAMPLE_RATE, CropDataset
from essl.data.manifest import read_manifest
from essl.data.sampler import BucketBatchSampler
from essl.errors import ConfigError, EsslError

__all__ = ["LoaderConfig", "ResumableLoader", "build_loader"]


@dataclass(kw_only=True)
class LoaderConfig:
    """How utterances are cropped, bucketed, batched and loaded."""

    max_batch_seconds: float = 32.0
    """Cap on a shard's *padded* audio: rows x longest crop <= this (memory stays bounded).
    A rank's batch is one shard when ``global_shards`` is unset."""
    min_seconds: float = 0.5
    """Utterances shorter than this are dropped."""
    max_seconds: float = 15.0
    """Utterances longer than this are randomly cropped to this length (<= max_batch_seconds)."""
    crop_alignment: int = 320
    """Crop offsets are multiples of this many samples (320 = the wav2vec 2.0 encoder stride,
    so frame labels stay aligned; must be a multiple of 320 when labels are used)."""
    pad_multiple: int = 8000
    """Pad each batch to a multiple of this many samples (8000 = 0.5 s), so batch shapes
    repeat: the meter measures FLOPs once per shape and torch.compile recompiles less.
    0 pads to the longest crop only. Padding never changes the features (padding-invariant
    encoder); the cap above counts the padded length."""
    random_crop: bool = True
    """Draw crop offsets at random per (seed, epoch, utterance); False: crop from the start."""
    num_buckets: int = 10
    """Equal-count duration buckets; shuffling happens within a bucket, so batches pad little."""
    shuffle: bool = True
    """Shuffle within buckets and the order of batches, differently each epoch."""
    drop_last: bool = False
    """Drop the epoch's last batch when it is incomplete."""
    global_shards: int | None = None
    """Shards per global batch (None = world_size), each capped by max_batch_seconds; a rank
    gets global_shards / world_size of them. A single process with global_shards=W gets, at
    each step, the union of what W DDP ranks get (the same global batch, up to W x the cap)."""
    num_workers: int = 0
    """Worker processes reading audio (0 = in the main process)."""
    prefetch_factor: int = 2
    """Batches each worker loads ahead (only with num_workers > 0)."""
    pin_memory: bool = False
    """Pin batches in page-locked memory for faster host-to-GPU copies (CUDA only)."""

    def validate(self) -> None:
        if not self.max_batch_seconds > 0:
            raise ConfigError("loader.max_batch_seconds: must be > 0, e.g. 32.0")
        if not 0 <= self.min_seconds <= self.max_seconds <= self.max_batch_seconds:
            raise ConfigError(
                f"loader: need 0 <= min_seconds ({self.min_seconds}) <= max_seconds "
                f"({self.max_seconds}) <= max_batch_seconds ({self.max_batch_seconds}); "
                "lower max_seconds or raise max_batch_seconds"
            )
        if round(self.max_seconds * SAMPLE_RATE) < 1:
            raise ConfigError("loader.max_seconds: must be at least one sample long")
        for name in ("crop_alignment", "num_buckets", "prefetch_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"loader.{name}: must be a positive integer")
        if self.pad_multiple < 0 or self.pad_multiple % 320:
            raise ConfigError(
                f"loader.pad_multiple: {self.pad_multiple} must be >= 0 and a multiple of 320 "
                "(the encoder stride), e.g. 8000 for 0.5 s, or 0"
            )
        if self.num_workers < 0:
            raise ConfigError("loader.num_workers: must be >= 0 (0 = load in the main process)")
        if self.global_shards is not None and self.global_shards < 1:
            raise ConfigError("loader.global_shards: must be >= 1, or null for world_size")


class ResumableLoader:
    """A torch DataLoader over a :class:`CropDataset` that counts batches *delivered*.

    Workers and the sampler run ahead of the training loop; the count in :meth:`state_dict`
    is of batches this iterator has handed out, so a restored loader yields exactly the
    batches the interrupted run had not received yet.
    """

    def __init__(
        self,
        dataset: CropDataset,
        sampler: BucketBatchSampler,
        cfg: LoaderConfig,
        boundaries: Mapping[str, Sequence[float]] | None = None,
    ):
        self.dataset = dataset
        self.sampler = sampler
        self.cfg = cfg
        self.boundaries = boundaries
        self.epoch = 0
        self.batches = 0
        self._loader = self._dataloader()
        self._pin = cfg.pin_memory and torch.cuda.is_available()

    def _dataloader(self) -> DataLoader[Any]:
        workers = self.cfg.num_workers
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            collate_fn=functools.partial(collate, pad_multiple=self.cfg.pad_multiple),
            num_workers=workers,
            prefetch_factor=self.cfg.prefetch_factor if workers > 0 else None,
            persistent_workers=workers > 0,
        )

    def __iter__(self) -> Iterator[Batch]:
        """The current epoch's batches not delivered yet; at the end, moves to the next epoch."""
        self.sampler.set_epoch(self.epoch, start=self.batches)
        it = iter(self._loader)
        try:
            for batch in it:
                self.batches += 1
                if self.boundaries is not None:
                    batch.segments = _segments(self.boundaries, batch)
                yield _pinned(batch) if self._pin else batch
        except Exception:
            # Stop the workers now: left to the garbage collector, torch's shutdown stalls
            # 5 s per worker. The next iteration starts fresh ones.
            getattr(it, "_shutdown_workers", lambda: None)()
            self._loader = self._dataloader()
            raise
        self.epoch, self.batches = self.epoch + 1, 0

    def __len__(self) -> int:
        """Batches in the whole current epoch (for this rank; equal on every rank)."""
        return self.sampler.num_batches(self.epoch)

    def set_epoch(self, epoch: int) -> None:
        """Go to the start of ``epoch``; a no-op when it is already the current epoch."""
        if epoch != self.epoch:
            self.epoch, self.batches = epoch, 0

    def state_dict(self) -> dict[str, int]:
        """``{"epoch": e, "batches": n}``: n batches of epoch e were delivered (JSON-safe)."""
        return {"epoch": self.epoch, "batches": self.batches}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at ``state`` (from :meth:`state_dict` of a loader built the same way)."""
        try:
            epoch, batches = int(state["epoch"]), int(state["batches"])
        except (KeyError, TypeError, ValueError):
            raise EsslError(
                f"loader state {dict(state)!r}: expected {{'epoch': int, 'batches': int}} "
                "from ResumableLoader.state_dict()"
            ) from None
        if epoch < 0 or batches < 0:
            raise EsslError(f"loader state {dict(state)!r}: epoch and batches must be >= 0")
        self.epoch, self.batches = epoch, batches


def _pinned(batch: Batch) -> Batch:
    return dataclasses.replace(
        batch,
        wavs=batch.wavs.pin_memory(),
        lengths=batch.lengths.pin_memory(),
        offsets=batch.offsets.pin_memory(),
        labels=None if batch.labels is None else batch.labels.pin_memory(),
        extras={k: v.pin_memory() for k, v in batch.extras.items()},
    )


def build_loader(
    manifest_path: str | Path,
    cfg: LoaderConfig,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    labels: Mapping[str, np.ndarray] | None = None,
    split: str | None = None,
    frames_fn: Callable[[int], int] | None = None,
    boundaries: Mapping[str, Sequence[float]] | None = None,
) -> ResumableLoader:
    """A :class:`ResumableLoader` over the utterances of ``manifest_path`` (of ``split``).

    Utterances shorter than ``cfg.min_seconds`` are dropped; raises EsslError when none are
    left, ConfigError for an invalid ``cfg``, and AudioError (naming the file) when an
    utterance cannot be read. ``labels``: utterance id -> (T,) frame labels at 50 Hz.
    ``boundaries``: utterance id -> boundary times (s); batches then carry ``segments``.
    """
    cfg.validate()
    if not 0 <= rank < world_size or seed < 0:
        raise ConfigError(
            f"build_loader: need seed >= 0 and 0 <= rank < world_size, got seed={seed}, "
            f"rank={rank}, world_size={world_size}"
        )
    shards = world_size if cfg.global_shards is None else cfg.global_shards
    if shards % world_size:
        raise ConfigError(
            f"loader.global_shards: {shards} is not a multiple of world_size={world_size}; "
            "set it to the DDP world size (or a multiple of it), or null"
        )
    if labels is not None and cfg.crop_alignment % 320:
        raise ConfigError(
            f"loader.crop_alignment: {cfg.crop_alignment} is not a multiple of 320 (the label "
            "hop); frame labels would be misaligned, use 320"
        )
    all_utts = read_manifest(manifest_path)
    utts = [u for u in all_utts if split is None or u.split == split]
    utts = [u for u in utts if u.duration >= cfg.min_seconds]
    if not utts:
        found = sorted({str(u.split) for u in all_utts})
        raise EsslError(
            f"{manifest_path}: no utterances left after filtering (split={split!r}, "
            f"loader.min_seconds={cfg.min_seconds}); splits present: {', '.join(found)}; "
            "pick one of them or lower loader.min_seconds"
        )
    dataset = CropDataset(utts, manifest_path, labels=labels, frames_fn=frames_fn)
    sampler = BucketBatchSampler(
        dataset.num_samples(),
        max_batch_samples=round(cfg.max_batch_seconds * SAMPLE_RATE),
        max_crop_samples=round(cfg.max_seconds * SAMPLE_RATE),
        crop_alignment=cfg.crop_alignment,
        pad_multiple=cfg.pad_multiple,
        num_buckets=cfg.num_buckets,
        shuffle=cfg.shuffle,
        random_crop=cfg.random_crop,
        drop_last=cfg.drop_last,
        seed=seed,
        rank=rank,
        world_size=world_size,
        shards=shards,
    )
    return ResumableLoader(dataset, sampler, cfg, boundaries)


def _segments(boundaries: Mapping[str, Sequence[float]], batch: Batch) -> Any:
    from essl.masking.segment import batch_segments

    return batch_segments(boundaries, batch.utterances, batch.offsets, batch.lengths)
