"""Evaluation during pretraining: every ``evaluation.every`` updates, score the encoder on a
fixed utterance subset and append one object to ``RUN_DIR/eval.jsonl``.

That file is what turns a run into an efficiency curve: ``essl efficiency RUN ... --metric
phone_probe/best`` reads it and places each point at the cumulative FLOPs, audio, memory or
time that ``metrics.jsonl`` logged for the same step (:mod:`essl.metering.efficiency`).

Each line::

    {"step": 100, "eval_seconds": 7.9, "abx_within/L2": 0.31, ..., "abx_within/best": 0.29,
     "phone_probe/best_layer": 0.44, "phone_probe/weighted_sum": 0.46, "rankme/L4": 61.2}

``abx_within/best`` and ``abx_across/best`` are the lowest ABX error over layers; a probe's
``<task>/best_layer`` is its test score at the layer picked on dev. The subset, the probe
initialisation and shuffling use ``evaluation.seed``, not the training seed, so runs of
different seeds are scored on the same utterances. Evaluation runs in a forked RNG, outside
the metered step time and with its energy left out (``Meter.excluded``), so it changes
neither the training trajectory (exact resume holds) nor the cost axes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from essl.errors import ConfigError

__all__ = ["PeriodicEvalConfig", "best_scores", "run_periodic_eval"]


@dataclass(kw_only=True)
class PeriodicEvalConfig:
    """Scores logged to ``eval.jsonl`` while training (off when ``every`` is 0)."""

    every: int = 0
    """Evaluate before the first update, every N updates and after the last one (0 = never)."""
    tasks: tuple[str, ...] = ("abx", "phone_probe")
    """Tasks of ``essl evaluate`` (see :data:`essl.evaluation.evaluate.TASKS`)."""
    manifest: str | None = None
    """Manifest to score on (None = the training manifest)."""
    max_utterances: int = 100
    """Seeded subset of at most this many utterances."""
    layers: tuple[int, ...] | None = None
    """Encoder layers to score (None = all; 0 = the Transformer input)."""
    probe_steps: int = 150
    """Updates per probe."""
    seed: int = 0
    """Seed of the subset and the probes (fixed across training seeds)."""

    def validate(self) -> None:
        from essl.evaluation.evaluate import TASKS

        if self.every < 0:
            raise ConfigError("evaluation.every: must be >= 0 (0 turns evaluation off)")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ConfigError(
                f"evaluation.tasks: unknown task '{unknown[0]}'; valid tasks: {', '.join(TASKS)}"
            )
        if self.every and not self.tasks:
            raise ConfigError("evaluation.tasks: empty; name a task or set evaluation.every=0")
        if self.max_utterances < 2 or self.probe_steps < 1:
            raise ConfigError("evaluation.max_utterances must be >= 2, probe_steps >= 1")

    def due(self, step: int, max_steps: int) -> bool:
        """Whether to evaluate after update ``step``."""
        return self.every > 0 and (step % self.every == 0 or step == max_steps)


def best_scores(results: dict[str, Any]) -> dict[str, float]:
    """``{"abx_within/best": e, "abx_across/best": e}``: the lowest ABX error over layers in an
    ``essl.evaluate/1`` results dict (empty without ABX)."""
    layers = results["tasks"].get("abx", {}).get("layers", {})
    out: dict[str, float] = {}
    for key in ("within", "across"):
        vals = [float(v[key]) for v in layers.values() if isinstance(v, dict) and key in v]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            out[f"abx_{key}/best"] = min(vals)
    return out


def run_periodic_eval(
    cfg: PeriodicEvalConfig,
    encoder: torch.nn.Module,
    manifest: Path,
    step: int,
    device: torch.device,
    run_dir: Path,
) -> dict[str, Any]:
    """Score ``encoder`` after update ``step`` and append the record to ``run_dir/eval.jsonl``."""
    from essl.evaluation.evaluate import EvalConfig, evaluate_model, flat_scores
    from essl.evaluation.probes import ProbeConfig

    ecfg = EvalConfig(
        tasks=cfg.tasks,
        layers=cfg.layers,
        seed=cfg.seed,
        device=str(device),
        probe=ProbeConfig(steps=cfg.probe_steps, seed=cfg.seed),
    )
    start = time.perf_counter()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        results = evaluate_model(
            encoder, cfg.manifest or manifest, cfg.tasks, ecfg, cfg.max_utterances
        )
    record: dict[str, Any] = {"step": step, "eval_seconds": round(time.perf_counter() - start, 3)}
    scores = {**flat_scores(results), **best_scores(results)}
    # ABX of a layer is undefined (NaN) when the subset has no scorable triphone pair
    record.update({k: v if math.isfinite(v) else None for k, v in scores.items()})
    with (run_dir / "eval.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    return record
