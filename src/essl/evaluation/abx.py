"""ABX phone discriminability, within and across speakers (libri-light / ZeroSpeech 2021).

Protocol (Schatz et al. 2013; Kahn et al. 2020, libri-light §4.1; Nguyen et al. 2020,
ZeroSpeech 2021 §3.1), as the libri-light reference code behaves:

* **Items** are triphones: a phone with its left and right neighbours, spanning from the
  onset of the previous phone to the offset of the next (item-file columns ``#file onset
  offset #phone prev next speaker``); the context is ``(prev, next)``. Pauses are never
  the centre phone. An item covers frames ``ceil(f·onset − 0.5)`` up to but excluding
  ``floor(f·offset − 0.5)`` (f = model frame rate); empty items are dropped. Each frame is
  L2-normalised (:func:`normalize_with_singularity`).
* **Distance** between items: :func:`essl.evaluation.dtw.pair_dtw` (arccos/π frame
  distance, DTW cost over backtracked path length). Rows of the DTW are the X item; for two
  items of the same phone group (within: X and A), the one earlier in item order.
* **Within speaker**: for each (context, speaker) with ≥ 2 phones, each phone A with ≥ 2
  tokens and each other phone B: θ = P[d(A,X) < d(B,X)] + ½·P[tie] over A, B and X ∈ A
  tokens with X ≠ A. **Across**: A, B from speaker s; X = the A phone in the same context
  from another speaker; up to ``max_x_across`` such speakers drawn once per (context, s, A).
* Groups larger than ``max_size_group`` are subsampled at every use (seeded). Error = 1 − θ,
  averaged over contexts (across: contexts and X speakers), then speakers, then (A, B).

Sampling order (ours; the reference is unseeded): contexts, speakers and phones sorted;
within: B sample then A sample per (A, B); across: X speakers per (context, s, A), then A,
B, X samples per (X speaker, B). libri-light orders by first appearance in the item file
and computes in float32; we compute in float64 (``dtype``), so without subsampling scores
equal libri-light's up to float32 near-ties.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from essl.data.manifest import Utterance
from essl.errors import ConfigError
from essl.evaluation.dtw import pair_dtw
from essl.evaluation.frames import SILENCE

__all__ = [
    "ABXConfig",
    "ABXItem",
    "ABXResult",
    "abx",
    "abx_items",
    "item_frame_span",
    "normalize_with_singularity",
    "subsample",
]


@dataclass(frozen=True, kw_only=True)
class ABXItem:
    """One row of an item file: ``#file onset offset #phone prev next speaker``."""

    file: int
    """Index of the utterance (its feature sequence)."""
    onset: float
    offset: float
    phone: str
    prev: str
    next: str
    speaker: str


@dataclass(kw_only=True)
class ABXConfig:
    """ABX options (defaults: the libri-light command line)."""

    max_size_group: int = 10
    """Tokens kept per (context, speaker, phone) group at each use; larger groups are sampled."""
    max_x_across: int = 5
    """Other speakers drawn per (context, speaker, A) in the across task."""
    seed: int = 0
    """Seed of the subsampling."""
    modes: tuple[str, ...] = ("within", "across")
    """Which scores to compute."""

    def validate(self) -> None:
        if self.max_size_group < 2:
            raise ConfigError("abx.max_size_group must be >= 2 (libri-light uses 10)")
        if self.max_x_across < 1:
            raise ConfigError("abx.max_x_across must be >= 1 (libri-light uses 5)")
        bad = [m for m in self.modes if m not in ("within", "across")]
        if bad or not self.modes:
            raise ConfigError(f"abx.modes: {bad or '()'} invalid; use within and/or across")


@dataclass(frozen=True, kw_only=True)
class ABXResult:
    """ABX error rates (fractions in [0, 1]; NaN when no triplet could be formed)."""

    within: float
    across: float
    num_items: int
    """Items left after dropping empty ones."""
    num_triplet_groups: dict[str, int]
    """Scored (A, B, X) groups per mode."""


def abx_items(utts: Sequence[Utterance]) -> list[ABXItem]:
    """Triphone items of every utterance with phone alignments and a speaker."""
    items = []
    for fi, u in enumerate(utts):
        ph = u.phones or ()
        for k in range(1, len(ph) - 1):
            if ph[k][0] in SILENCE:
                continue
            items.append(
                ABXItem(
                    file=fi,
                    onset=ph[k - 1][1],
                    offset=ph[k + 1][2],
                    phone=ph[k][0],
                    prev=ph[k - 1][0],
                    next=ph[k + 1][0],
                    speaker=u.speaker or "?",
                )
            )
    return items


def item_frame_span(
    onset: float, offset: float, frame_rate: float, num_frames: int
) -> tuple[int, int]:
    """Frames ``[ceil(f·onset − 0.5), floor(f·offset − 0.5))`` clipped to ``[0, num_frames]``."""
    start = max(0, math.ceil(frame_rate * onset - 0.5))
    end = min(num_frames, math.floor(frame_rate * offset - 0.5))
    return start, end


def normalize_with_singularity(x: torch.Tensor) -> torch.Tensor:
    """(N, D) → (N, D + 1): L2-normalised frames plus libri-light's border coordinate.

    The extra coordinate is 1e-12 (changes dot products by 1e-24); a zero frame becomes
    ``(1/√D, ..., -2e12)``, which puts it at the maximal distance (1) from every other frame.
    """
    norm = x.norm(dim=1, keepdim=True)
    zero = norm[:, 0] == 0
    x = torch.where(
        zero[:, None], torch.full_like(x, x.shape[1] ** -0.5), x / norm.clamp_min(1e-300)
    )
    border = torch.where(zero, -2e12, 1e-12).to(x.dtype)[:, None]
    return torch.cat([x, border], dim=1)


def subsample(rng: np.random.Generator, seq: Sequence[int], k: int) -> list[int]:
    """``seq`` if it has at most ``k`` elements, else ``k`` of them (seeded, order kept)."""
    if len(seq) <= k:
        return list(seq)
    return [seq[i] for i in sorted(rng.choice(len(seq), size=k, replace=False).tolist())]


def abx(
    features: Sequence[torch.Tensor],
    items: Sequence[ABXItem],
    frame_rate: float,
    cfg: ABXConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> ABXResult:
    """ABX errors of per-file features ``[(T_i, D)]`` (index = ``item.file``) at ``frame_rate`` Hz."""
    cfg = cfg or ABXConfig()
    cfg.validate()
    kept, frames, offsets, lengths = _item_frames(features, items, frame_rate, device, dtype)
    groups = _groups(kept)
    rng = np.random.default_rng(cfg.seed)
    combos = {}
    if "within" in cfg.modes:
        combos["within"] = _within_combos(groups, cfg.max_size_group, rng)
    if "across" in cfg.modes:
        combos["across"] = _across_combos(groups, cfg, rng)
    n = max(len(kept), 1)
    needed = [
        _pair_keys(c, n, mode == "within", sl) for mode, c in combos.items() for sl in _chunks(c)
    ]
    all_keys = np.unique(np.concatenate([k[k >= 0] for k in needed] or [np.zeros(0, np.int64)]))
    rows = torch.as_tensor(all_keys // n, device=frames.device)
    cols = torch.as_tensor(all_keys % n, device=frames.device)
    dist = pair_dtw(frames, offsets, lengths, rows, cols).cpu().numpy()
    scores = {"within": math.nan, "across": math.nan}
    counts = {}
    for mode, c in combos.items():
        sym = mode == "within"
        theta = [_theta(c, _pair_keys(c, n, sym, sl), sl, all_keys, dist, sym) for sl in _chunks(c)]
        err = 1.0 - np.concatenate(theta or [np.zeros(0)])
        scores[mode] = _average(c.coords, err)
        counts[mode] = len(err)
    return ABXResult(
        within=scores["within"],
        across=scores["across"],
        num_items=len(kept),
        num_triplet_groups=counts,
    )


def _item_frames(
    features: Sequence[torch.Tensor],
    items: Sequence[ABXItem],
    frame_rate: float,
    device: str | torch.device,
    dtype: torch.dtype,
) -> tuple[list[ABXItem], torch.Tensor, torch.Tensor, torch.Tensor]:
    kept, pieces, lengths = [], [], []
    for it in items:
        if not 0 <= it.file < len(features):
            raise ValueError(f"abx: item refers to file {it.file}, but {len(features)} were given")
        f = features[it.file]
        s, e = item_frame_span(it.onset, it.offset, frame_rate, f.shape[0])
        if e > s:
            kept.append(it)
            pieces.append(f[s:e])
            lengths.append(e - s)
    if not pieces:
        d = features[0].shape[-1] if features else 1
        return (
            kept,
            torch.zeros(0, d, dtype=dtype, device=device),
            *(torch.zeros(0, dtype=torch.long),) * 2,
        )
    x = torch.cat(pieces).to(device=device, dtype=dtype)
    x = normalize_with_singularity(x)
    ln = torch.tensor(lengths, dtype=torch.long, device=device)
    return kept, x, torch.cumsum(ln, 0) - ln, ln


Groups = dict[tuple[str, str], dict[str, dict[str, list[int]]]]
"""context → speaker → phone → item indices (in item order)."""


def _groups(items: Sequence[ABXItem]) -> Groups:
    g: Groups = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for i, it in enumerate(items):
        g[(it.prev, it.next)][it.speaker][it.phone].append(i)
    return g


@dataclass
class _Combos:
    coords: list[tuple[str, ...]]
    """(speaker, A, B, context[, X speaker]) per scored group."""
    a: list[list[int]]
    b: list[list[int]]
    x: list[list[int]]


def _within_combos(groups: Groups, k: int, rng: np.random.Generator) -> _Combos:
    out = _Combos([], [], [], [])
    for ctx in sorted(groups):
        for spk in sorted(groups[ctx]):
            phones = groups[ctx][spk]
            if len(phones) < 2:
                continue
            for pa in sorted(phones):
                if len(phones[pa]) < 2:
                    continue
                for pb in sorted(phones):
                    if pb == pa:
                        continue
                    out.b.append(subsample(rng, phones[pb], k))  # B drawn first, as libri-light
                    a = subsample(rng, phones[pa], k)
                    out.coords.append((spk, pa, pb, "|".join(ctx)))
                    out.a.append(a)
                    out.x.append(a)
    return out


def _across_combos(groups: Groups, cfg: ABXConfig, rng: np.random.Generator) -> _Combos:
    out = _Combos([], [], [], [])
    k = cfg.max_size_group
    for ctx in sorted(groups):
        by_spk = groups[ctx]
        for spk in sorted(by_spk):
            phones = by_spk[spk]
            if len(phones) < 2:
                continue
            for pa in sorted(phones):
                others = [s for s in sorted(by_spk) if s != spk and pa in by_spk[s]]
                if not others:
                    continue
                for xs in subsample(rng, range(len(others)), cfg.max_x_across):
                    for pb in sorted(phones):
                        if pb == pa:
                            continue
                        out.coords.append((spk, pa, pb, "|".join(ctx), others[xs]))
                        out.a.append(subsample(rng, phones[pa], k))
                        out.b.append(subsample(rng, phones[pb], k))
                        out.x.append(subsample(rng, by_spk[others[xs]][pa], k))
    return out


def _pad(groups: list[list[int]]) -> np.ndarray:
    width = max((len(g) for g in groups), default=1)
    out = np.full((len(groups), width), -1, dtype=np.int64)
    for r, g in enumerate(groups):
        out[r, : len(g)] = g
    return out


_CHUNK = 8192  # groups scored at once (bounds the (C, A, B, X) comparison tensor)


def _chunks(c: _Combos) -> list[slice]:
    return [slice(i, i + _CHUNK) for i in range(0, len(c.a), _CHUNK)]


def _pair_keys(c: _Combos, n_items: int, symmetric: bool, sl: slice) -> np.ndarray:
    """(C, Ga·Gx + Gb·Gx) keys ``row·n_items + col`` of the DTWs each group needs (−1 = none)."""
    a, b, x = _pad(c.a[sl]), _pad(c.b[sl]), _pad(c.x[sl])
    xr, ca, cb = x[:, None, :], a[:, :, None], b[:, :, None]  # [group, a|b, x]
    ok_a, ok_b = (ca >= 0) & (xr >= 0), (cb >= 0) & (xr >= 0)
    # X is the DTW row (libri-light get_theta_group_dtw); within, X and A come from one
    # group and the earlier item is the row (its dtw_batch fills the upper triangle).
    row, col = (np.minimum(ca, xr), np.maximum(ca, xr)) if symmetric else (xr, ca)
    ax = np.where(ok_a, row * n_items + col, -1)
    bx = np.where(ok_b, xr * n_items + cb, -1)
    return np.concatenate([ax.reshape(len(a), -1), bx.reshape(len(a), -1)], axis=1)


def _theta(
    c: _Combos, keys: np.ndarray, sl: slice, all_keys: np.ndarray, dist: np.ndarray, symmetric: bool
) -> np.ndarray:
    """(C,) θ = P[d(A,X) < d(B,X)] + ½ P[tie] per group of chunk ``sl``."""
    C = len(c.a[sl])
    ga, gb = max(len(v) for v in c.a[sl]), max(len(v) for v in c.b[sl])
    gx = max(len(v) for v in c.x[sl])
    d = np.where(keys >= 0, dist[np.searchsorted(all_keys, np.maximum(keys, 0))], np.nan)
    dax = d[:, : ga * gx].reshape(C, ga, 1, gx)
    dbx = d[:, ga * gx :].reshape(C, 1, gb, gx)
    valid = ~np.isnan(dax) & ~np.isnan(dbx)
    if symmetric:  # X ≠ A: A and X index the same padded group
        valid &= ~np.eye(ga, gx, dtype=bool)[None, :, None, :]
    score = np.where(valid, (dax < dbx) + 0.5 * (dax == dbx), 0.0)
    return score.sum(axis=(1, 2, 3)) / valid.sum(axis=(1, 2, 3))


def _average(coords: list[tuple[str, ...]], err: np.ndarray) -> float:
    """Mean over contexts (and X speakers) per (speaker, A, B), then speakers, then (A, B)."""
    if len(err) == 0:
        return math.nan
    per_sab: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for co, e in zip(coords, err.tolist()):
        per_sab[(co[0], co[1], co[2])].append(e)
    per_ab: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (_, pa, pb), v in per_sab.items():
        per_ab[(pa, pb)].append(sum(v) / len(v))
    means = [sum(v) / len(v) for v in per_ab.values()]
    return sum(means) / len(means)
