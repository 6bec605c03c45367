"""Group fairness metrics on per-utterance outcomes (pure numpy; no model, no torch).

Definitions (documented once, used by ``essl fairness``):

* **pooled error per group** — errors summed over the group's utterances divided by the
  units summed over them (e.g. phone edits / reference phones), *not* the mean of
  per-utterance rates, so long utterances weigh what their phones weigh (the corpus-level
  WER convention, e.g. Koenecke et al. 2020, PNAS, "Racial disparities in ASR").
* **gaps** — ``absolute = max − min`` over groups; ``relative = (max − min) / min`` (the
  relative increase of the worst group over the best; ``inf`` when the best is 0) and
  ``ratio = max / min``.
* **per-speaker std** — population standard deviation of the speakers' pooled error rates.
* **demographic-parity difference** (Dwork et al. 2012; fairlearn's definition) —
  ``max_g P(ŷ = c | g) − min_g P(ŷ = c | g)``; binary tasks use the positive class ``c``;
  multi-class tasks take the worst class, one-vs-rest.
* **equalized-odds difference** (Hardt et al. 2016, §2; fairlearn's ``worst_case``) —
  ``max(TPR gap, FPR gap)`` across groups for class ``c``; multi-class: worst class.
* **speaker-level bootstrap** — confidence intervals that respect the dependence between a
  speaker's utterances: each resample draws, *within each group*, as many speakers as the
  group has, with replacement (stratified, so no group vanishes); a drawn speaker brings all
  its utterances; percentile intervals over ``num_resamples`` seeded draws (Efron &
  Tibshirani 1993, §13; speaker resampling as in Bolle et al. 2004, "Error analysis of
  pattern recognition systems: the subsets bootstrap").
* **EER** — equal error rate of verification scores: the point where the false-acceptance
  and false-rejection rates cross (linear interpolation between thresholds).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Gap",
    "bootstrap_groups",
    "bootstrap_pooled_rates",
    "demographic_parity_difference",
    "equal_error_rate",
    "equalized_odds_difference",
    "gap",
    "per_speaker_std",
    "pooled_rate_by_group",
    "selection_rates",
]


@dataclass(frozen=True)
class Gap:
    """Spread of a metric across groups (see module docstring)."""

    absolute: float
    relative: float
    ratio: float
    worst: str
    best: str

    def to_dict(self) -> dict[str, float | str]:
        return {
            "absolute": self.absolute,
            "relative": self.relative,
            "ratio": self.ratio,
            "worst": self.worst,
            "best": self.best,
        }


def pooled_rate_by_group(
    errors: np.ndarray, totals: np.ndarray, groups: Sequence[Hashable]
) -> dict[str, float]:
    """``{group: Σ errors / Σ totals}`` over each group's utterances (groups sorted by name)."""
    errors, totals = np.asarray(errors, float), np.asarray(totals, float)
    g = np.asarray([str(x) for x in groups])
    out = {}
    for name in sorted(set(g.tolist())):
        sel = g == name
        out[name] = float(errors[sel].sum() / max(totals[sel].sum(), 1e-12))
    return out


def gap(values: dict[str, float], higher_is_worse: bool = True) -> Gap:
    """Absolute, relative and ratio spread of per-group ``values`` (at least one group)."""
    if not values:
        raise ValueError("gap: no groups")
    hi = max(values, key=lambda k: values[k])
    lo = min(values, key=lambda k: values[k])
    vmax, vmin = values[hi], values[lo]
    rel = (vmax - vmin) / vmin if vmin > 0 else (0.0 if vmax == vmin else float("inf"))
    ratio = vmax / vmin if vmin > 0 else (1.0 if vmax == vmin else float("inf"))
    worst, best = (hi, lo) if higher_is_worse else (lo, hi)
    return Gap(absolute=vmax - vmin, relative=rel, ratio=ratio, worst=worst, best=best)


def per_speaker_std(errors: np.ndarray, totals: np.ndarray, speakers: Sequence[Hashable]) -> float:
    """Population std of the speakers' pooled error rates."""
    rates = list(pooled_rate_by_group(errors, totals, speakers).values())
    return float(np.std(rates)) if rates else float("nan")


def selection_rates(y_pred: np.ndarray, groups: Sequence[Hashable], label: int) -> dict[str, float]:
    """``{group: P(ŷ = label | group)}``."""
    y_pred = np.asarray(y_pred)
    return pooled_rate_by_group((y_pred == label).astype(float), np.ones(len(y_pred)), groups)


def _classes(y: np.ndarray, positive: int | None) -> list[int]:
    if positive is not None:
        return [positive]
    labels = sorted(set(np.asarray(y).tolist()))
    return labels[1:] if len(labels) == 2 else labels


def demographic_parity_difference(
    y_pred: np.ndarray,
    groups: Sequence[Hashable],
    positive: int | None = None,
    y_true: np.ndarray | None = None,
) -> float:
    """DP difference (module docstring); classes are taken from ``y_true`` when given."""
    ref = np.concatenate([np.asarray(y_pred), np.asarray(y_true if y_true is not None else [])])
    worst = 0.0
    for c in _classes(ref.astype(int), positive):
        v = selection_rates(y_pred, groups, c).values()
        worst = max(worst, max(v) - min(v))
    return float(worst)


def equalized_odds_difference(
    y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[Hashable], positive: int | None = None
) -> float:
    """EO difference (module docstring): worst of TPR and FPR gaps, worst class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    g = np.asarray([str(x) for x in groups])
    worst = 0.0
    for c in _classes(np.concatenate([y_true, y_pred]), positive):
        pos, hit = y_true == c, y_pred == c
        for cond in (pos, ~pos):  # TPR among positives, FPR among negatives
            rates = [
                hit[cond & (g == name)].mean()
                for name in sorted(set(g.tolist()))
                if (cond & (g == name)).any()
            ]
            if len(rates) >= 2:
                worst = max(worst, float(max(rates) - min(rates)))
    return worst


def equal_error_rate(
    scores: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """EER of (N,) scores with (N,) bool ``targets`` (higher score = same speaker).

    ``weights`` (N,) count each trial that many times (used by the speaker bootstrap).
    """
    scores, targets = np.asarray(scores, float), np.asarray(targets, bool)
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, float)
    wt, wn = (w * targets).sum(), (w * ~targets).sum()
    if wt <= 0 or wn <= 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    t, w = targets[order], w[order]
    # accept the top-k trials: FAR = accepted non-targets, FRR = rejected targets
    far = np.concatenate([[0.0], np.cumsum(w * ~t)]) / wn
    frr = 1.0 - np.concatenate([[0.0], np.cumsum(w * t)]) / wt
    k = int(np.argmax(far >= frr))
    if k == 0:
        return float(far[0])
    d0, d1 = frr[k - 1] - far[k - 1], frr[k] - far[k]  # d0 > 0 >= d1
    a = d0 / (d0 - d1)
    return float(far[k - 1] + a * (far[k] - far[k - 1]))


GroupStat = Callable[[np.ndarray], dict[str, float]]
"""Speaker multiplicities ``(num_speakers,)`` → ``{group: metric}`` on the weighted data."""


def bootstrap_groups(
    stat: GroupStat,
    speaker_groups: Sequence[str],
    num_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_worse: bool = True,
) -> dict[str, dict[str, float]]:
    """Stratified speaker bootstrap (module docstring) of ``stat`` and of its absolute gap.

    ``speaker_groups[s]`` is the group of speaker ``s``; ``stat(counts)`` evaluates the
    metric with speaker ``s`` counted ``counts[s]`` times. Returns ``{name: {"low", "high",
    "std"}}`` for every group and for ``"gap"`` (absolute) and ``"relative_gap"``.
    """
    rng = np.random.default_rng(seed)
    sg = np.asarray(speaker_groups)
    members = {g: np.flatnonzero(sg == g) for g in sorted(set(sg.tolist()))}
    draws: dict[str, list[float]] = {}
    for _ in range(num_resamples):
        counts = np.zeros(len(sg))
        for idx in members.values():
            np.add.at(counts, rng.choice(idx, size=len(idx), replace=True), 1)
        vals = {k: v for k, v in stat(counts).items() if np.isfinite(v)}
        for k, v in vals.items():
            draws.setdefault(k, []).append(v)
        if len(vals) >= 2:
            gp = gap(vals, higher_is_worse)
            draws.setdefault("gap", []).append(gp.absolute)
            if np.isfinite(gp.relative):
                draws.setdefault("relative_gap", []).append(gp.relative)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return {
        k: {
            "low": float(np.percentile(v, lo_q)),
            "high": float(np.percentile(v, hi_q)),
            "std": float(np.std(v)),
        }
        for k, v in draws.items()
    }


def bootstrap_pooled_rates(
    errors: np.ndarray,
    totals: np.ndarray,
    groups: Sequence[Hashable],
    speakers: Sequence[Hashable],
    num_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Speaker-bootstrap CIs of :func:`pooled_rate_by_group` and its gaps (per utterance inputs).

    A speaker belongs to the group of its first utterance (speakers do not change group).
    """
    errors, totals = np.asarray(errors, float), np.asarray(totals, float)
    spk_names = sorted({str(s) for s in speakers})
    spk_index = {s: i for i, s in enumerate(spk_names)}
    u_spk = np.asarray([spk_index[str(s)] for s in speakers])
    u_grp = np.asarray([str(g) for g in groups])
    spk_group = [""] * len(spk_names)
    for s, g in zip(u_spk.tolist(), u_grp.tolist()):
        spk_group[s] = spk_group[s] or g

    def stat(counts: np.ndarray) -> dict[str, float]:
        w = counts[u_spk]
        return {
            g: float((w * errors)[u_grp == g].sum() / (w * totals)[u_grp == g].sum())
            for g in sorted(set(u_grp.tolist()))
            if (w * totals)[u_grp == g].sum() > 0
        }

    return bootstrap_groups(stat, spk_group, num_resamples, seed, level)
