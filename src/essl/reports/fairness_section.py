"""The fairness section of the audit report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from essl.reports.html import Figure, Section, Table
from essl.reports.plots import line_plot

__all__ = ["render_fairness"]


def _leakage_plot(leak: dict[str, Any], out: Path) -> Path | None:
    series = []
    for attr, block in leak.items():
        layers = block.get("layers") or {}
        ids = sorted(layers, key=int)
        if not ids:
            continue
        x = np.array([int(i) for i in ids])
        series.append((f"{attr} (trained)", x, np.array([layers[i]["accuracy"] for i in ids])))
        series.append(
            (f"{attr} (random init)", x, np.array([layers[i]["random_init"] for i in ids]))
        )
    if not series:
        return None
    return line_plot(
        series,
        out / "figures" / "leakage",
        xlabel="layer",
        ylabel="probe accuracy",
        title="Attribute leakage per layer",
    )[0]


def render_fairness(res: dict[str, Any], out: Path) -> Section:
    g = res["groups"]
    s = Section(
        "How fair it is",
        paragraphs=[
            f"Groups by {res['attribute']}; task {res['task']}. Errors are pooled per group "
            "(errors summed over the group's utterances, not a mean of per-utterance rates). "
            "Intervals are speaker-level bootstrap percentiles."
        ],
    )
    ci = g.get("ci") or {}
    rows = []
    for grp, rate in g["per_group"].items():
        c = ci.get(grp) or {}
        rows.append(
            [
                grp,
                g["utterances"].get(grp),
                g["speakers"].get(grp),
                rate,
                c.get("low"),
                c.get("high"),
            ]
        )
    gap_ci = ci.get("gap") or {}
    rows.append(
        ["gap (max − min)", None, None, g["gap"]["absolute"], gap_ci.get("low"), gap_ci.get("high")]
    )
    s.tables.append(
        Table(
            ["group", "utterances", "speakers", "error rate", "CI low", "CI high"],
            rows,
            caption=f"worst group: {g['gap']['worst']}",
        )
    )
    extra = [
        ["relative gap", g["gap"]["relative"]],
        ["per-speaker error std", g.get("per_speaker_std")],
    ]
    for key in ("demographic_parity_difference", "equalized_odds_difference"):
        if key in g:
            extra.append([key.replace("_", " "), g[key]])
    cf = res.get("counterfactual") or {}
    if cf:
        extra += [
            ["counterfactual pairs", cf.get("pairs")],
            ["counterfactual error gap", (cf.get("error_gap") or {}).get("absolute")],
            ["prediction flip rate", cf.get("flip_rate")],
        ]
    s.tables.append(Table(["measure", "value"], extra))
    leak = res.get("leakage") or {}
    if leak:
        rows = [
            [
                attr,
                b.get("chance"),
                max((v["accuracy"] for v in b["layers"].values()), default=None),
                max((v["random_init"] for v in b["layers"].values()), default=None),
            ]
            for attr, b in leak.items()
        ]
        s.tables.append(
            Table(
                ["attribute", "chance", "best layer (trained)", "best layer (random init)"],
                rows,
                caption="Attribute leakage: probe accuracy from the features",
            )
        )
        fig = _leakage_plot(leak, out)
        if fig:
            s.figures.append(Figure(fig, "attribute probe accuracy per layer"))
    return s
