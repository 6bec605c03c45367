"""``essl targets kmeans`` end to end on the tiny corpus (MFCC and a trained run's layer)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from essl.cli import targets as targets_cli
from essl.errors import EsslError
from essl.targets import MfccFeatures, apply_centroids, read_labels


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="essl")
    targets_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_importing_the_cli_module_does_not_import_torch() -> None:
    code = "import sys, essl.cli.targets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_kmeans_on_mfcc_writes_labels_centroids_and_quality(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "units"
    rc = _run(
        [
            "targets",
            "kmeans",
            str(tiny_corpus),
            str(out),
            "--features",
            "mfcc",
            "--clusters",
            "12",
            "--seed",
            "1",
            "--split",
            "train",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "phone pur." in printed and "PNMI" in printed
    labels, meta = read_labels(out / "labels.safetensors")
    assert len(labels) == 8 and meta["num_classes"] == 12 and meta["split"] == "train"
    quality = json.loads((out / "quality.json").read_text())["quality"]
    assert quality["all"]["phone_purity"] > 2 * quality["phone_chance"]
    assert (out / "centroids.safetensors").is_file()

    again = tmp_path / "applied"
    assert _run(["targets", "apply", str(tiny_corpus), str(out), str(again)]) == 0
    applied, meta2 = read_labels(again / "labels.safetensors")
    assert meta2["centroids"] == str((out / "centroids.safetensors").resolve())
    assert all(np.array_equal(applied[k], labels[k]) for k in labels)
    with pytest.raises(EsslError, match="fitted on 'mfcc' features"):
        apply_centroids(
            tiny_corpus, out / "centroids.safetensors", None, MfccFeatures(name="layer:2")
        )


def test_bad_feature_specs_are_user_errors(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(EsslError, match="expected mfcc or layer:N"):
        _run(["targets", "kmeans", str(tiny_corpus), str(tmp_path), "--features", "hidden6"])
    with pytest.raises(EsslError, match="needs --model"):
        _run(["targets", "kmeans", str(tiny_corpus), str(tmp_path), "--features", "layer:3"])
    with pytest.raises(EsslError, match="no checkpoint"):
        _run(
            [
                "targets",
                "kmeans",
                str(tiny_corpus),
                str(tmp_path),
                "--features",
                "layer:1",
                "--model",
                str(tmp_path),
            ]
        )


@pytest.mark.slow
def test_kmeans_on_a_layer_of_a_trained_run(tiny_corpus: Path, tmp_path: Path, seed: int) -> None:
    from essl.config import to_dict
    from essl.models import encoder_preset
    from essl.training.checkpoint import Checkpoint, capture_rng, save_checkpoint
    from essl.training.config import PretrainConfig
    from essl.training.trainer import build_task_for

    tiny = encoder_preset("tiny")
    model = replace(
        tiny,
        conv_layers=tuple((32, k, s) for _, k, s in tiny.conv_layers),
        embed_dim=32,
        num_heads=2,
        ffn_dim=64,
        pos_conv_groups=4,
        num_layers=2,
    )
    cfg = PretrainConfig(model=model)
    task = build_task_for(cfg)
    save_checkpoint(
        tmp_path / "run" / "checkpoints",
        Checkpoint(
            step=5,
            model=task.state_dict(),
            optimizer=torch.optim.SGD(task.parameters(), lr=0.1).state_dict(),
            rng=[capture_rng()],
            config=to_dict(cfg),
        ),
    )
    out = tmp_path / "it2"
    argv = ["targets", "kmeans", str(tiny_corpus), str(out), "--features", "layer:1"]
    assert _run([*argv, "--model", str(tmp_path / "run"), "--clusters", "6"]) == 0
    labels, meta = read_labels(out / "labels.safetensors")
    assert meta["features"] == "layer:1" and meta["num_classes"] == 6
    assert len(labels) == 8 and all(v.max() < 6 for v in labels.values())
