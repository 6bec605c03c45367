"""The demo's front page: one table of what each run cost and bought, and links."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from essl._io import atomic_open, write_json
from essl.reports.html import Section, Table, fmt, render

__all__ = ["headline", "write_demo_report"]


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def headline(audit: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a reader compares first, from an ``essl.audit/1`` results dict."""
    tr = _get(audit, "cost", "training") or {}
    tasks = _get(audit, "knowledge", "tasks") or {}
    abx_layers = _get(tasks, "abx", "layers") or {}
    abx = [v.get("within") for v in abx_layers.values() if v.get("within") is not None]
    rob = _get(audit, "robustness", "conditions") or {}
    rob_auc = {c: _get(b, "summary", "phone_probe", "auc") for c, b in rob.items()}
    fair = _get(audit, "fairness", "headline") or {}
    return {
        "steps": tr.get("step"),
        "training_flops": tr.get("cum_flops"),
        "audio_seen_s": tr.get("cum_audio_seconds"),
        "final_loss": tr.get("loss"),
        "energy_kwh": tr.get("energy_kwh"),
        "phone_probe": _get(tasks, "phone_probe", "best_layer", "test"),
        "best_abx_within": min(abx) if abx else None,
        "sex_leakage": _get(tasks, "sex_probe", "best_layer", "test"),
        **{f"robust_auc_{c}": v for c, v in rob_auc.items()},
        "fairness_gap": fair.get("gap"),
        "fairness_gap_ci": fair.get("gap_ci"),
    }


def write_demo_report(
    out: Path, runs: list[Path], audits: list[Path], timings: dict[str, float]
) -> dict[str, Any]:
    rows = {
        r.name: headline(json.loads((a / "results.json").read_text())) for r, a in zip(runs, audits)
    }
    summary = {"schema": "essl.demo/1", "runs": rows, "timings_s": timings}
    write_json(out / "summary.json", summary)
    keys = list(next(iter(rows.values())))
    table = Table(
        ["run", *keys],
        [[name, *(h[k] for k in keys)] for name, h in rows.items()],
        caption="Same corpus, model, budget and seed; only the masks differ.",
    )
    overview = Section(
        "What each run cost and bought",
        tables=[table],
        paragraphs=[
            "Phone probe: frame accuracy of a linear probe (best layer, test split). ABX within: "
            "phone discriminability error (lower is better). Sex leakage: accuracy of a sex probe "
            "(lower means less protected information). Robustness AUC: mean phone-probe accuracy "
            "over the perturbation severities. Fairness gap: phone-probe error gap between sexes.",
            "Timings (s): " + ", ".join(f"{k} {v:g}" for k, v in timings.items()),
        ],
    )
    page = render(
        "essl demo",
        "Tiny HuBERT models (iteration 1: 100 MFCC k-means units) pretrained on the "
        "embedded synthetic corpus with blind random-span masks and with phone-segment masks "
        "from unsupervised boundaries, then audited.",
        [overview],
    )
    links = "".join(
        f"<li><a href='{html.escape(str(a.relative_to(out)))}/report.html'>audit of "
        f"{html.escape(r.name)}</a></li>"
        for r, a in zip(runs, audits)
    )
    links += "<li><a href='compare/report.html'>comparison of the runs</a></li>"
    page = page.replace("</body>", f"<h2>Reports</h2><ul>{links}</ul></body>")
    with atomic_open(out / "report.html") as f:
        f.write(page)
    for name, h in rows.items():
        print(f"  {name}: " + ", ".join(f"{k}={fmt(v)}" for k, v in h.items()))
    return summary
