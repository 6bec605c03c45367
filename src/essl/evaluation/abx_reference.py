"""A straightforward pure-Python ABX (loops only), to check :func:`essl.evaluation.abx.abx`.

It follows the same protocol and draws the same subsamples (same seeded call order), one
DTW per (A|B, X) use, with the libri-light dynamic programme written out cell by cell.
Slow (about a millisecond per DTW); for tests and :mod:`benchmarks.abx` only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from essl.evaluation.abx import ABXConfig, ABXItem, item_frame_span, subsample

__all__ = ["reference_abx", "reference_dtw"]

Frames = list[list[float]]
_Groups = dict[tuple[str, str], dict[str, dict[str, list[int]]]]
_Errs = dict[tuple[str, str, str], list[float]]


def reference_dtw(x: Frames, y: Frames) -> float:
    """libri-light ``dtw.pyx``: DTW of arccos(x·y)/π with path-length normalisation."""
    n, m = len(x), len(y)
    dist = [
        [math.acos(max(-1.0, min(1.0, sum(a * b for a, b in zip(u, v))))) / math.pi for v in y]
        for u in x
    ]
    cost = [[0.0] * m for _ in range(n)]
    cost[0][0] = dist[0][0]
    for i in range(1, n):
        cost[i][0] = dist[i][0] + cost[i - 1][0]
    for j in range(1, m):
        cost[0][j] = dist[0][j] + cost[0][j - 1]
    for i in range(1, n):
        for j in range(1, m):
            cost[i][j] = dist[i][j] + min(cost[i - 1][j], cost[i - 1][j - 1], cost[i][j - 1])
    i, j, length = n - 1, m - 1, 1
    while i > 0 and j > 0:
        up, left, corner = cost[i - 1][j], cost[i][j - 1], cost[i - 1][j - 1]
        if corner <= left and corner <= up:
            i, j = i - 1, j - 1
        elif left <= up:
            j -= 1
        else:
            i -= 1
        length += 1
    if i == 0:
        length += j
    if j == 0:
        length += i
    return cost[n - 1][m - 1] / length


def reference_abx(
    features: Sequence[torch.Tensor],
    items: Sequence[ABXItem],
    frame_rate: float,
    cfg: ABXConfig | None = None,
) -> dict[str, float]:
    """``{"within": error, "across": error}`` computed with plain loops."""
    cfg = cfg or ABXConfig()
    data: list[Frames] = []
    kept: list[ABXItem] = []
    for it in items:
        f = features[it.file]
        s, e = item_frame_span(it.onset, it.offset, frame_rate, f.shape[0])
        if e > s:
            data.append([_normalise(r) for r in f[s:e].double().tolist()])
            kept.append(it)
    g: dict[tuple[str, str], dict[str, dict[str, list[int]]]] = {}
    for i, it in enumerate(kept):
        g.setdefault((it.prev, it.next), {}).setdefault(it.speaker, {}).setdefault(
            it.phone, []
        ).append(i)
    rng = np.random.default_rng(cfg.seed)
    out = {"within": math.nan, "across": math.nan}
    if "within" in cfg.modes:
        out["within"] = _mean3(_within(g, data, cfg, rng))
    if "across" in cfg.modes:
        out["across"] = _mean3(_across(g, data, cfg, rng))
    return out


def _normalise(r: list[float]) -> list[float]:
    """libri-light's normalize_with_singularity for one frame."""
    norm = math.sqrt(sum(v * v for v in r))
    if norm == 0:
        return [len(r) ** -0.5] * len(r) + [-2e12]
    return [v / norm for v in r] + [1e-12]


def _key(i: int, j: int, sym: bool) -> tuple[int, int]:
    return (min(i, j), max(i, j)) if sym else (i, j)


def _theta(data: list[Frames], a: list[int], b: list[int], x: list[int], sym: bool) -> float:
    total, count = 0.0, 0
    for ia in a:
        for ib in b:
            for ix in x:
                if sym and ia == ix:
                    continue
                r, c = _key(ix, ia, sym)  # X is the DTW row
                dax = reference_dtw(data[r], data[c])
                dbx = reference_dtw(data[ix], data[ib])
                total += 1.0 if dax < dbx else (0.5 if dax == dbx else 0.0)
                count += 1
    return total / count


def _within(g: _Groups, data: list[Frames], cfg: ABXConfig, rng: np.random.Generator) -> _Errs:
    errs: dict[tuple[str, str, str], list[float]] = {}
    for ctx in sorted(g):
        for spk in sorted(g[ctx]):
            ph = g[ctx][spk]
            if len(ph) < 2:
                continue
            for pa in sorted(ph):
                if len(ph[pa]) < 2:
                    continue
                for pb in sorted(ph):
                    if pb != pa:
                        b = subsample(rng, ph[pb], cfg.max_size_group)
                        a = subsample(rng, ph[pa], cfg.max_size_group)
                        errs.setdefault((spk, pa, pb), []).append(1 - _theta(data, a, b, a, True))
    return errs


def _across(g: _Groups, data: list[Frames], cfg: ABXConfig, rng: np.random.Generator) -> _Errs:
    errs: dict[tuple[str, str, str], list[float]] = {}
    k = cfg.max_size_group
    for ctx in sorted(g):
        for spk in sorted(g[ctx]):
            ph = g[ctx][spk]
            if len(ph) < 2:
                continue
            for pa in sorted(ph):
                others = [s for s in sorted(g[ctx]) if s != spk and pa in g[ctx][s]]
                if not others:
                    continue
                for xs in subsample(rng, range(len(others)), cfg.max_x_across):
                    for pb in sorted(ph):
                        if pb != pa:
                            a, b = subsample(rng, ph[pa], k), subsample(rng, ph[pb], k)
                            x = subsample(rng, g[ctx][others[xs]][pa], k)
                            errs.setdefault((spk, pa, pb), []).append(
                                1 - _theta(data, a, b, x, False)
                            )
    return errs


def _mean3(errs: dict[tuple[str, str, str], list[float]]) -> float:
    per_ab: dict[tuple[str, str], list[float]] = {}
    for (_, pa, pb), v in errs.items():
        per_ab.setdefault((pa, pb), []).append(sum(v) / len(v))
    vals = [sum(v) / len(v) for v in per_ab.values()]
    return sum(vals) / len(vals) if vals else math.nan
