"""The robustness section of the audit report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from essl.reports.html import Figure, Section, Table

__all__ = ["robustness_section"]


def robustness_section(res: dict[str, Any], out: Path) -> Section:
    s = Section(
        "How robust it is",
        paragraphs=[
            "Probes are trained on clean audio and scored on perturbed test audio (the deployment "
            "scenario); every perturbation is seeded per utterance. Relative drop = (clean − "
            "perturbed) / clean for scores where higher is better. AUC is the mean score over the "
            "severities; CKA compares clean and perturbed features of the same utterances "
            "(1 = unchanged)."
        ],
    )
    plots = out / "robustness" / "plots"
    for task, h in res.get("headline", {}).items():
        rows, totals = [], []
        for cond, block in res["conditions"].items():
            summ = block["summary"][task]
            unit = block.get("unit", "")
            for sev, score, drop in zip(summ["severities"], summ["scores"], summ["relative_drops"]):
                rows.append([cond, f"{sev:g} {unit}".strip(), score, drop])
            totals.append(
                [cond, summ["auc"], summ["worst"], f"{summ['worst_severity']:g} {unit}".strip()]
            )
        caption = f"{task}: clean score {h['clean']:.4g}"
        s.tables.append(Table(["condition", "severity", h["what"], "relative drop"], rows, caption))
        s.tables.append(
            Table(
                ["condition", "AUC (mean over severities)", "worst score", "at severity"],
                totals,
                f"{task}: summary",
            )
        )
        for cond in res["conditions"]:
            png = plots / f"{task}_{cond}.png"
            if png.is_file():
                s.figures.append(Figure(png, f"{task} under {cond}"))
    for cond in res["conditions"]:
        png = plots / f"stability_{cond}.png"
        if png.is_file():
            s.figures.append(Figure(png, f"representation stability (CKA) under {cond}"))
    return s
