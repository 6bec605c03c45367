"""End-to-end runs of ``essl pretrain`` (in-process) on the tiny synthetic corpus."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from essl.cli.main import main
from essl.data.manifest import Utterance, read_manifest, write_manifest
from essl.errors import EXIT_USER_ERROR
from essl.training import trainer
from essl.training.presets import load_config


def _mean(x):
    return sum(x) / len(x)


@pytest.mark.slow
def test_tiny_wav2vec2_loss_decreases_over_30_steps(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    args = kit.cli_args(
        "wav2vec2-tiny",
        run,
        tiny_corpus,
        "--max-steps",
        "30",
        "--set",
        "optim.lr=2e-3",
        "--set",
        "train.checkpoint_every=30",
    )
    assert main(args) == 0
    loss = kit.losses(run)
    assert len(loss) == 30 and all(math.isfinite(v) for v in loss)
    assert _mean(loss[-5:]) < _mean(loss[:5]) - 0.1


@pytest.mark.slow
def test_tiny_hubert_loss_decreases_over_30_steps(tiny_corpus, tiny_labels, tmp_path, kit):
    run = tmp_path / "run"
    args = kit.cli_args(
        "hubert-tiny-iter1",
        run,
        tiny_corpus,
        "--max-steps",
        "30",
        "--set",
        f"data.labels={tiny_labels}",
        "--set",
        "objective.hubert.num_classes=9",
        "--set",
        "optim.lr=2e-3",
        "--set",
        "train.checkpoint_every=30",
    )
    assert main(args) == 0
    loss = kit.losses(run)
    assert _mean(loss[-5:]) < _mean(loss[:5]) - 0.1


def test_run_dir_records_provenance_metrics_and_tensorboard(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    assert (
        main(
            kit.cli_args(
                "wav2vec2-tiny",
                run,
                tiny_corpus,
                "--max-steps",
                "3",
                "--set",
                "train.checkpoint_every=2",
            )
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["max_steps"] == 3 and cfg["model"]["embed_dim"] == 32
    assert "essl pretrain wav2vec2-tiny" in (run / "command.txt").read_text()
    env = json.loads((run / "environment.json").read_text())
    assert env["torch"] == torch.__version__
    assert env["device"] == str(trainer.select_device("auto"))  # cuda:0 on a GPU machine
    assert env["torch_threads"] == 1 and "git" in env
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3]
    for key in (
        "loss",
        "contrastive",
        "diversity",
        "accuracy",
        "temperature",
        "lr",
        "grad_norm",
        "audio_seconds",
        "step_time",
        "throughput",
    ):
        assert all(key in r for r in recs), key
    assert recs[0]["lr"] == pytest.approx(1e-3 / 2)  # warm-up step 1 of 2
    assert any((run / "tb").iterdir())
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == [
        "step_0000002",
        "step_0000003",
    ]


def test_rerunning_with_more_steps_continues_the_run(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--max-steps", "2")) == 0
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--max-steps", "4")) == 0
    assert [
        json.loads(line)["start_step"] for line in (run / "sessions.jsonl").read_text().splitlines()
    ] == [0, 2]
    assert len(kit.losses(run)) == 4


# --- bad input: stop before training, exit 2, nothing in RUN_DIR changed -------------------


def _refused(kit, args, run: Path, capsys, *needles: str) -> None:
    before = kit.snapshot(run)
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert kit.snapshot(run) == before


def test_unknown_preset_lists_the_valid_presets(tiny_corpus, tmp_path, capsys, kit):
    run = tmp_path / "run"
    _refused(
        kit,
        kit.cli_args("wav2vec3-tiny", run, tiny_corpus),
        run,
        capsys,
        "unknown",
        "wav2vec2-tiny",
        "hubert-base",
    )
    assert not run.exists()


def test_unknown_set_key_is_refused_with_a_suggestion(tiny_corpus, tmp_path, capsys, kit):
    run = tmp_path / "run"
    _refused(
        kit,
        kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--set", "optim.learning_rate=1"),
        run,
        capsys,
        "learning_rate",
        "valid keys",
    )
    _refused(
        kit,
        kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--set", "model.num_layer=1"),
        run,
        capsys,
        "did you mean 'num_layers'",
    )


def test_mistyped_set_value_is_refused(tiny_corpus, tmp_path, capsys, kit):
    run = tmp_path / "run"
    _refused(
        kit,
        kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--set", "optim.lr=fast"),
        run,
        capsys,
        "optim.lr",
        "expected a number",
    )
    _refused(
        kit,
        kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--set", "train.precision=fp8"),
        run,
        capsys,
        "train.precision",
    )


def test_hubert_without_labels_names_data_labels(tiny_corpus, tmp_path, capsys, kit):
    run = tmp_path / "run"
    _refused(kit, kit.cli_args("hubert-tiny-iter1", run, tiny_corpus), run, capsys, "data.labels")


def test_hubert_labels_missing_utterances_are_refused(tiny_corpus, tmp_path, capsys, kit):
    labels = kit.phone_labels(tiny_corpus, tmp_path / "partial.safetensors", drop=2)
    run = tmp_path / "run"
    args = kit.cli_args(
        "hubert-tiny-iter1",
        run,
        tiny_corpus,
        "--set",
        f"data.labels={labels}",
        "--set",
        "objective.hubert.num_classes=9",
    )
    _refused(kit, args, run, capsys, "no frame labels for 2 utterance")


def test_hubert_labels_beyond_num_classes_are_refused(
    tiny_corpus, tiny_labels, tmp_path, capsys, kit
):
    run = tmp_path / "run"
    args = kit.cli_args(
        "hubert-tiny-iter1",
        run,
        tiny_corpus,
        "--set",
        f"data.labels={tiny_labels}",
        "--set",
        "objective.hubert.num_classes=4",
    )
    _refused(kit, args, run, capsys, "objective.hubert.num_classes=9")


def test_audio_shorter_than_the_receptive_field_is_refused(tiny_corpus, tmp_path, capsys, kit):
    utts = read_manifest(tiny_corpus)
    sf.write(tiny_corpus.parent / "wav" / "short.wav", np.zeros(200, np.float32), 16000)
    utts.append(Utterance(id="short", path="wav/short.wav", duration=200 / 16000))
    manifest = tiny_corpus.parent / "with_short.jsonl"
    write_manifest(manifest, utts)
    run = tmp_path / "run"
    args = kit.cli_args("wav2vec2-tiny", run, manifest, "--set", "data.min_seconds=0.0")
    _refused(kit, args, run, capsys, "receptive field", "'short'", "data.min_seconds=")


def test_a_run_dir_of_another_config_is_left_untouched(tiny_corpus, tmp_path, capsys, kit):
    run = tmp_path / "run"
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--max-steps", "1")) == 0
    args = kit.cli_args(
        "wav2vec2-tiny",
        run,
        tiny_corpus,
        "--max-steps",
        "2",
        "--set",
        "model.ffn_dim=128",
        "--set",
        "optim.lr=1e-2",
    )
    _refused(kit, args, run, capsys, "model.ffn_dim", "optim.lr", "new RUN_DIR")
    other = tmp_path / "other.jsonl"
    other.write_text(tiny_corpus.read_text())
    _refused(
        kit,
        kit.cli_args("wav2vec2-tiny", run, other, "--max-steps", "2"),
        run,
        capsys,
        "--manifest",
        "new RUN_DIR",
    )


def test_non_finite_updates_are_skipped_then_the_run_stops(tiny_corpus, tmp_path, monkeypatch, kit):
    real = trainer.build_task_for

    def nan_task(cfg):
        task = real(cfg)
        forward = task.forward

        def poisoned(batch):
            out = forward(batch)
            out.loss = out.loss * float("nan")
            return out

        task.forward = poisoned  # type: ignore[method-assign]
        return task

    monkeypatch.setattr(trainer, "build_task_for", nan_task)
    cfg = load_config("wav2vec2-tiny", [*kit.MICRO, "train.nan_tolerance=3", "train.max_steps=10"])
    with pytest.raises(trainer.TrainingDiverged, match="3 consecutive updates"):
        trainer.pretrain(cfg, tmp_path / "run", tiny_corpus, progress=False)
    recs = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r.get("skipped") for r in recs] == [True, True, True]
