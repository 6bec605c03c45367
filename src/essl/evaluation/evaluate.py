"""Evaluate any model exposing ``extract_features``: label-free metrics and probes per layer.

``run_evaluation`` backs ``essl evaluate MODEL MANIFEST OUT_DIR``: it loads the model
(:func:`essl.evaluation.features.load_model`), extracts every layer's features once, runs the
requested tasks and writes ``OUT_DIR/results.json`` (schema ``essl.evaluate/1``, atomically)
and ``OUT_DIR/summary.md``.

``evaluate_model`` is the in-process entry point for a trainer (every N steps)::

    from essl.evaluation import evaluate_model
    res = evaluate_model(task.encoder, manifest_path)  # rankme + ABX on <= 200 utterances
    logger.log(step, {f"eval/{k}": v for k, v in flat_scores(res).items()})

It puts the model in eval mode and restores its previous mode afterwards.

results.json::

    {"schema": "essl.evaluate/1", "model": {...}, "manifest": {...}, "seed": 0,
     "tasks": {"rankme": {"layers": {"0": 61.2, ...}}, "sex_probe": {"skipped": "..."}, ...},
     "timings": {"features_s": ..., "rankme_s": ..., "total_s": ...}, "config": {...}}
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from essl.config import to_dict
from essl.errors import ConfigError, EsslError
from essl.evaluation.abx import ABXConfig
from essl.evaluation.ctc import CTCConfig
from essl.evaluation.probes import ProbeConfig

__all__ = [
    "SCHEMA",
    "TASKS",
    "EvalConfig",
    "evaluate_features",
    "evaluate_model",
    "flat_scores",
    "resolve_tasks",
    "run_evaluation",
]

SCHEMA = "essl.evaluate/1"
TASKS = (
    "abx",
    "rankme",
    "alpha_req",
    "pnmi",
    "phone_probe",
    "phone_ctc",
    "speaker_probe",
    "sex_probe",
    "accent_probe",
)
CHEAP_TASKS = ("rankme", "abx")


@dataclass(kw_only=True)
class EvalConfig:
    """What to evaluate and how."""

    tasks: tuple[str, ...] | None = None
    """Task names (None = every task the manifest supports; see :data:`TASKS`)."""
    layers: tuple[int, ...] | None = None
    """Model layers to evaluate (None = all; 0 = the Transformer input)."""
    seed: int = 0
    """Seed of every sampling and probe initialisation."""
    device: str = "cpu"
    """Where the model and ABX run (``cpu``, ``cuda``, ``cuda:1``)."""
    max_utterances: int | None = None
    """Evaluate on a seeded subset of at most this many utterances (None = all)."""
    batch_seconds: float = 16.0
    """Padded audio per feature-extraction batch."""
    rank_samples: int = 25_600
    """Frames used by RankMe and α-ReQ (seeded subsample)."""
    kmeans_clusters: int = 50
    """K of the k-means codes scored by PNMI and purity (capped at frames / 4)."""
    abx: ABXConfig = field(default_factory=ABXConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    ctc: CTCConfig = field(default_factory=CTCConfig)

    def validate(self) -> None:
        if self.tasks is not None:
            unknown = [t for t in self.tasks if t not in TASKS]
            if unknown:
                raise ConfigError(
                    f"tasks: unknown task '{unknown[0]}'; valid tasks: {', '.join(TASKS)}"
                )
        if self.max_utterances is not None and self.max_utterances < 2:
            raise ConfigError("max_utterances must be >= 2 (or None for all)")
        if self.kmeans_clusters < 1 or self.rank_samples < 2:
            raise ConfigError("kmeans_clusters must be >= 1 and rank_samples >= 2")
        self.abx.validate()
        self.probe.validate()
        self.ctc.validate()


def resolve_tasks(
    requested: Sequence[str] | None, utts: Sequence[Any]
) -> tuple[list[str], dict[str, str]]:
    """(tasks to run, {skipped task: reason}); explicitly requested unsupported tasks raise."""
    from essl.evaluation.tasks import unsupported_reason

    names = list(TASKS) if requested is None else list(requested)
    for t in names:
        if t not in TASKS:
            raise EsslError(f"unknown task '{t}'; valid tasks: {', '.join(TASKS)}")
    run, skipped = [], {}
    for t in names:
        why = unsupported_reason(t, utts)
        if why is None:
            run.append(t)
        elif requested is not None:
            raise EsslError(
                f"task '{t}' cannot run on this manifest: {why}; drop it from --tasks "
                "or use a manifest with that information"
            )
        else:
            skipped[t] = why
    return run, skipped


def _subset(utts: list[Any], n: int | None, seed: int) -> list[Any]:
    if n is None or len(utts) <= n:
        return utts
    keep = np.sort(np.random.default_rng(seed).choice(len(utts), size=n, replace=False))
    return [utts[i] for i in keep.tolist()]


def evaluate_features(
    feats: Any, tasks: Sequence[str], cfg: EvalConfig, progress: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``tasks`` on :class:`CorpusFeatures`; returns (results per task, seconds per task)."""
    from essl.evaluation.tasks import TASK_FUNCTIONS

    results, timings = {}, {}
    for t in tasks:
        start = time.perf_counter()
        if progress:
            print(f"essl evaluate: {t} ...", flush=True)
        results[t] = TASK_FUNCTIONS[t](feats, cfg)
        timings[f"{t}_s"] = round(time.perf_counter() - start, 3)
    return results, timings


def evaluate_model(
    model: Any,
    manifest: str | Path,
    tasks: Sequence[str] | None = CHEAP_TASKS,
    cfg: EvalConfig | None = None,
    max_utterances: int | None = 200,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate an in-memory ``model`` on ``manifest``; returns the results.json dict.

    Defaults are cheap enough to call during pretraining: RankMe and ABX on a seeded subset
    of at most ``max_utterances`` utterances (this argument overrides ``cfg.max_utterances``;
    None = all). Tasks the manifest cannot support are skipped
    with a note when ``tasks`` is None, else raise :class:`EsslError`.
    """
    import torch

    from essl.data.manifest import read_manifest
    from essl.evaluation.features import extract_corpus_features

    cfg = replace(cfg or EvalConfig(), max_utterances=max_utterances)
    cfg.validate()
    start = time.perf_counter()
    utts = _subset(read_manifest(manifest), cfg.max_utterances, cfg.seed)
    run, skipped = resolve_tasks(tasks, utts)
    was_training = bool(getattr(model, "training", False))
    try:
        feats = extract_corpus_features(
            model, utts, manifest, cfg.layers, cfg.device, cfg.batch_seconds, progress=progress
        )
    finally:
        if was_training and isinstance(model, torch.nn.Module):
            model.train()
    results, timings = evaluate_features(feats, run, cfg, progress)
    results.update({t: {"skipped": why} for t, why in skipped.items()})
    return {
        "schema": SCHEMA,
        "model": {
            "frame_rate": feats.frame_rate,
            "layers": feats.layer_ids,
            "dim": int(feats.layers[0][0].shape[1]),
        },
        "manifest": {
            "path": str(manifest),
            "utterances": len(utts),
            "hours": round(sum(u.duration for u in utts) / 3600, 4),
        },
        "seed": cfg.seed,
        "tasks": {t: results[t] for t in TASKS if t in results},
        "timings": {
            "features_s": round(feats.seconds, 3),
            **timings,
            "total_s": round(time.perf_counter() - start, 3),
        },
        "config": to_dict(cfg),
    }


def run_evaluation(
    model_spec: str,
    manifest: str | Path,
    out_dir: str | Path,
    cfg: EvalConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Load ``model_spec``, evaluate it and write ``results.json`` + ``summary.md`` to ``out_dir``.

    Undefined scores (NaN, e.g. ABX within-speaker when no context repeats) become ``null``.
    """
    from essl._io import atomic_open, write_json
    from essl.evaluation.features import load_model
    from essl.evaluation.summary import summary_markdown

    cfg = cfg or EvalConfig()
    cfg.validate()
    start = time.perf_counter()
    model = load_model(model_spec, cfg.device, cfg.seed)
    load_s = time.perf_counter() - start
    res = evaluate_model(model, manifest, cfg.tasks, cfg, cfg.max_utterances, progress)
    res["model"] = {"spec": model_spec, "class": type(model).__name__, **res["model"]}
    res["timings"] = {"load_s": round(load_s, 3), **res["timings"]}
    res = _finite_or_null(res)
    out = Path(out_dir)
    write_json(out / "results.json", res)
    text = summary_markdown(res)
    with atomic_open(out / "summary.md") as f:
        f.write(text)
    return res


def _finite_or_null(obj: Any) -> Any:
    """The same structure with NaN/inf floats replaced by None (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def flat_scores(results: dict[str, Any]) -> dict[str, float]:
    """Headline numbers as ``{"rankme/L4": 61.2, "abx_within/L4": 0.12, ...}`` for logging."""
    out: dict[str, float] = {}
    for task, res in results["tasks"].items():
        for layer, v in res.get("layers", {}).items():
            if isinstance(v, (int, float)):
                out[f"{task}/L{layer}"] = float(v)
            else:
                for key in ("within", "across", "alpha", "pnmi"):
                    if key in v:
                        out[f"{task}_{key}/L{layer}"] = float(v[key])
        for kind in ("best_layer", "weighted_sum"):
            if "test" in res.get(kind, {}):
                out[f"{task}/{kind}"] = float(res[kind]["test"])
    return out
