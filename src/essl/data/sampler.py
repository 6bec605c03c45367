"""Duration-bucketed, distributed-aware batch planning with reproducible random crops.

An epoch's plan is a pure function of the items' lengths, the sampler's settings, ``seed``
and ``epoch`` (never of the rank's worker count or of the run's history), which is what
makes exact mid-epoch resume and the DDP equivalence below possible.

The plan of an epoch:

1. **Crops.** Item ``i`` of ``n_i`` samples gets the crop length
   ``L_i = min(n_i, max_crop_samples)`` (fixed across epochs) and, when it is longer than
   the crop, an offset drawn uniformly among multiples of ``crop_alignment`` with
   ``offset + L_i <= n_i``, from an RNG seeded by ``(seed, epoch)`` indexed by ``i``
   (``random_crop=False``: offset 0).
2. **Buckets.** Items sorted by ``L_i`` (ties in random order with ``shuffle``, else by
   ``i``) are cut into ``num_buckets`` equal-count buckets; with ``shuffle`` each bucket's
   order is permuted (RNG seeded by ``(seed, epoch)``).
3. **Global batches.** The buckets, concatenated shortest first, are packed greedily: a
   global batch whose longest crop is ``L`` holds at most ``shards * floor(cap / L)`` items,
   ``cap = max_batch_samples``. It is then split into ``shards`` strided *shards* of at most
   ``floor(cap / L)`` items, so a shard's padded size ``rows x L`` never exceeds ``cap``.
   With ``shuffle`` the order of the global batches is permuted.
4. **Ranks.** A global batch's items are sorted by ``(-L_i, i)``; rank ``r`` of
   ``world_size`` takes positions ``r, r + world_size, ...`` (``shards`` must be a multiple of
   ``world_size``; each rank thus holds ``shards / world_size`` shards, disjoint from the
   other ranks'). Every rank gets the same number of batches per epoch, and the union of the
   ranks' batches at step ``k`` is global batch ``k`` -- also what a single process built
   with the same ``shards`` gets at step ``k``.

The epoch's last global batch is the only one that may be incomplete; it is dropped when
``drop_last`` is set (if it could have held more items) or when it has fewer than
``world_size`` items (a rank would get an empty batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["BucketBatchSampler", "Crop"]

_TAG_CROP = 0xC209
_TAG_SHUFFLE = 0x5F1E


class Crop(NamedTuple):
    """Which samples of which item to load."""

    item: int
    """Index of the item in the dataset."""
    offset: int
    """First sample of the crop (a multiple of the crop alignment)."""
    length: int
    """Samples planned for the crop (the file may hold fewer)."""


class BucketBatchSampler:
    """Yields this rank's batches of :class:`Crop` for the current epoch (see module doc).

    ``num_samples`` are the items' lengths in samples at 16 kHz (from the manifest).
    Use it as a torch ``DataLoader(batch_sampler=...)``; resume with
    ``set_epoch(epoch, start=batches_already_consumed)``.
    """

    def __init__(
        self,
        num_samples: Sequence[int] | np.ndarray,
        *,
        max_batch_samples: int,
        max_crop_samples: int,
        crop_alignment: int = 320,
        pad_multiple: int = 0,
        num_buckets: int = 10,
        shuffle: bool = True,
        random_crop: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shards: int | None = None,
    ) -> None:
        shards = world_size if shards is None else shards
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if shards < 1 or shards % world_size:
            raise ValueError(
                f"shards ({shards}) must be a positive multiple of world_size ({world_size})"
            )
        if not 0 < max_crop_samples <= max_batch_samples:
            raise ValueError(
                f"need 0 < max_crop_samples ({max_crop_samples}) <= "
                f"max_batch_samples ({max_batch_samples})"
            )
        if crop_alignment < 1 or num_buckets < 1 or seed < 0:
            raise ValueError("crop_alignment and num_buckets must be >= 1 and seed >= 0")
        self.num_samples = np.asarray(num_samples, dtype=np.int64)
        if self.num_samples.ndim != 1 or len(self.num_samples) == 0:
            raise ValueError("num_samples must be a non-empty 1-d sequence")
        self.crop_lengths = np.minimum(self.num_samples, max_crop_samples)
        q = max(pad_multiple, 1)
        self.padded_lengths = -(-self.crop_lengths // q) * q
        """Lengths as collated (padded to ``pad_multiple``): what the batch cap counts."""
        self.max_batch_samples = max_batch_samples
        self.max_crop_samples = max_crop_samples
        self.crop_alignment = crop_alignment
        self.num_buckets = num_buckets
        self.shuffle = shuffle
        self.random_crop = random_crop
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shards = shards
        self.epoch = 0
        self.start = 0
        self._cache: tuple[int, list[list[int]], np.ndarray] | None = None

    # -- the plan ----------------------------------------------------------------------
    def offsets(self, epoch: int) -> np.ndarray:
        """(N,) crop offsets of every item for ``epoch``; multiples of the crop alignment."""
        slots = (self.num_samples - self.crop_lengths) // self.crop_alignment + 1
        if not self.random_crop:
            return np.zeros_like(slots)
        u = np.random.default_rng((_TAG_CROP, self.seed, epoch)).random(len(slots))
        return np.minimum((u * slots).astype(np.int64), slots - 1) * self.crop_alignment

    def global_plan(self, epoch: int) -> list[list[Crop]]:
        """The global batches of ``epoch`` in step order, each sorted by (-length, item)."""
        batches, offsets = self._plan(epoch)
        lengths = self.crop_lengths
        return [[Crop(i, int(offsets[i]), int(lengths[i])) for i in b] for b in batches]

    def rank_plan(self, epoch: int) -> list[list[Crop]]:
        """This rank's batches of ``epoch``: positions ``rank::world_size`` of each global batch."""
        return [b[self.rank :: self.world_size] for b in self.global_plan(epoch)]

    def _plan(self, epoch: int) -> tuple[list[list[int]], np.ndarray]:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, self._batches(epoch), self.offsets(epoch))
        return self._cache[1], self._cache[2]

    def _batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng((_TAG_SHUFFLE, self.seed, epoch))
        n = len(self.crop_lengths)
        ties = rng.permutation(n) if self.shuffle else np.arange(n)
        order = np.lexsort((ties, self.crop_lengths))
        buckets = np.array_split(order, min(self.num_buckets, len(order)))
        if self.shuffle:
            buckets = [rng.permutation(b) for b in buckets]
        batches = self._pack(np.concatenate(buckets))
        if self.shuffle:
            batches = [batches[j] for j in rng.permutation(len(batches))]
        return batches

    def _pack(self, order: np.ndarray) -> list[list[int]]:
        lengths, cap = self.padded_lengths, self.max_batch_samples
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for i in order.tolist():
            n = max(longest, int(lengths[i]))
            if current and len(current) + 1 > self.shards * (cap // n):
                batches.append(current)
                current, n = [], int(lengths[i])
            current.append(i)
            longest = n
        if current:
            room = len(current) < self.shards * (cap // longest)
            if len(current) >= self.world_size and not (self.drop_last and room):
                batches.append(current)
        crops = self.crop_lengths
        return [sorted(b, key=lambda i: (-int(crops[i]), i)) for b in batches]

    # -- iteration ---------------------------------------------------------------------
    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch to iterate, skipping its first ``start`` batches (resume)."""
        if epoch < 0 or start < 0:
            raise ValueError(f"epoch and start must be >= 0, got {epoch}, {start}")
        self.epoch, self.start = epoch, start

    def num_batches(self, epoch: int) -> int:
        """Batches of ``epoch`` (the same on every rank)."""
        return len(self._plan(epoch)[0])

    def __iter__(self) -> Iterator[list[Crop]]:
        """This rank's batches of the current epoch from ``start`` (fixed when called)."""
        return iter(self.rank_plan(self.epoch)[self.start :])

    def __len__(self) -> int:
        """Batches in the whole current epoch (including any skipped by ``start``)."""
        return self.num_batches(self.epoch)
