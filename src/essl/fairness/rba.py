"""Corpus-level constraints at inference: RBA and bias amplification (Zhao et al. 2017).

Zhao, Wang, Yatskar, Ordonez & Chang 2017, "Men Also Like Shopping: Reducing Gender Bias
Amplification using Corpus-level Constraints" (EMNLP).

* **Bias score** (§2): ``b(o, g) = c(o, g) / Σ_g' c(o, g')`` — the share of group ``g`` among
  the instances with output ``o`` (training labels give ``b*``, predictions give ``b̂``).
* **Bias amplification** (§2): for each output ``o`` biased in training towards a group
  (``b*(o, g) > 1 / |G|``), ``b̂(o, g) − b*(o, g)``; averaged over those (o, g).
* **RBA** (§3, Reducing Bias Amplification): pick the predictions that maximise the summed
  model scores subject to ``b*(o, g) − γ ≤ b̂(o, g) ≤ b*(o, g) + γ`` for every output and
  group, by Lagrangian relaxation: each instance takes ``argmax_o s_i(o) − Σ_g λ·a(o, g, i)``
  where ``a`` are the constraint coefficients; the multipliers follow projected subgradient
  steps ``λ ← max(0, λ + η · violation)`` until no constraint is violated (Algorithm 1).

Here the group of each instance is known (the manifest's protected attribute); the outputs
are a classifier's classes (accent, speaker, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RBAResult", "bias_amplification", "bias_scores", "rba_decode"]


def bias_scores(
    outputs: np.ndarray, groups: np.ndarray, num_outputs: int, num_groups: int
) -> np.ndarray:
    """(O, G) ``b(o, g)`` of int (N,) outputs and groups; rows with no instance are nan."""
    counts = np.zeros((num_outputs, num_groups))
    np.add.at(counts, (np.asarray(outputs, int), np.asarray(groups, int)), 1.0)
    total = counts.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def bias_amplification(train_bias: np.ndarray, predicted_bias: np.ndarray) -> float:
    """Mean ``b̂ − b*`` over the (o, g) with ``b*(o, g) > 1/G`` and a defined ``b̂`` (§2)."""
    G = train_bias.shape[1]
    sel = (np.nan_to_num(train_bias, nan=0.0) > 1.0 / G) & ~np.isnan(predicted_bias)
    if not sel.any():
        return 0.0
    return float((predicted_bias[sel] - train_bias[sel]).mean())


@dataclass
class RBAResult:
    predictions: np.ndarray
    """(N,) constrained predictions."""
    multipliers: np.ndarray
    """(O, G, 2) final λ for the upper and lower bound of each (o, g)."""
    iterations: int
    satisfied: bool
    """True when every constraint holds at the end."""


def _violations(
    pred: np.ndarray, onehot_g: np.ndarray, target: np.ndarray, margin: float, num_outputs: int
) -> np.ndarray:
    """(O, G, 2) violations of ``b̂ ≤ b* + γ`` and ``b̂ ≥ b* − γ`` in ratio units (> 0 = violated).

    Each is the constraint's left side ``Σ_i a_i`` divided by the instances predicted ``o``.
    """
    N = len(pred)
    sel = np.zeros((N, num_outputs))
    sel[np.arange(N), pred] = 1.0
    count_og = sel.T @ onehot_g  # (O, G)
    count_o = sel.sum(0)[:, None]  # (O, 1)
    t = np.nan_to_num(target, nan=0.0)
    active = ~np.isnan(target)
    upper = count_og - (t + margin) * count_o
    lower = (t - margin) * count_o - count_og
    return np.stack([upper, lower], -1) * active[..., None] / np.maximum(count_o, 1.0)[..., None]


def rba_decode(
    scores: np.ndarray,
    groups: np.ndarray,
    train_bias: np.ndarray,
    margin: float = 0.05,
    step: float = 1.0,
    max_iter: int = 500,
) -> RBAResult:
    """Predictions from (N, O) ``scores`` (log-probabilities) under the RBA constraints (§3).

    ``groups`` (N,) int, ``train_bias`` (O, G) from :func:`bias_scores` on the training labels
    (nan rows are unconstrained), ``margin`` the γ of the paper, ``step`` the subgradient step
    η. Returns the highest-scoring feasible decode seen, else the least-violating one.
    """
    scores = np.asarray(scores, float)
    N, O = scores.shape
    G = train_bias.shape[1]
    onehot_g = np.eye(G)[np.asarray(groups, int)]  # (N, G)
    t = np.nan_to_num(train_bias, nan=0.0)
    # instance i choosing o adds (1[g_i = g] − t − γ) to the upper and (t − γ − 1[g_i = g])
    # to the lower constraint of (o, g)
    coef_u = onehot_g[:, None, :] - (t + margin)[None]  # (N, O, G)
    coef_l = (t - margin)[None] - onehot_g[:, None, :]
    lam = np.zeros((O, G, 2))
    best: tuple[float, np.ndarray, np.ndarray, int] | None = None  # (key, pred, lam, it)
    for it in range(1, max_iter + 1):
        penalty = (coef_u * lam[None, ..., 0]).sum(-1) + (coef_l * lam[None, ..., 1]).sum(-1)
        pred = (scores - penalty).argmax(1)
        viol = _violations(pred, onehot_g, train_bias, margin, O)
        worst = float(viol.max())
        key = float(scores[np.arange(N), pred].sum()) if worst <= 1e-12 else -1e300 - worst * 1e290
        if best is None or key > best[0]:
            best = (key, pred, lam.copy(), it)
        if worst <= 1e-12 and it > 1 and np.all(lam == 0):
            break
        lam = np.maximum(0.0, lam + step * viol)
    assert best is not None
    feasible = bool(_violations(best[1], onehot_g, train_bias, margin, O).max() <= 1e-12)
    return RBAResult(best[1], best[2], best[3], feasible)
