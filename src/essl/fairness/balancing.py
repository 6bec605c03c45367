"""Group balancing: sampling weights and loss reweighting by protected group.

Both implement importance weighting towards a uniform group prior (Kamiran & Calders 2012,
"Data preprocessing techniques for classification without discrimination", §4: reweighing /
re-sampling; for speech SSL, balanced pretraining data as studied by Meng et al. 2022,
"Don't speak too fast: the impact of data bias on self-supervised speech models", ICASSP):

* :func:`group_sampling_weights` — per-utterance probabilities ``∝ 1 / n_g`` (or
  ``∝ duration / total duration of g`` with ``by="duration"``), so every group is drawn
  equally often; :func:`balanced_manifest` materialises a seeded draw as a manifest (ids
  suffixed ``#k`` for repeats) that any trainer consumes unchanged;
* :func:`group_loss_weights` / :func:`reweighted_loss` — per-example loss weights
  ``w_g = N / (G · n_g)`` (mean weight 1 over the data), for heads trained with per-example
  losses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from essl.data.manifest import Utterance, resolve_audio_path, write_manifest
from essl.errors import EsslError
from essl.fairness.adversarial import attribute_value

__all__ = [
    "balanced_manifest",
    "group_loss_weights",
    "group_sampling_weights",
    "reweighted_loss",
]

UNKNOWN = "<unknown>"


def _groups(utts: Sequence[Utterance], attribute: str) -> list[str]:
    return [attribute_value(u, attribute) or UNKNOWN for u in utts]


def group_sampling_weights(
    utts: Sequence[Utterance], attribute: str, by: str = "count"
) -> np.ndarray:
    """(U,) probabilities (sum 1) giving each group (unknown = its own group) equal mass."""
    if by not in ("count", "duration"):
        raise EsslError(f"balance by '{by}': use count or duration")
    groups = _groups(utts, attribute)
    mass = np.array([1.0 if by == "count" else u.duration for u in utts])
    per_group: dict[str, float] = {}
    for g, m in zip(groups, mass.tolist()):
        per_group[g] = per_group.get(g, 0.0) + m
    w = np.array([m / per_group[g] for g, m in zip(groups, mass.tolist())])
    return w / w.sum()


def balanced_manifest(
    utts: Sequence[Utterance],
    manifest_path: str | Path,
    out_path: str | Path,
    attribute: str,
    num: int | None = None,
    seed: int = 0,
) -> list[Utterance]:
    """Draw ``num`` (default ``len(utts)``) utterances with :func:`group_sampling_weights`.

    Writes them to ``out_path`` (paths made absolute; repeated draws get ids ``<id>#k``).
    """
    if not utts:
        raise EsslError("balanced_manifest: no utterances to draw from")
    rng = np.random.default_rng(seed)
    draw = rng.choice(
        len(utts), size=num or len(utts), replace=True, p=group_sampling_weights(utts, attribute)
    )
    seen: Counter[int] = Counter()
    out = []
    for i in sorted(draw.tolist()):
        u = utts[i]
        k = seen[i]
        seen[i] += 1
        out.append(
            replace(
                u,
                id=u.id if k == 0 else f"{u.id}#{k}",
                path=str(resolve_audio_path(manifest_path, u).resolve()),
            )
        )
    write_manifest(out_path, out)
    return out


def group_loss_weights(
    group_ids: torch.Tensor, num_groups: int, counts: torch.Tensor | None = None
) -> torch.Tensor:
    """(B,) weights ``N / (G · n_g)`` for (B,) group ids (``-100`` → 0).

    ``counts`` (G,) are the group sizes in the training data; by default the batch's own.
    """
    valid = group_ids >= 0
    ids = group_ids.clamp_min(0)
    if counts is None:
        counts = torch.bincount(ids[valid], minlength=num_groups)
    counts = counts.to(torch.float32).to(group_ids.device)
    present = counts > 0
    w = counts.sum() / (int(present.sum()) * counts.clamp_min(1.0))
    return torch.where(valid, w[ids], torch.zeros((), device=group_ids.device))


def reweighted_loss(
    per_example: torch.Tensor,
    group_ids: torch.Tensor,
    num_groups: int,
    counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scalar ``Σ w_i ℓ_i / Σ w_i`` of (B,) per-example losses with :func:`group_loss_weights`."""
    w = group_loss_weights(group_ids, num_groups, counts).to(per_example.dtype)
    return (w * per_example).sum() / w.sum().clamp_min(1e-12)
