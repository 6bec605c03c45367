"""``essl demo``: the main job, end to end on the embedded synthetic corpus.

Stages (each skipped when its output is complete, so an interrupted demo resumes):

1. ``corpus/``: synthesize the default corpus (espeak-ng, 8 accents, both sexes, twins);
2. validate every entry (``corpus/validation.json``);
3. ``corpus/boundaries.jsonl``: unsupervised phone boundaries (spectral detector, prominence
   tuned on dev) for informed masking; ``corpus/kmeans/``: 100 k-means units of MFCC frames
   (HuBERT iteration-1 targets);
4. ``runs/random-span`` and ``runs/phone-segments``: pretrain the tiny HuBERT (iteration 1)
   with blind random spans and with phone-segment masks, same data, budget and seed
   (resumable), each scored before training and every ``eval_every`` updates (phone probe,
   ABX) into ``eval.jsonl``;
5. ``audit/<run>/``: a model card of each (cost, knowledge, robustness, fairness);
6. ``compare/``: both runs on shared efficiency axes (phone-probe accuracy against training
   FLOPs, audio, time), cost-to-target, accuracy–fairness;
7. ``report.html``: the front page linking everything, with the headline table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from essl._io import write_json
from essl.errors import ConfigError, EsslError

__all__ = ["DemoConfig", "run_demo"]

RUNS = ("random-span", "phone-segments")
PRESET = "hubert-tiny-iter1"
"""The demo's model. HuBERT rather than wav2vec 2.0: within the demo's few hundred CPU updates
the tiny wav2vec 2.0's contrastive term stays at chance (log 21 with 20 distractors) for
either masking, so its comparison would measure noise; HuBERT's fixed MFCC-unit targets give
a signal sooner (README of recipes/informed_vs_random)."""
CLUSTERS = 100


@dataclass(kw_only=True)
class DemoConfig:
    minutes: float = 10.0
    """Minutes of synthetic speech in the corpus."""
    speakers: int = 20
    """Speakers in the corpus (balanced sexes, accents round-robin)."""
    steps: int = 400
    """Pretraining updates of each tiny model."""
    audit_utterances: int = 160
    """Seeded subset audited (probes, robustness, fairness)."""
    probe_steps: int = 150
    """Training steps of each probe."""
    conditions: tuple[str, ...] = ("noise", "telephone")
    """Perturbations of the robustness audit (``reverb`` is left out by default: its room
    impulse-response bank takes ~2 minutes to simulate the first time on 2 cores)."""
    severities: dict[str, tuple[float, ...]] | None = None
    """Per condition, severities (None: each condition's defaults)."""
    bootstrap: int = 500
    """Speaker-bootstrap resamples of the fairness intervals."""
    eval_every: int = 100
    """Score each run (phone probe, ABX) every N updates into eval.jsonl (0 = never; the
    comparison then uses the training loss)."""
    eval_utterances: int = 80
    """Seeded subset scored during training."""
    seed: int = 0

    def validate(self) -> None:
        if self.minutes <= 0 or self.speakers < 4 or self.steps < 1:
            raise ConfigError("demo: need minutes > 0, speakers >= 4 and steps >= 1")
        if self.eval_every < 0 or self.eval_utterances < 2:
            raise ConfigError("demo: need eval_every >= 0 and eval_utterances >= 2")


def _log(msg: str) -> None:
    print(f"[essl demo] {msg}", flush=True)


def _corpus(out: Path, cfg: DemoConfig) -> Path:
    from essl.data.synth import SynthConfig, build_corpus
    from essl.data.validate import validate_manifest

    manifest = out / "corpus" / "manifest.jsonl"
    if not manifest.is_file():
        _log(f"building the corpus ({cfg.minutes:g} min, {cfg.speakers} speakers)")
        build_corpus(
            SynthConfig(
                minutes=cfg.minutes, speakers=cfg.speakers, seed=cfg.seed, counterfactual_pairs=True
            ),
            out / "corpus",
        )
    report_path = out / "corpus" / "validation.json"
    if not report_path.is_file():
        report = validate_manifest(manifest)
        if not report.ok:
            raise EsslError(f"{manifest}: the corpus failed validation:\n{report.summary()}")
        write_json(report_path, report.to_dict())
        _log(f"validated {len(report.entries)} utterances")
    return manifest


def _boundaries(manifest: Path, cfg: DemoConfig) -> Path:
    from essl.data.manifest import read_manifest
    from essl.masking.boundaries.build import make_detector, tune_on_dev
    from essl.masking.boundaries.detect import detect_corpus
    from essl.masking.boundaries.store import default_boundaries_path, write_boundaries

    path = default_boundaries_path(manifest)
    if path.is_file():
        return path
    _log("detecting phone boundaries (spectral change, prominence tuned on dev)")
    utts = read_manifest(manifest)
    det = make_detector("spectral", manifest, utts, seed=cfg.seed)
    tune_on_dev(det, manifest, utts)
    times = detect_corpus(det, manifest, utts, progress=True)
    write_boundaries(
        path,
        times,
        {
            "detector": "spectral",
            "params": det.params(),
            "frame_rate": det.frame_rate,
            "manifest": str(manifest),
        },
    )
    return path


def _labels(manifest: Path, cfg: DemoConfig) -> Path:
    """MFCC k-means units of every utterance (HuBERT iteration-1 targets)."""
    from essl.targets.features import MfccFeatures
    from essl.targets.hubert import TargetsConfig, kmeans_targets

    out = manifest.parent / "kmeans"
    labels = out / "labels.safetensors"
    if not labels.is_file():
        _log(f"fitting {CLUSTERS} k-means units on MFCC frames (HuBERT iteration-1 targets)")
        kmeans_targets(
            manifest, out, MfccFeatures(), TargetsConfig(num_clusters=CLUSTERS, seed=cfg.seed)
        )
    return labels


def _pretrain(
    out: Path, manifest: Path, boundaries: Path, labels: Path, cfg: DemoConfig
) -> list[Path]:
    from essl.training.presets import load_config
    from essl.training.trainer import pretrain

    common = [
        f"train.max_steps={cfg.steps}",
        f"optim.total_steps={cfg.steps}",
        f"train.seed={cfg.seed}",
        f"optim.warmup_steps={max(1, cfg.steps // 10)}",
        f"data.labels={labels}",
        f"objective.hubert.num_classes={CLUSTERS}",
        f"evaluation.every={cfg.eval_every}",
        "evaluation.tasks=[abx,phone_probe]",
        f"evaluation.max_utterances={cfg.eval_utterances}",
        f"evaluation.probe_steps={cfg.probe_steps}",
    ]
    overrides = {
        "random-span": common,
        "phone-segments": [*common, "masking.name=segment", f"data.boundaries={boundaries}"],
    }
    runs = []
    for name in RUNS:
        run_dir = out / "runs" / name
        _log(f"pretraining {PRESET} with {name} masks ({cfg.steps} updates)")
        pretrain(load_config(PRESET, overrides[name]), run_dir, manifest, argv=["essl", "demo"])
        runs.append(run_dir)
    return runs


def _audit(out: Path, runs: list[Path], manifest: Path, cfg: DemoConfig) -> list[Path]:
    from essl.reports.audit import AuditConfig, run_audit

    acfg = AuditConfig(
        conditions=cfg.conditions,
        severities=dict(cfg.severities or {}),
        max_utterances=cfg.audit_utterances,
        probe_steps=cfg.probe_steps,
        bootstrap=cfg.bootstrap,
        seed=cfg.seed,
    )
    audits = []
    for run in runs:
        audit_dir = out / "audit" / run.name
        if not (audit_dir / "report.html").is_file():
            _log(f"auditing {run.name}")
            run_audit(str(run), audit_dir, manifest, acfg)
        audits.append(audit_dir)
    return audits


def run_demo(out_dir: str | Path, cfg: DemoConfig | None = None) -> dict[str, Any]:
    """Run (or resume) the demo into ``out_dir``; returns the headline summary."""
    from essl.reports.compare import compare_runs
    from essl.reports.demo_report import write_demo_report

    cfg = cfg or DemoConfig()
    cfg.validate()
    out = Path(out_dir)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def stage(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        res = fn()
        timings[name] = round(time.perf_counter() - t, 1)
        return res

    manifest = stage("corpus", lambda: _corpus(out, cfg))
    boundaries = stage("boundaries", lambda: _boundaries(manifest, cfg))
    labels = stage("labels", lambda: _labels(manifest, cfg))
    runs = stage("pretrain", lambda: _pretrain(out, manifest, boundaries, labels, cfg))
    audits = stage("audit", lambda: _audit(out, runs, manifest, cfg))
    metric = "phone_probe/best_layer" if cfg.eval_every else "loss"
    stage("compare", lambda: compare_runs(runs, out / "compare", metric=metric, audits=audits))
    timings["total"] = round(time.perf_counter() - t0, 1)
    summary = write_demo_report(out, runs, audits, timings)
    _log(f"done in {timings['total']:.0f} s: open {out / 'report.html'}")
    return summary
