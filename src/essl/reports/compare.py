"""``essl compare``: runs side by side — efficiency curves on shared axes, cost-to-target,
and an accuracy–fairness Pareto plot from their audits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from essl._io import write_json
from essl.metering.efficiency import read_curve, smoothed, summarize
from essl.reports.html import Figure, Section, Table, write_report
from essl.reports.plots import line_plot

__all__ = ["compare_runs", "pareto_front"]

SMOOTH = 5
"""Moving-mean window of per-step curves (loss) in the comparison."""

_COSTS = (("flops", "training FLOPs"), ("audio", "audio seen (s)"), ("time", "wall time (s)"))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when maximising x (accuracy) and minimising y (gap)."""
    keep = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (x2 >= x and y2 <= y) and (x2 > x or y2 < y)
            for j, (x2, y2) in enumerate(points)
            if j != i
        )
        if not dominated:
            keep.append(i)
    return keep


def _fairness_point(audit_dir: Path) -> tuple[float, float] | None:
    res_path = audit_dir / "results.json"
    if not res_path.is_file():
        return None
    fair = json.loads(res_path.read_text()).get("fairness") or {}
    head = fair.get("headline") or {}
    if head.get("accuracy") is None or head.get("gap") is None:
        return None
    return float(head["accuracy"]), float(head["gap"])


def _pareto_plot(
    names: list[str], points: list[tuple[float, float] | None], out: Path
) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have = [(n, p) for n, p in zip(names, points) if p is not None]
    if not have:
        return None
    front = set(pareto_front([p for _, p in have]))
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=120)
    for i, (n, (x, y)) in enumerate(have):
        ax.scatter([x], [y], marker="*" if i in front else "o", s=90 if i in front else 40)
        ax.annotate(n, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("accuracy (higher is better)")
    ax.set_ylabel("group gap (lower is better)")
    ax.set_title("Accuracy–fairness trade-off (★ = Pareto front)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "pareto.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def compare_runs(
    runs: Sequence[str | Path],
    out_dir: str | Path,
    metric: str = "loss",
    target: float | None = None,
    audits: Sequence[str | Path] | None = None,
) -> dict[str, Any]:
    """Write ``compare.json`` and ``report.html`` comparing ``runs`` in ``out_dir``."""
    out = Path(out_dir)
    names = [Path(r).name for r in runs]
    result: dict[str, Any] = {
        "schema": "essl.compare/1",
        "metric": metric,
        "target": target,
        "runs": [str(r) for r in runs],
        "costs": {},
    }
    section = Section(
        "Efficiency",
        paragraphs=[
            f"{metric} against each cost axis, every run on the same axes (per-step logs: "
            f"{SMOOTH}-step moving mean; periodic evaluations: as measured). "
            "Cost-to-target is the interpolated cost at which the metric first reaches the target."
        ],
    )
    for cost, label in _COSTS:
        curves = [read_curve(r, metric, cost) for r in runs]
        if min(len(c.x) for c in curves) >= 10 * SMOOTH:  # per-step logs, not a few evaluations
            curves = [smoothed(c, SMOOTH) for c in curves]
        rows = summarize(curves, target)
        result["costs"][cost] = rows
        png = line_plot(
            [(n, c.x, c.y) for n, c in zip(names, curves)],
            out / f"curve_{cost}",
            xlabel=label,
            ylabel=metric,
            title=f"{metric} vs {label}",
            target=target,
            logx=cost == "flops" and all(c.x[0] > 0 for c in curves),  # an eval at step 0
        )[0]
        section.figures.append(Figure(png, f"{metric} vs {label}"))
        section.tables.append(
            Table(
                [
                    "run",
                    f"final {metric}",
                    f"final {cost}",
                    "AUC (shared range)",
                    "cost-to-target",
                    "ratio vs first",
                ],
                [
                    [
                        n,
                        r["final_metric"],
                        r["final_cost"],
                        r["auc_shared_range"],
                        r["cost_to_target"],
                        r["cost_ratio_vs_first"],
                    ]
                    for n, r in zip(names, rows)
                ],
                caption=label,
            )
        )
    sections = [section]
    if audits:
        points = [_fairness_point(Path(a)) for a in audits]
        result["fairness_points"] = [
            None if p is None else {"accuracy": p[0], "gap": p[1]} for p in points
        ]
        pareto = _pareto_plot(names, points, out)
        fair = Section("Accuracy and fairness")
        if pareto:
            fair.figures.append(Figure(pareto, "accuracy vs group gap"))
        else:
            fair.paragraphs.append("The audits carry no fairness headline to plot.")
        sections.append(fair)
    write_json(out / "compare.json", result)
    write_report(
        out / "report.html", "essl compare", f"{len(runs)} runs compared on {metric}.", sections
    )
    return result
