"""Efficiency ratio and curves: what a metric gained per unit of data, compute, memory,
energy or time.

A run's ``metrics.jsonl`` (one object per optimizer step, see :mod:`essl.metering.meter`) and
its optional ``eval.jsonl`` (evaluation results during pretraining, one object per evaluation
with a ``step``) give, for any logged metric, a curve over a cost axis:

====== ==================================================================================
cost   axis
====== ==================================================================================
flops  ``cum_flops`` (training FLOPs, forward + backward)
audio  ``cum_audio_seconds`` (input audio seen)
memory ``cum_memory_byte_seconds``: Σ peak_memory_bytes × step_time (memory held over time)
energy ``energy_kwh``
time   ``wall_time`` (seconds of training steps)
====== ==================================================================================

Definitions (all pure functions on arrays):

- cost-to-target: the cost at which the metric first reaches the target, linearly
  interpolated between the two logged points around the crossing (None if never reached);
- gain per unit cost between consecutive points: Δmetric / Δcost, signed so that an
  improvement is positive;
- area under the curve: trapezoid integral of the metric over the cost range, divided by
  that range (the mean metric level over the spent budget);
- cost ratio of two runs: cost-to-target of run A / cost-to-target of run B.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from essl.errors import EsslError

__all__ = [
    "COST_AXES",
    "Curve",
    "SeedBand",
    "auc",
    "cost_to_target",
    "gain_per_cost",
    "lower_is_better",
    "read_curve",
    "seed_band",
    "seed_costs_to_target",
    "smoothed",
]

COST_AXES = {
    "flops": "cum_flops",
    "audio": "cum_audio_seconds",
    "memory": "cum_memory_byte_seconds",
    "energy": "energy_kwh",
    "time": "wall_time",
}
_LOWER = ("loss", "error", "per", "wer", "abx", "eer", "gap", "perplexity_gap")


def lower_is_better(metric: str) -> bool:
    """Losses, error rates, ABX and gaps improve downwards; accuracies, purity, PNMI upwards."""
    m = metric.lower()
    return any(tok in m for tok in _LOWER)


@dataclass
class Curve:
    run: str
    metric: str
    cost: str
    x: np.ndarray
    """(P,) cost at each point, non-decreasing."""
    y: np.ndarray
    """(P,) metric at each point."""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open() as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise EsslError(f"{path}:{i}: not valid JSON; the run log is damaged") from None
    return rows


def read_curve(run_dir: str | Path, metric: str, cost: str, smooth: int = 1) -> Curve:
    """The (cost, metric) curve of a run; ``smooth`` > 1 applies a trailing moving average."""
    run_dir = Path(run_dir)
    if cost not in COST_AXES:
        raise EsslError(f"unknown cost axis '{cost}'; choose one of {', '.join(COST_AXES)}")
    log = run_dir / "metrics.jsonl"
    if not log.is_file():
        raise EsslError(f"{run_dir}: no metrics.jsonl; is this an essl run directory?")
    steps = _read_jsonl(log)
    mem = 0.0
    by_step: dict[int, dict[str, Any]] = {}
    for r in steps:
        mem += float(r.get("peak_memory_bytes") or 0.0) * float(r.get("step_time") or 0.0)
        r["cum_memory_byte_seconds"] = mem
        by_step[int(r["step"])] = r
    evals = run_dir / "eval.jsonl"
    points: list[tuple[float, float]] = []
    source = [r for r in steps if r.get(metric) is not None]
    if not source and evals.is_file():
        source = [r for r in _read_jsonl(evals) if r.get(metric) is not None]
    if not source:
        raise EsslError(
            f"{run_dir}: metric '{metric}' is logged in neither metrics.jsonl nor "
            "eval.jsonl; pick a logged field (e.g. loss)"
        )
    axis = COST_AXES[cost]
    for r in source:
        step = int(r["step"])
        # an evaluation before the first update (step 0) has spent nothing yet
        c = 0.0 if step == 0 else by_step.get(step, {}).get(axis)
        if c is None or not math.isfinite(float(r[metric])):
            continue
        points.append((float(c), float(r[metric])))
    if not points:
        raise EsslError(f"{run_dir}: no step logs the '{axis}' cost ({cost}); was metering off?")
    x, y = (np.asarray(v, dtype=np.float64) for v in zip(*sorted(points)))
    return smoothed(Curve(run=str(run_dir), metric=metric, cost=cost, x=x, y=y), smooth)


def smoothed(curve: Curve, window: int) -> Curve:
    """``curve`` with a trailing ``window``-point moving mean of y (itself when window <= 1)."""
    if window <= 1:
        return curve
    y = np.pad(curve.y, (window - 1, 0), mode="edge")
    y = np.convolve(y, np.ones(window) / window, "valid")
    return Curve(run=curve.run, metric=curve.metric, cost=curve.cost, x=curve.x, y=y)


def cost_to_target(x: np.ndarray, y: np.ndarray, target: float, lower: bool) -> float | None:
    """First cost at which ``y`` reaches ``target`` (linear interpolation), else None."""
    reached = (y <= target) if lower else (y >= target)
    idx = np.flatnonzero(reached)
    if idx.size == 0:
        return None
    i = int(idx[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    frac = (target - y0) / (y1 - y0) if y1 != y0 else 1.0
    return float(x0 + frac * (x1 - x0))


def gain_per_cost(x: np.ndarray, y: np.ndarray, lower: bool) -> np.ndarray:
    """(P-1,) improvement per unit cost between consecutive points (positive = better)."""
    dx = np.diff(x)
    dy = np.diff(y) * (-1.0 if lower else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dx > 0, dy / np.where(dx > 0, dx, 1.0), np.nan)


def auc(x: np.ndarray, y: np.ndarray, x_max: float | None = None) -> float:
    """Mean metric over the cost range [x0, x_max] (trapezoid integral / range)."""
    if x_max is not None:
        keep = x <= x_max
        if not keep.all():
            y_end = float(np.interp(x_max, x, y))
            x, y = np.append(x[keep], x_max), np.append(y[keep], y_end)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[-1])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def summarize(curves: Sequence[Curve], target: float | None) -> list[dict[str, Any]]:
    """One table row per run: final metric, AUC on the shared cost range, cost-to-target and
    its ratio to the first run's, mean gain per unit cost."""
    if not curves:
        return []
    lower = lower_is_better(curves[0].metric)
    shared = min(float(c.x[-1]) for c in curves)
    rows = []
    ref = None
    for c in curves:
        ctt = None if target is None else cost_to_target(c.x, c.y, target, lower)
        if ref is None:
            ref = ctt
        g = gain_per_cost(c.x, c.y, lower)
        rows.append(
            {
                "run": c.run,
                "metric": c.metric,
                "cost": c.cost,
                "points": len(c.x),
                "final_metric": float(c.y[-1]),
                "final_cost": float(c.x[-1]),
                "auc_shared_range": auc(c.x, c.y, shared),
                "target": target,
                "cost_to_target": ctt,
                "cost_ratio_vs_first": (ctt / ref) if (ctt is not None and ref) else None,
                "mean_gain_per_cost": float(np.nanmean(g))
                if g.size and np.isfinite(g).any()
                else None,
                "lower_is_better": lower,
            }
        )
    return rows


@dataclass
class SeedBand:
    """Runs of one arm over seeds, point by point (the k-th evaluation of every run)."""

    label: str
    x: np.ndarray
    """(P,) mean cost over seeds at each point."""
    y: np.ndarray
    """(P,) mean metric over seeds."""
    sd: np.ndarray
    """(P,) sample standard deviation of the metric over seeds (0 with one seed)."""
    runs: list[Curve]
    """The per-seed curves, truncated to the P points they all have."""


def seed_band(label: str, curves: Sequence[Curve]) -> SeedBand:
    """Average curves of the same arm over seeds; runs logged at the same steps share points
    (the k-th point of each), so the band is over seeds at equal training progress."""
    if not curves:
        raise EsslError(f"{label}: no runs to average")
    P = min(len(c.x) for c in curves)
    xs = np.stack([c.x[:P] for c in curves])  # (S, P)
    ys = np.stack([c.y[:P] for c in curves])
    sd = ys.std(0, ddof=1) if len(curves) > 1 else np.zeros(P)
    runs = [Curve(run=c.run, metric=c.metric, cost=c.cost, x=c.x[:P], y=c.y[:P]) for c in curves]
    return SeedBand(label=label, x=xs.mean(0), y=ys.mean(0), sd=sd, runs=runs)


def seed_costs_to_target(band: SeedBand, target: float, lower: bool) -> list[float | None]:
    """Per seed, the cost at which that run first reaches ``target`` (None if it never does)."""
    return [cost_to_target(c.x, c.y, target, lower) for c in band.runs]
