"""Fixtures of the trainer tests: micro-model overrides, phone labels, run-dir readers.

Tests get the helpers through the ``kit`` fixture (the suite runs with
``--import-mode=importlib``, so test modules cannot import a sibling helper module)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from essl.data.manifest import read_manifest
from essl.targets.labels import encoder_frame_count, write_labels
from essl.testing import PHONE_FORMANTS

PHONES = ["sil", *PHONE_FORMANTS]


def phone_labels(manifest: Path, out: Path, drop: int = 0) -> Path:
    """Frame labels = the phone at each 20 ms frame's centre (9 classes); ``drop`` omits the
    last utterances (to test missing labels)."""
    labels = {}
    for u in read_manifest(manifest)[: None if drop == 0 else -drop]:
        T = encoder_frame_count(round(u.duration * 16000))
        centres = (np.arange(T) * 320 + 200) / 16000
        lab = np.zeros(T, np.int64)
        for name, start, end in u.phones or ():
            lab[(centres >= start) & (centres < end)] = PHONES.index(name)
        labels[u.id] = lab
    return write_labels(out, labels, {"num_classes": len(PHONES), "frame_rate": 50.0})


MICRO = [
    "model.conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "model.embed_dim=32",
    "model.num_layers=2",
    "model.num_heads=2",
    "model.ffn_dim=64",
    "model.pos_conv_kernel=16",
    "model.pos_conv_groups=4",
    "data.max_batch_seconds=2.0",
    "data.max_seconds=1.0",
    "train.threads=1",
    "train.log_every=1",
    "optim.warmup_steps=2",
]
"""Overrides shrinking a tiny preset to a 2-layer x 32 model on 2-utterance batches (fast)."""


def cli_args(preset: str, run_dir: Path, manifest: Path, *extra: str) -> list[str]:
    """``essl pretrain`` arguments for the micro model."""
    sets = [a for kv in MICRO for a in ("--set", kv)]
    return [
        "pretrain",
        preset,
        str(run_dir),
        "--manifest",
        str(manifest),
        *sets,
        "--no-progress",
        *extra,
    ]


def losses(run_dir: Path) -> list[float]:
    import json

    return [
        json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file under ``run_dir`` with its bytes (to check nothing was overwritten)."""
    if not run_dir.exists():
        return {}
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tiny_labels(tiny_corpus: Path) -> Path:
    """Phone labels (9 classes) of every utterance of ``tiny_corpus``."""
    return phone_labels(tiny_corpus, tiny_corpus.parent / "phones.safetensors")


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above: MICRO, cli_args, losses, snapshot, phone_labels."""
    return SimpleNamespace(
        MICRO=MICRO, cli_args=cli_args, losses=losses, snapshot=snapshot, phone_labels=phone_labels
    )
