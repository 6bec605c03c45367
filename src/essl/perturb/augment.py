"""Perturbation as augmentation: perturb some utterances of a pretraining batch.

:func:`augment_batch` draws, for every row of a :class:`~essl.data.batch.Batch`, whether it
is perturbed (probability ``AugmentConfig.probability``), which condition (uniform over
``conditions``) and which severity (uniform in the condition's range), then applies the
named condition of :mod:`essl.perturb.conditions` to that row's valid samples. The draw is
made for every row whether or not it is used, so the number of random numbers consumed
depends only on the batch size and the perturbations' own draws: the same generator state
gives a bit-identical batch (exact resume works when the trainer restores torch's default
generator, as :mod:`essl.training.checkpoint` does).

Trainer wiring (inside the step, before ``task(batch)``, with the checkpoint's RNG state
already restored)::

    batch = augment_batch(batch, cfg.augment, generator=None)   # torch's default generator
    out = task(batch)

or wrap the task once with :class:`essl.objectives.consistency.AugmentedTask`, which does
exactly that in its ``forward``.

What was done is recorded in ``batch.extras`` (on the waveforms' device):

* ``"augment_condition"``: (B,) long, index into ``cfg.conditions``; -1 = left clean;
* ``"augment_severity"``: (B,) float32, the severity used; NaN = left clean.

Babble takes its talkers from the *other* rows of the batch. Severities of the categorical
conditions (``telephone``, ``mulaw``, ``mp3``, ``opus``) snap to that condition's default
severities inside the range. ``speed`` changes lengths: the batch is re-padded and
``lengths`` updated, and it is refused for batches carrying frame ``labels`` or
``segments`` (they would no longer line up). Augmentation of this kind is standard for
noise-robust SSL pretraining (e.g. WavLM, Chen et al. 2022, §3.2 utterance mixing;
wav2vec-Switch, Wang et al. ICASSP 2022, §2 noisy copies).
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field, replace

import torch

from essl.data.batch import Batch
from essl.errors import ConfigError, EsslError
from essl.evaluation._threads import single_thread_if_small
from essl.perturb.base import Perturbation, Perturbed
from essl.perturb.conditions import CONDITIONS, get_condition

__all__ = ["CATEGORICAL", "AugmentConfig", "augment_batch", "draw_plan", "perturb_rows"]

CATEGORICAL = frozenset({"telephone", "mulaw", "mp3", "opus"})
"""Conditions whose severities are categories; a drawn severity snaps to a default value."""


@dataclass(kw_only=True)
class AugmentConfig:
    """Which perturbations augment pretraining batches, how strongly and how often."""

    conditions: tuple[str, ...] = ("noise", "babble", "reverb", "bandlimit")
    """Condition names (see :data:`essl.perturb.CONDITIONS`), drawn uniformly per row."""
    severity_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per condition, the ``(low, high)`` severity range sampled uniformly per row; a
    condition not listed uses the min and max of its default severities (e.g. noise 0-20
    dB SNR, reverb RT60 0.3-0.9 s)."""
    probability: float = 0.5
    """Probability that a row is perturbed (0 = never, 1 = always)."""
    seed: int | None = None
    """None: draw from the generator given to :func:`augment_batch` (the trainer passes
    torch's default generator, restored on resume). An int: a private generator seeded
    from (seed, utterance ids, crop offsets), so a given crop always gets the same
    augmentation whatever the RNG stream."""
    sample_rate: int = 16000
    """Sample rate of the batch's waveforms."""

    def validate(self) -> None:
        if not self.conditions:
            raise ConfigError("augment.conditions: empty; name at least one, e.g. noise,reverb")
        for name in self.conditions:
            get_condition(name)  # raises naming the condition or the missing package
        for name, rng in self.severity_ranges.items():
            if name not in self.conditions:
                raise ConfigError(
                    f"augment.severity_ranges: '{name}' is not in augment.conditions "
                    f"({', '.join(self.conditions)}); add it there or drop its range"
                )
            if len(rng) != 2 or float(rng[0]) > float(rng[1]):
                raise ConfigError(
                    f"augment.severity_ranges.{name}: expected (low, high) with low <= high, "
                    f"got {rng}"
                )
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(f"augment.probability: must lie in [0, 1], got {self.probability}")

    def range_of(self, name: str) -> tuple[float, float]:
        """``(low, high)`` severity range of condition ``name``."""
        if name in self.severity_ranges:
            lo, hi = self.severity_ranges[name]
            return float(lo), float(hi)
        sev = CONDITIONS[name].severities
        return float(min(sev)), float(max(sev))


def _severity(cfg: AugmentConfig, name: str, u: float) -> float:
    """Severity for a uniform draw ``u`` in [0, 1): a point of the range (rounded to 0.01)
    or, for a categorical condition, one of its default severities inside the range."""
    lo, hi = cfg.range_of(name)
    if name in CATEGORICAL:
        inside = [s for s in CONDITIONS[name].severities if lo <= s <= hi]
        choices = inside or [min(CONDITIONS[name].severities, key=lambda s: abs(s - lo))]
        return float(choices[min(int(u * len(choices)), len(choices) - 1)])
    return round(lo + (hi - lo) * u, 2)


@functools.lru_cache(maxsize=512)
def _perturbation(name: str, severity: float, sample_rate: int) -> Perturbation:
    return get_condition(name).make(severity, sample_rate=sample_rate)


def draw_plan(
    cfg: AugmentConfig, batch_size: int, generator: torch.Generator | None
) -> list[tuple[int, float] | None]:
    """Per row, ``(condition index, severity)`` or None (left clean); 3 draws per row."""
    apply = torch.rand(batch_size, generator=generator) < cfg.probability
    which = torch.randint(0, len(cfg.conditions), (batch_size,), generator=generator)
    level = torch.rand(batch_size, generator=generator)
    plan: list[tuple[int, float] | None] = []
    for b in range(batch_size):
        if not bool(apply[b]):
            plan.append(None)
            continue
        c = int(which[b])
        plan.append((c, _severity(cfg, cfg.conditions[c], float(level[b]))))
    return plan


def perturb_rows(
    wavs: torch.Tensor,
    lengths: torch.Tensor,
    plan: list[tuple[int, float] | None],
    conditions: tuple[str, ...],
    generator: torch.Generator | None,
    sample_rate: int = 16000,
) -> Perturbed:
    """Apply ``plan`` row by row (None rows are copied); babble talkers are the other rows.

    Returns the re-padded (B, S') waveforms, (B,) lengths and one record per row
    (``{"perturbation": "none"}`` for clean rows).
    """
    rows, records = [], []
    for b, step in enumerate(plan):
        n = int(lengths[b])
        x = wavs[b : b + 1, :n]
        if step is None:
            rows.append(x[0])
            records.append({"perturbation": "none"})
            continue
        name, sev = conditions[step[0]], step[1]
        if name == "babble":
            others = [wavs[k, : int(lengths[k])] for k in range(len(plan)) if k != b]
            p = get_condition(name).make(sev, sample_rate=sample_rate, sources=others or None)
        else:
            p = _perturbation(name, sev, sample_rate)
        with single_thread_if_small(x.numel(), x.device):
            y, _, rec = p(x, lengths[b : b + 1], generator)
        rows.append(y[0])
        records.append(rec[0])
    new_lengths = torch.tensor([r.shape[0] for r in rows], dtype=lengths.dtype)
    out = wavs.new_zeros(len(rows), max(int(new_lengths.max()), 0) if rows else 0)
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return Perturbed(out, new_lengths.to(lengths.device), records)


def _crop_generator(seed: int, batch: Batch) -> torch.Generator:
    text = f"{seed}|" + "|".join(
        f"{i}@{int(o)}" for i, o in zip(batch.ids, batch.offsets.tolist(), strict=True)
    )
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def augment_batch(batch: Batch, cfg: AugmentConfig, generator: torch.Generator | None) -> Batch:
    """A new batch whose rows are perturbed with probability ``cfg.probability``.

    See the module docstring for the draws, the records in ``extras`` and determinism.
    ``generator`` is a CPU generator (None = torch's default); ignored when ``cfg.seed``
    is set.
    """
    cfg.validate()
    if cfg.seed is not None:
        generator = _crop_generator(cfg.seed, batch)
    B = batch.wavs.shape[0]
    plan = draw_plan(cfg, B, generator)
    kinds = torch.tensor([-1 if s is None else s[0] for s in plan], dtype=torch.long)
    sevs = torch.tensor([math.nan if s is None else s[1] for s in plan], dtype=torch.float32)
    extras = {
        **batch.extras,
        "augment_condition": kinds.to(batch.wavs.device),
        "augment_severity": sevs.to(batch.wavs.device),
    }
    if all(s is None for s in plan):
        return replace(batch, extras=extras)
    out = perturb_rows(batch.wavs, batch.lengths, plan, cfg.conditions, generator, cfg.sample_rate)
    if not torch.equal(out.lengths, batch.lengths) and (
        batch.labels is not None or batch.segments is not None
    ):
        raise EsslError(
            "augment: a length-changing condition (speed) was applied to a batch with frame "
            "labels or segments, which would no longer line up; drop 'speed' from "
            "augment.conditions for this objective"
        )
    if out.wavs.shape[1] < batch.wavs.shape[1]:  # keep the padded size of the input
        pad = batch.wavs.shape[1] - out.wavs.shape[1]
        wavs = torch.nn.functional.pad(out.wavs, (0, pad))
    else:
        wavs = out.wavs
    return replace(batch, wavs=wavs, lengths=out.lengths, extras=extras)
