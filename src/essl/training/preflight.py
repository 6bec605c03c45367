"""Checks made before a run writes anything: a bad input stops here, with the fix.

Covered: an incompatible existing RUN_DIR (see :func:`~essl.training.rundir.check_resumable`),
a different manifest for an existing run, an objective that needs frame labels without a
labels file (or with labels missing utterances, or out of range), and audio shorter than
the front end's receptive field after ``data.min_seconds`` filtering.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from essl.data.loading import ResumableLoader, build_loader
from essl.errors import ConfigError, EsslError
from essl.models import receptive_field
from essl.targets.labels import encoder_frame_count
from essl.training.config import PretrainConfig, resolved_dict
from essl.training.rundir import check_resumable

__all__ = ["Prepared", "preflight"]


@dataclass
class Prepared:
    """The outcome of :func:`preflight`."""

    resolved: dict[str, Any]
    """The resolved config as plain JSON values."""
    resume: bool
    """RUN_DIR holds an earlier run of this config."""
    loader: ResumableLoader
    """This rank's loader (at the start of epoch 0)."""
    manifest: Path
    """Absolute manifest path."""


def preflight(
    cfg: PretrainConfig,
    run_dir: Path,
    manifest: Path,
    *,
    rank: int,
    world_size: int,
    required_fields: Sequence[str],
) -> Prepared:
    """Validate everything that can be validated without training; raise EsslError if not."""
    resolved = resolved_dict(cfg)
    manifest = manifest.resolve()
    resume = check_resumable(run_dir, resolved)
    if resume:
        _check_same_manifest(run_dir, manifest)
    labels = _load_labels(cfg, required_fields)
    boundaries = _load_boundaries(cfg, manifest)
    conv = cfg.model.conv_layers
    loader = build_loader(
        manifest,
        cfg.data,
        seed=cfg.train.seed,
        rank=rank,
        world_size=world_size,
        labels=labels,
        boundaries=boundaries,
        split=cfg.data.split,
        frames_fn=lambda n: encoder_frame_count(n, conv),
    )
    _check_lengths(cfg, loader, manifest)
    return Prepared(resolved=resolved, resume=resume, loader=loader, manifest=manifest)


def _check_same_manifest(run_dir: Path, manifest: Path) -> None:
    path = run_dir / "run.json"
    if not path.is_file():
        return
    stored = json.loads(path.read_text()).get("manifest")
    if stored and Path(stored) != manifest:
        raise ConfigError(
            f"{run_dir} was trained on --manifest {stored}, not {manifest}; resume it with the "
            "same manifest, or choose a new RUN_DIR for this one. Nothing was changed."
        )


def _load_boundaries(cfg: PretrainConfig, manifest: Path) -> dict[str, list[float]] | None:
    """Boundary times for segment masks (None when the masker does not use them)."""
    if cfg.masking.name != "segment" and cfg.data.boundaries is None:
        return None
    from essl.masking.boundaries.store import default_boundaries_path, read_boundaries

    path = Path(cfg.data.boundaries) if cfg.data.boundaries else default_boundaries_path(manifest)
    if not path.is_file():
        raise ConfigError(
            f"masking.name=segment needs phone boundaries, and {path} does not exist; make it "
            f"with `essl boundaries detect {manifest} --detector spectral` or set "
            "--set data.boundaries=PATH"
        )
    times = read_boundaries(path).times
    return {k: list(v) for k, v in times.items()}


def _load_labels(cfg: PretrainConfig, required: Sequence[str]) -> dict[str, np.ndarray] | None:
    if "labels" not in required:
        return None
    if cfg.data.labels is None:
        raise ConfigError(
            f"data.labels: the '{cfg.objective.name}' objective predicts frame labels; set "
            "--set data.labels=PATH to a labels file made by `essl targets` (k-means units)"
        )
    from essl.targets.labels import read_labels

    labels, meta = read_labels(cfg.data.labels)
    k = cfg.objective.hubert.num_classes
    top = max((int(v.max()) for v in labels.values() if v.size), default=-1)
    if top >= k:
        raise ConfigError(
            f"{cfg.data.labels}: holds label {top} but objective.hubert.num_classes={k}; set "
            f"objective.hubert.num_classes={meta.get('num_classes', top + 1)}"
        )
    return labels


def _check_lengths(cfg: PretrainConfig, loader: ResumableLoader, manifest: Path) -> None:
    rf = receptive_field(cfg.model.conv_layers)
    if round(cfg.data.max_seconds * 16000) < rf:
        raise ConfigError(
            f"data.max_seconds: {cfg.data.max_seconds} s crops are shorter than the front "
            f"end's receptive field ({rf} samples = {rf / 16000:.4f} s); raise it"
        )
    samples = loader.dataset.num_samples()
    short = np.flatnonzero(samples < rf)
    if short.size:
        first = loader.dataset.utterances[int(short[0])]
        raise EsslError(
            f"{manifest}: {short.size} utterance(s) are shorter than the front end's receptive "
            f"field ({rf} samples = {rf / 16000:.4f} s), e.g. '{first.id}' ({first.duration} s); "
            f"set --set data.min_seconds={rf / 16000:.4f} (or more) to skip them"
        )
