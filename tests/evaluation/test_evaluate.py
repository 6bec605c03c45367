"""evaluate_model / run_evaluation / `essl evaluate`: task selection, results schema, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from essl.data.manifest import read_manifest, write_manifest
from essl.errors import EsslError
from essl.evaluation.evaluate import (
    SCHEMA,
    TASKS,
    EvalConfig,
    evaluate_model,
    flat_scores,
    resolve_tasks,
)
from essl.evaluation.probes import ProbeConfig
from essl.evaluation.tasks import corpus_splits, speaker_splits
from essl.models import Encoder, EncoderConfig
from essl.testing import make_tiny_corpus


def _small_encoder() -> Encoder:
    torch.manual_seed(0)
    cfg = EncoderConfig(
        conv_layers=((32, 10, 5), (32, 8, 4), (32, 8, 8)),
        embed_dim=32,
        num_layers=2,
        num_heads=2,
        ffn_dim=64,
        pos_conv_kernel=16,
        pos_conv_groups=4,
    )
    return Encoder(cfg)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_tiny_corpus(tmp_path / "c", num_utterances=12, num_speakers=4)


def test_unknown_task_lists_the_valid_ones(corpus):
    with pytest.raises(EsslError, match="valid tasks: abx, rankme"):
        resolve_tasks(["rankme", "vibes"], read_manifest(corpus))


def test_tasks_without_their_labels_are_skipped_by_default_and_refused_when_asked(corpus, tmp_path):
    bare = [u.replace(phones=None, sex="female") for u in read_manifest(corpus)]
    write_manifest(tmp_path / "bare.jsonl", bare)
    run, skipped = resolve_tasks(None, bare)
    assert run == ["rankme", "alpha_req", "speaker_probe", "accent_probe"]
    assert set(skipped) == {"abx", "pnmi", "phone_probe", "phone_ctc", "sex_probe"}
    assert "phone alignments" in skipped["abx"] and "sex" in skipped["sex_probe"]
    with pytest.raises(EsslError, match="task 'abx' cannot run"):
        resolve_tasks(["abx"], bare)


def test_speaker_split_puts_every_speaker_in_train_and_test(corpus):
    utts = read_manifest(corpus)  # 3 utterances per speaker
    sp = speaker_splits(utts, seed=0)
    for part in ("train", "dev", "test"):
        assert {utts[i].speaker for i in sp[part]} == {"spk0", "spk1", "spk2", "spk3"}
    assert sorted(sp["train"] + sp["dev"] + sp["test"]) == list(range(len(utts)))
    assert corpus_splits(utts, 0)[1] == "manifest"


def test_evaluate_model_returns_the_versioned_schema_and_restores_train_mode(corpus):
    model = _small_encoder().train()
    cfg = EvalConfig(probe=ProbeConfig(steps=30))
    res = evaluate_model(model, corpus, ["rankme", "abx", "sex_probe"], cfg)
    assert model.training
    assert res["schema"] == SCHEMA and res["seed"] == 0
    assert res["model"]["layers"] == [0, 1, 2] and res["model"]["frame_rate"] == 100.0
    assert res["manifest"]["utterances"] == 12
    assert list(res["tasks"]) == ["abx", "rankme", "sex_probe"]
    assert all(1.0 <= v <= 32 for v in res["tasks"]["rankme"]["layers"].values())
    abx = res["tasks"]["abx"]["layers"]["2"]
    assert 0.0 <= abx["across"] <= 1.0 or math.isnan(abx["across"])
    probe = res["tasks"]["sex_probe"]
    assert set(probe) >= {"per_layer", "best_layer", "weighted_sum", "chance"}
    assert sum(probe["weighted_sum"]["weights"].values()) == pytest.approx(1.0)
    assert {"features_s", "rankme_s", "abx_s", "total_s"} <= set(res["timings"])
    assert "rankme/L2" in flat_scores(res)
    json.dumps(res, allow_nan=True)


@pytest.mark.slow
def test_cli_evaluates_a_random_tiny_preset_end_to_end(corpus, tmp_path, capsys):
    from essl.cli.main import build_parser

    parser = build_parser() if "evaluate" in _groups() else _parser_with_evaluate()
    out = tmp_path / "eval"
    args = parser.parse_args(
        [
            "evaluate",
            "preset:tiny",
            str(corpus),
            str(out),
            "--tasks",
            "rankme,alpha_req,abx,phone_probe",
            "--layers",
            "0,4",
            "--probe-steps",
            "20",
            "--quiet",
        ]
    )
    assert args.handler(args) == 0
    text = (out / "results.json").read_text()
    res = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not strict JSON"))
    assert res["schema"] == SCHEMA and res["model"]["spec"] == "preset:tiny"
    assert list(res["tasks"]["rankme"]["layers"]) == ["0", "4"]
    assert set(res["tasks"]["phone_probe"]["per_layer"]) == {"0", "4"}
    assert res["tasks"]["phone_probe"]["classes"][-1] == "sil"
    summary = (out / "summary.md").read_text()
    assert "RankMe" in summary and "phone_probe" in summary
    assert "RankMe" in capsys.readouterr().out
    assert len(TASKS) == 9


def _groups() -> tuple[str, ...]:
    from essl.cli.main import GROUPS

    return GROUPS


def _parser_with_evaluate():  # until "evaluate" is registered in essl.cli.main.GROUPS
    import argparse

    from essl.cli import evaluate

    p = argparse.ArgumentParser(prog="essl")
    evaluate.register(p.add_subparsers(dest="command"))
    return p


def test_cli_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, essl.cli.evaluate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_directory_loads_the_encoder_of_its_latest_checkpoint(tmp_path):
    from essl.config import to_dict
    from essl.evaluation.features import load_model
    from essl.training.checkpoint import Checkpoint, capture_rng, save_checkpoint
    from essl.training.presets import load_config
    from essl.training.trainer import build_task_for

    cfg = load_config("wav2vec2-tiny")
    task = build_task_for(cfg)
    with torch.no_grad():
        for p in task.encoder.parameters():
            p.add_(0.01)  # differ from a fresh initialisation with the same seed
    opt = torch.optim.AdamW(task.parameters())
    ckpt = Checkpoint(
        step=3,
        model=task.state_dict(),
        optimizer=opt.state_dict(),
        rng=[capture_rng()],
        config=to_dict(cfg),
    )
    save_checkpoint(tmp_path / "run" / "checkpoints", ckpt)
    enc = load_model(str(tmp_path / "run"))
    assert not enc.training
    for (name, a), b in zip(task.encoder.state_dict().items(), enc.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(EsslError, match="no checkpoint"):
        load_model(str(tmp_path))
