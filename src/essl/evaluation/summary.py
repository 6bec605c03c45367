"""Readable summary (Markdown) of an ``essl.evaluate/1`` results dict."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["summary_markdown"]

_LAYER_COLUMNS = (
    ("rankme", None, "RankMe"),
    ("alpha_req", "alpha", "α-ReQ α"),
    ("abx", "within", "ABX within %"),
    ("abx", "across", "ABX across %"),
    ("pnmi", "pnmi", "PNMI"),
    ("pnmi", "phone_purity", "phone purity"),
)


def _fmt(v: Any, percent: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.2f}" if percent else f"{v:.3f}" if isinstance(v, float) else str(v)


def _layer_table(tasks: dict[str, Any]) -> list[str]:
    cols = [(t, k, name) for t, k, name in _LAYER_COLUMNS if "layers" in tasks.get(t, {})]
    if not cols:
        return []
    layers = next(iter(tasks[cols[0][0]]["layers"]))
    layer_ids = list(tasks[cols[0][0]]["layers"]) if layers is not None else []
    lines = ["| layer | " + " | ".join(c[2] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for lid in layer_ids:
        cells = []
        for t, k, name in cols:
            v = tasks[t]["layers"].get(lid)
            v = v if k is None or v is None else v.get(k)
            cells.append(_fmt(v, percent=name.endswith("%")))
        lines.append(f"| {lid} | " + " | ".join(cells) + " |")
    return ["## Layer-wise label-free metrics", "", *lines, ""]


def _probe_lines(tasks: dict[str, Any]) -> list[str]:
    rows = []
    for t, res in tasks.items():
        if "best_layer" not in res:
            continue
        per = res.get("metric") == "per"
        unit = "PER %" if per else "accuracy %"
        best, ws = res["best_layer"], res.get("weighted_sum", {})
        chance = "–" if per else _fmt(res.get("chance"), True)
        rows.append(
            f"| {t} | {unit} | {_fmt(best.get('test'), True)} (layer {best.get('layer')}) "
            f"| {_fmt(ws.get('test'), True)} | {chance} |"
        )
    if not rows:
        return []
    return [
        "## Probes (test split; layer and lr chosen on dev)",
        "",
        "| task | metric | best single layer | weighted sum | chance |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def summary_markdown(res: dict[str, Any]) -> str:
    """Markdown: header, per-layer metric table, probe table, skipped tasks, timings."""
    tasks = res["tasks"]
    model, man = res["model"], res["manifest"]
    out = [
        f"# essl evaluate: {model.get('spec', model.get('class', 'model'))}",
        "",
        f"- manifest: {man['path']} ({man['utterances']} utterances, {man['hours']} h)",
        f"- frame rate: {model['frame_rate']} Hz; layers: {model['layers']}; seed {res['seed']}",
        "",
    ]
    out += _layer_table(tasks)
    out += _probe_lines(tasks)
    skipped = {t: r["skipped"] for t, r in tasks.items() if "skipped" in r}
    if skipped:
        out += ["## Skipped", "", *[f"- {t}: {why}" for t, why in skipped.items()], ""]
    out += ["## Timings (s)", "", ", ".join(f"{k} {v}" for k, v in res["timings"].items()), ""]
    return "\n".join(out)
