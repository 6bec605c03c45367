"""``essl audit``: a model card of what a model cost, what it knows, how robust and how fair
it is — as ``results.json`` (schema ``essl.audit/1``) and a self-contained ``report.html``.

Works for any model spec that :func:`essl.evaluation.features.load_model` accepts (an essl
run directory, ``preset:NAME``, ``hf:PATH``). Training-cost markers and curves appear for essl
runs only (others have no training log).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from essl._io import write_json
from essl.config import to_dict
from essl.errors import ConfigError

__all__ = ["AuditConfig", "run_audit"]

SCHEMA = "essl.audit/1"


@dataclass(kw_only=True)
class AuditConfig:
    tasks: tuple[str, ...] = (
        "rankme",
        "abx",
        "pnmi",
        "phone_probe",
        "speaker_probe",
        "sex_probe",
        "accent_probe",
    )
    """Evaluation tasks for 'what it knows' (see ``essl evaluate``)."""
    conditions: tuple[str, ...] = ("noise", "reverb", "telephone")
    """Perturbation conditions for 'how robust' (empty to skip)."""
    severities: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per condition, severities to sweep (default: each condition's own list)."""
    robustness_task: str = "phone_probe"
    """The probe or metric swept over the conditions."""
    fairness_attribute: str = "sex"
    """Protected attribute for group gaps and leakage ('sex', 'accent' or 'age')."""
    fairness_task: str = "phone_probe"
    """The probe whose errors are compared across groups."""
    bootstrap: int = 500
    """Speaker-bootstrap resamples for the fairness confidence intervals."""
    max_utterances: int | None = 240
    """Seeded subset of the corpus used by every part (None = all)."""
    probe_steps: int = 300
    """Training steps of each probe."""
    profile_seconds: tuple[float, ...] = (1.0, 10.0)
    """Input lengths for the inference profile."""
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        if self.max_utterances is not None and self.max_utterances < 8:
            raise ConfigError("audit.max_utterances: use at least 8 utterances (or null for all)")
        if self.fairness_attribute not in ("sex", "accent", "age"):
            raise ConfigError("audit.fairness_attribute: choose 'sex', 'accent' or 'age'")


def _training_markers(run_dir: Path) -> dict[str, Any] | None:
    log = run_dir / "metrics.jsonl"
    if not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    last = rows[-1]
    peaks = [r["peak_memory_bytes"] for r in rows if r.get("peak_memory_bytes") is not None]
    keys = (
        "step",
        "loss",
        "cum_flops",
        "cum_audio_seconds",
        "cum_utterances",
        "wall_time",
        "energy_kwh",
        "co2_kg",
        "params",
        "param_bytes",
        "optimizer_bytes",
    )
    out = {k: last.get(k) for k in keys}
    out["max_peak_memory_bytes"] = max(peaks) if peaks else None
    out["first_loss"] = rows[0].get("loss")
    mfu = [r["mfu"] for r in rows if r.get("mfu") is not None]
    out["median_mfu"] = sorted(mfu)[len(mfu) // 2] if mfu else None
    return out


def _cost(spec: str, cfg: AuditConfig, out: Path) -> dict[str, Any]:
    from essl.metering.profile import profile_model

    res: dict[str, Any] = {
        "profile": profile_model(spec, cfg.profile_seconds, cfg.device, repeats=1)
    }
    run_dir = Path(spec)
    res["training"] = _training_markers(run_dir) if run_dir.is_dir() else None
    if res["training"] is not None:
        from essl.metering.efficiency import read_curve
        from essl.reports.plots import line_plot

        c = read_curve(run_dir, "loss", "flops", smooth=5)
        png = line_plot(
            [(run_dir.name, c.x, c.y)],
            out / "figures" / "training_loss",
            xlabel="training FLOPs",
            ylabel="loss (5-step mean)",
            title="Training loss vs compute",
        )[0]
        res["training"]["curve"] = str(png)
    return res


def _knowledge(spec: str, manifest: Path, cfg: AuditConfig, out: Path) -> dict[str, Any]:
    from essl.evaluation.evaluate import run_evaluation

    return run_evaluation(
        spec, manifest, out / "evaluate", _eval_config(cfg, cfg.tasks), progress=True
    )


def run_audit(
    spec: str, out_dir: str | Path, manifest: str | Path, cfg: AuditConfig | None = None
) -> dict[str, Any]:
    """Audit ``spec`` on ``manifest``; write ``results.json`` and ``report.html``."""
    from essl.reports.audit_report import write_audit_report

    cfg = cfg or AuditConfig()
    cfg.validate()
    out = Path(out_dir)
    manifest = Path(manifest)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "model": spec,
        "corpus": str(manifest),
        "config": to_dict(cfg),
    }
    for name, fn in (
        ("cost", lambda: _cost(spec, cfg, out)),
        ("knowledge", lambda: _knowledge(spec, manifest, cfg, out)),
        ("robustness", lambda: _robustness(spec, manifest, cfg, out)),
        ("fairness", lambda: _fairness(spec, manifest, cfg, out)),
    ):
        t = time.perf_counter()
        results[name] = fn()
        timings[name] = round(time.perf_counter() - t, 2)
    results["timings"] = {**timings, "total_s": round(time.perf_counter() - t0, 2)}
    write_json(out / "results.json", results)
    write_audit_report(results, out)
    return results


def _eval_config(cfg: AuditConfig, tasks: tuple[str, ...]) -> Any:
    from dataclasses import replace

    from essl.evaluation.evaluate import EvalConfig

    ecfg = EvalConfig(
        tasks=tasks, seed=cfg.seed, device=cfg.device, max_utterances=cfg.max_utterances
    )
    return replace(ecfg, probe=replace(ecfg.probe, steps=cfg.probe_steps))


def _robustness(spec: str, manifest: Path, cfg: AuditConfig, out: Path) -> dict[str, Any] | None:
    if not cfg.conditions:
        return None
    from essl.evaluation.robustness import RobustnessConfig, run_robustness

    rcfg = RobustnessConfig(
        conditions=cfg.conditions,
        severities=dict(cfg.severities),
        eval=_eval_config(cfg, (cfg.robustness_task,)),
    )
    return run_robustness(spec, manifest, out / "robustness", rcfg, progress=True)


def _fairness(spec: str, manifest: Path, cfg: AuditConfig, out: Path) -> dict[str, Any]:
    """Group gaps, counterfactual gaps and leakage; adds the ``headline`` that ``essl compare``
    plots: accuracy = 1 − pooled error of the task, gap = max − min group error (with CI)."""
    from dataclasses import replace

    from essl.evaluation.fairness import FairnessConfig, run_fairness

    fcfg = FairnessConfig(
        attribute=cfg.fairness_attribute,
        task=cfg.fairness_task,
        seed=cfg.seed,
        device=cfg.device,
        max_utterances=cfg.max_utterances,
        bootstrap=cfg.bootstrap,
    )
    fcfg = replace(fcfg, probe=replace(fcfg.probe, steps=cfg.probe_steps))
    res = run_fairness(spec, manifest, out / "fairness", fcfg, progress=True)
    groups = res["groups"]
    ci = (groups.get("ci") or {}).get("gap") or {}
    res["headline"] = {
        "accuracy": 1.0 - groups["overall"] if groups.get("overall") is not None else None,
        "gap": groups["gap"]["absolute"],
        "gap_ci": [ci.get("low"), ci.get("high")] if ci else None,
        "worst_group": groups["gap"]["worst"],
    }
    return res
