"""Batched dynamic time warping with the ABX cost of libri-light / ZeroSpeech 2021.

For two sequences of L2-normalised frames the frame distance is ``arccos(a·b) / π``; the
DTW allows diagonal, left and up moves; the alignment cost is divided by the length of the
backtracked path, where ties prefer the diagonal, then left ``(i, j-1)``, then up
``(i-1, j)`` (libri-light ``eval/ABX_src/dtw.pyx``).

Pairs are binned by their lengths, padded within a bin and solved together: the cost table
is filled one anti-diagonal at a time (each cell depends only on the previous two
anti-diagonals) and the path is backtracked for the whole bin at once. Cells outside a
pair's own lengths never feed the cells inside, so padding does not change any result.
"""

from __future__ import annotations

import math

import torch

from essl.evaluation._threads import single_thread_if_small

__all__ = ["frame_distances", "pair_dtw"]

_BIN = 4  # pad lengths to multiples of this within a bin
_MAX_CELLS = 2**24  # cost-table cells solved at once (bounds memory)


def frame_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(P, n, D) and (P, m, D) L2-normalised frames → (P, n, m) arccos(a·b)/π in [0, 1]."""
    dots = torch.bmm(a, b.transpose(1, 2)).clamp_(-1.0, 1.0)
    return torch.arccos(dots) / math.pi


def pair_dtw(
    frames: torch.Tensor,
    offsets: torch.Tensor,
    lengths: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
) -> torch.Tensor:
    """Normalised DTW cost of item ``rows[p]`` (DTW rows) against item ``cols[p]``.

    Args:
        frames: (N, D) normalised frames of all items, item i at
            ``frames[offsets[i] : offsets[i] + lengths[i]]``; its dtype is the DP's dtype.
        offsets, lengths: (I,) int64 per item (lengths >= 1).
        rows, cols: (P,) int64 item indices.
    Returns:
        (P,) costs on ``frames.device``.
    """
    dev = frames.device
    out = torch.empty(rows.shape[0], dtype=frames.dtype, device=dev)
    if rows.numel() == 0:
        return out
    n_all, m_all = lengths[rows], lengths[cols]
    bins = ((n_all + _BIN - 1) // _BIN) * 100_000 + (m_all + _BIN - 1) // _BIN
    for key in torch.unique(bins).tolist():
        sel = torch.nonzero(bins == key).squeeze(1)
        n_max, m_max = int(n_all[sel].max()), int(m_all[sel].max())
        per_chunk = max(1, _MAX_CELLS // ((n_max + 1) * (m_max + 1)))
        for chunk in sel.split(per_chunk):
            r, c = rows[chunk], cols[chunk]
            with single_thread_if_small(chunk.numel() * min(n_max, m_max), dev):
                a = _gather(frames, offsets[r], n_max)
                b = _gather(frames, offsets[c], m_max)
                dist = frame_distances(a, b)
                out[chunk] = _solve(dist, lengths[r], lengths[c])
    return out


def _gather(frames: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    idx = starts[:, None] + torch.arange(size, device=frames.device)[None, :]
    return frames[idx.clamp_(max=frames.shape[0] - 1)]  # (P, size, D)


def _solve(dist: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(P, N, M) frame distances, (P,) true lengths → (P,) cost / path length."""
    P, N, M = dist.shape
    W = M + 1
    cost = torch.full((P, (N + 1) * W), math.inf, dtype=dist.dtype, device=dist.device)
    cost[:, 0] = 0.0  # virtual corner: cell (0, 0) gets d(0, 0) + 0
    d = dist.reshape(P, N * M)
    for k in range(N + M - 1):
        i = torch.arange(max(0, k - M + 1), min(N - 1, k) + 1, device=dist.device)
        j = k - i
        here = (i + 1) * W + (j + 1)
        best = torch.minimum(
            torch.minimum(cost[:, here - W], cost[:, here - W - 1]), cost[:, here - 1]
        )
        cost[:, here] = d[:, i * M + j] + best
    final = cost.gather(1, (n * W + m)[:, None]).squeeze(1)
    return final / _path_length(cost, n - 1, m - 1, W)


def _path_length(cost: torch.Tensor, i: torch.Tensor, j: torch.Tensor, W: int) -> torch.Tensor:
    """Backtrack from (i, j) (0-based cells; table ``cost`` is offset by one row/column)."""
    i, j = i.clone(), j.clone()
    length = torch.ones_like(i)
    while True:
        active = (i > 0) & (j > 0)
        if not bool(active.any()):
            break
        here = (i + 1) * W + (j + 1)
        up = cost.gather(1, (here - W)[:, None]).squeeze(1)
        left = cost.gather(1, (here - 1)[:, None]).squeeze(1)
        corner = cost.gather(1, (here - W - 1)[:, None]).squeeze(1)
        diag = (corner <= left) & (corner <= up)
        go_left = ~diag & (left <= up)
        go_up = ~diag & ~go_left
        i = i - (active & (diag | go_up)).long()
        j = j - (active & (diag | go_left)).long()
        length = length + active.long()
    return (length + torch.where(i == 0, j, 0) + torch.where(j == 0, i, 0)).to(cost.dtype)
