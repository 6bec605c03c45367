"""The audit's ``report.html``: a model card readable without knowing the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from essl.reports.html import Figure, Section, Table, write_report
from essl.reports.plots import line_plot

__all__ = ["write_audit_report"]

_PROBES = (
    ("phone_probe", "frame phone accuracy"),
    ("phone_ctc", "phone error rate (CTC)"),
    ("speaker_probe", "speaker-ID accuracy"),
    ("sex_probe", "sex accuracy (leakage)"),
    ("accent_probe", "accent accuracy (leakage)"),
)


def _cost_section(cost: dict[str, Any], out: Path) -> Section:
    p = cost["profile"]
    s = Section(
        "What it cost",
        paragraphs=[
            "Inference figures are measured on this machine with torch's FLOP counter (corrected "
            "for fused attention and grouped convolutions); peak memory counts weights and "
            "activations; RTF is processing time over audio duration."
        ],
    )
    s.tables.append(
        Table(
            ["quantity", "value"],
            [
                ["parameters trained in pretraining", p["params"]],
                ["parameters of the feature encoder", p["encoder_params"]],
                ["storage (MiB)", p["param_bytes"] / 2**20],
                ["device / threads", f"{p['device']} / {p['threads']}"],
            ],
        )
    )
    s.tables.append(
        Table(
            ["input (s)", "GFLOPs", "GMACs", "GFLOPs per s of audio", "peak MiB", "RTF"],
            [
                [
                    r["seconds"],
                    r["flops"] / 1e9,
                    r["macs"] / 1e9,
                    r["flops_per_second_audio"] / 1e9,
                    r["peak_memory_bytes"] / 2**20,
                    r["rtf"],
                ]
                for r in p["per_length"]
            ],
            caption="Inference profile",
        )
    )
    tr = cost.get("training")
    if tr:
        s.tables.append(
            Table(
                ["training marker", "value"],
                [
                    ["optimizer steps", tr["step"]],
                    ["loss (first → last)", f"{tr['first_loss']:.4g} → {tr['loss']:.4g}"],
                    ["training FLOPs", tr["cum_flops"]],
                    ["audio seen (s)", tr["cum_audio_seconds"]],
                    ["utterances seen", tr["cum_utterances"]],
                    ["wall time of steps (s)", tr["wall_time"]],
                    ["peak memory (MiB)", (tr["max_peak_memory_bytes"] or 0) / 2**20],
                    ["median MFU", tr["median_mfu"]],
                    ["energy (kWh)", tr["energy_kwh"]],
                    ["CO2 (kg)", tr["co2_kg"]],
                ],
                caption="Training cost, metered online at every step",
            )
        )
        if tr.get("curve"):
            s.figures.append(Figure(Path(tr["curve"]), "training loss vs training FLOPs"))
    else:
        s.paragraphs.append(
            "No training log: this model was not trained by essl, so only inference cost is shown."
        )
    return s


def _layer_plot(tasks: dict[str, Any], out: Path) -> Path | None:
    series = []
    for name, key in (("phone_probe", None), ("pnmi", "pnmi")):
        t = tasks.get(name, {})
        layers = t.get("per_layer") or t.get("layers")
        if not layers:
            continue
        ids = sorted(layers, key=int)
        vals = [layers[i]["test"] if key is None else layers[i][key] for i in ids]
        series.append(
            (
                name if key is None else key,
                np.array([int(i) for i in ids]),
                np.array([np.nan if v is None else v for v in vals], dtype=float),
            )
        )
    if not series:
        return None
    return line_plot(
        series,
        out / "figures" / "layers",
        xlabel="layer",
        ylabel="score",
        title="What each layer knows",
    )[0]


def _knowledge_section(ev: dict[str, Any], out: Path) -> Section:
    tasks = ev["tasks"]
    s = Section(
        "What it knows",
        paragraphs=[
            f"Evaluated on {ev['manifest']['utterances']} utterances "
            f"({ev['manifest']['hours'] * 60:.1f} min). Label-free metrics need no training; probes "
            "are small classifiers trained on frozen features with a fixed, seeded protocol "
            "(learning rate chosen on dev, score reported on test)."
        ],
    )
    rows = []
    for name, what in _PROBES:
        t = tasks.get(name)
        if not t or "best_layer" not in t:
            continue
        ws = t.get("weighted_sum", {})
        rows.append(
            [
                what,
                t["best_layer"]["layer"],
                t["best_layer"]["test"],
                ws.get("test"),
                t.get("chance"),
            ]
        )
    if rows:
        s.tables.append(
            Table(
                ["probe", "best layer", "test (best layer)", "test (weighted layers)", "chance"],
                rows,
                caption="Probes",
            )
        )
    layer_rows = []
    ids = sorted((tasks.get("rankme") or {}).get("layers", {}), key=int)
    for i in ids:
        abx = tasks.get("abx", {}).get("layers", {}).get(i, {})
        pn = tasks.get("pnmi", {}).get("layers", {}).get(i, {})
        layer_rows.append(
            [
                i,
                tasks["rankme"]["layers"][i],
                abx.get("within"),
                abx.get("across"),
                pn.get("pnmi"),
                pn.get("phone_purity"),
            ]
        )
    if layer_rows:
        s.tables.append(
            Table(
                ["layer", "RankMe", "ABX within", "ABX across", "PNMI", "phone purity"],
                layer_rows,
                caption="Label-free metrics per layer (ABX: error rate, lower is better)",
            )
        )
    fig = _layer_plot(tasks, out)
    if fig:
        s.figures.append(Figure(fig, "phone probe accuracy and PNMI per layer"))
    skipped = [
        f"{t}: {v['skipped']}" for t, v in tasks.items() if isinstance(v, dict) and "skipped" in v
    ]
    if skipped:
        s.paragraphs.append("Skipped: " + "; ".join(skipped))
    return s


def write_audit_report(results: dict[str, Any], out: Path) -> Path:
    from essl.reports.audit_sections import robustness_section
    from essl.reports.fairness_section import render_fairness

    sections = [_cost_section(results["cost"], out), _knowledge_section(results["knowledge"], out)]
    if results.get("robustness"):
        sections.append(robustness_section(results["robustness"], out))
    if results.get("fairness"):
        sections.append(render_fairness(results["fairness"], out))
    sections.append(
        Section(
            "Reproduce",
            paragraphs=[
                f"essl audit {results['model']} OUT_DIR --corpus {results['corpus']}",
                "Configuration: " + json.dumps(results["config"]),
                "Timings (s): " + json.dumps(results["timings"]),
            ],
        )
    )
    lead = (
        f"Model card of {results['model']}, audited on {results['corpus']}: what it cost, "
        "what it knows, how robust and how fair it is."
    )
    return write_report(
        out / "report.html", f"essl audit: {Path(results['model']).name}", lead, sections
    )
