"""Downstream debiasing of utterance-level probes on frozen features, and the Pareto sweep.

The probe is ``x (N, D) → h = ReLU(W x) (N, H) → logits (N, C)``; its hidden layer is what
the fairness terms act on (a purely linear probe on frozen features has nothing to
disentangle). Methods (``FairProbeConfig.method``):

* ``none`` — cross-entropy only (the baseline, same architecture);
* ``adversarial`` — an attribute head on ``grad_reverse(h, λ)`` (Ganin et al. 2016, JMLR, §5;
  Elazar & Goldberg 2018, "Adversarial removal of demographic attributes from text data"):
  ``L = CE_task + CE_attr`` with ``λ = weight``;
* ``counterfactual`` — the counterfactual consistency loss of Sarı, Hasegawa-Johnson & Yoo
  2021, "Counterfactually Fair Automatic Speech Recognition" (IEEE/ACM TASLP, §IV-B):
  ``L = CE_task + weight · d(p(x), p(x_cf))`` over twin pairs, ``d`` the symmetric KL
  divergence (or squared L2) between the posteriors of an utterance and its counterfactual;
* ``reweight`` — group-reweighted cross-entropy (:mod:`essl.fairness.balancing`), with the
  weights interpolated as ``(1 − weight) + weight · w_g``.

:func:`pareto_front` keeps the non-dominated (accuracy ↑, gap ↓) points of a sweep of
``weight`` (:func:`sweep`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from essl.errors import ConfigError
from essl.evaluation._threads import single_thread_if_small
from essl.fairness.balancing import group_loss_weights
from essl.fairness.grl import grad_reverse

__all__ = [
    "FairProbe",
    "FairProbeConfig",
    "ParetoPoint",
    "consistency_loss",
    "fit_fair_probe",
    "pareto_front",
    "per_group_accuracy",
    "sweep",
]

METHODS = ("none", "adversarial", "counterfactual", "reweight")


@dataclass(kw_only=True)
class FairProbeConfig:
    """Training of one fair probe."""

    method: str = "none"
    """``none``, ``adversarial``, ``counterfactual`` or ``reweight`` (module docstring)."""
    weight: float = 1.0
    """Fairness weight: GRL λ, consistency weight, or reweighting interpolation."""
    hidden: int = 128
    """Width H of the probe's hidden layer."""
    steps: int = 300
    """Adam updates."""
    lr: float = 1e-3
    batch_size: int = 64
    """Utterances (and twin pairs) per update."""
    distance: str = "sym_kl"
    """Consistency distance: ``sym_kl`` or ``l2`` (squared L2 between posteriors)."""
    seed: int = 0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method '{self.method}': use one of {', '.join(METHODS)}")
        if self.weight < 0 or self.steps < 1 or self.batch_size < 1 or self.hidden < 1:
            raise ConfigError("weight must be >= 0; steps, batch_size and hidden >= 1")
        if self.distance not in ("sym_kl", "l2"):
            raise ConfigError(f"distance '{self.distance}': use sym_kl or l2")


def consistency_loss(
    logits_a: torch.Tensor, logits_b: torch.Tensor, distance: str = "sym_kl"
) -> torch.Tensor:
    """Mean distance between the posteriors of (P, C) twin logits (Sarı et al. 2021, §IV-B)."""
    la, lb = logits_a.log_softmax(-1), logits_b.log_softmax(-1)
    if distance == "l2":
        return (la.exp() - lb.exp()).pow(2).sum(-1).mean()
    kl_ab = (la.exp() * (la - lb)).sum(-1)
    kl_ba = (lb.exp() * (lb - la)).sum(-1)
    return (0.5 * (kl_ab + kl_ba)).mean()


class FairProbe(nn.Module):
    """``x → ReLU(W x) → logits`` plus an attribute head (used by ``adversarial`` only)."""

    def __init__(self, dim: int, num_classes: int, num_groups: int, hidden: int = 128) -> None:
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)
        self.adversary = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_groups)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))  # (N, C)


def _loss(
    model: FairProbe,
    cfg: FairProbeConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Tensor,
    idx: torch.Tensor,
    pairs: torch.Tensor | None,
    counts: torch.Tensor,
) -> torch.Tensor:
    h = model.encode(x[idx])
    ce = nn.functional.cross_entropy(model.head(h), y[idx], reduction="none")
    if cfg.method == "reweight":
        w = (1 - cfg.weight) + cfg.weight * group_loss_weights(g[idx], len(counts), counts)
        return (w * ce).sum() / w.sum()
    loss = ce.mean()
    if cfg.method == "adversarial":
        keep = g[idx] >= 0
        if bool(keep.any()):
            adv = model.adversary(grad_reverse(h[keep], cfg.weight))
            loss = loss + nn.functional.cross_entropy(adv, g[idx][keep])
    if cfg.method == "counterfactual" and pairs is not None and len(pairs):
        loss = loss + cfg.weight * consistency_loss(
            model(x[pairs[:, 0]]), model(x[pairs[:, 1]]), cfg.distance
        )
    return loss


def fit_fair_probe(
    x: torch.Tensor,
    y: torch.Tensor,
    groups: torch.Tensor,
    num_classes: int,
    num_groups: int,
    cfg: FairProbeConfig,
    pairs: Sequence[tuple[int, int]] = (),
) -> FairProbe:
    """Train on (N, D) standardised ``x``, (N,) labels ``y`` and groups (``-100`` = unknown).

    ``pairs`` index twin rows of ``x`` (required by ``counterfactual``).
    """
    cfg.validate()
    if cfg.method == "counterfactual" and not pairs:
        raise ConfigError(
            "method 'counterfactual' needs twin pairs in the training rows; "
            "use a corpus with twins or pitch-shifted copies"
        )
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = FairProbe(x.shape[1], num_classes, num_groups, cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    counts = torch.bincount(groups[groups >= 0], minlength=num_groups)
    pair_t = torch.tensor(list(pairs), dtype=torch.long).reshape(-1, 2)
    n = y.shape[0]
    with single_thread_if_small(min(cfg.batch_size, n) * max(x.shape[1], cfg.hidden)):
        for _ in range(cfg.steps):
            idx = torch.randint(n, (min(cfg.batch_size, n),), generator=gen)
            pb = (
                pair_t[
                    torch.randint(len(pair_t), (min(cfg.batch_size, len(pair_t)),), generator=gen)
                ]
                if len(pair_t)
                else None
            )
            loss = _loss(model, cfg, x, y, groups, idx, pb, counts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@dataclass(frozen=True)
class ParetoPoint:
    """One setting of a sweep: its fairness ``weight``, task ``accuracy`` (↑) and ``gap`` (↓)."""

    weight: float
    accuracy: float
    gap: float


def pareto_front(points: Sequence[ParetoPoint]) -> list[ParetoPoint]:
    """Points no other point dominates (≥ accuracy and ≤ gap, one strictly), by weight."""

    def dominated(p: ParetoPoint) -> bool:
        return any(
            q.accuracy >= p.accuracy
            and q.gap <= p.gap
            and (q.accuracy > p.accuracy or q.gap < p.gap)
            for q in points
        )

    return sorted((p for p in points if not dominated(p)), key=lambda p: p.weight)


def sweep(
    fit_eval: Callable[[float], tuple[float, float]], weights: Sequence[float]
) -> tuple[list[ParetoPoint], list[ParetoPoint]]:
    """``fit_eval(weight) → (accuracy, gap)`` for every weight; returns (all points, front)."""
    pts = [ParetoPoint(w, *fit_eval(w)) for w in weights]
    return pts, pareto_front(pts)


def per_group_accuracy(pred: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """``{group: accuracy}`` of utterance-level predictions."""
    g = np.asarray(groups)
    return {k: float((pred[g == k] == y[g == k]).mean()) for k in sorted(set(g.tolist()))}
