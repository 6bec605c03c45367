"""The regularisation section of ``essl pretrain``: augmentation and the consistency term are
applied by the trainer, recorded in config.json, and rebuilt when the run is loaded."""

import json

import torch

from essl.cli.main import main
from essl.evaluation.features import load_model

REG = [
    "--set", "regularisation.augment.conditions=[noise]",
    "--set", "regularisation.augment.probability=1.0",
    "--set", "regularisation.consistency.perturbations.conditions=[noise]",
    "--set", "regularisation.consistency.weight=1.0",
]  # fmt: skip


def test_regularised_run_logs_its_terms_and_reloads(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    args = ("--max-steps", "2", "--set", "train.checkpoint_every=2", *REG)
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, *args)) == 0
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("consistency" in r and r["augmented_fraction"] == 1.0 for r in recs)
    cfg = json.loads((run / "config.json").read_text())["regularisation"]
    assert cfg["augment"]["conditions"] == ["noise"] and cfg["consistency"]["weight"] == 1.0
    encoder = load_model(str(run))  # rebuilds the wrapped task to load the checkpoint
    feats, frames = encoder.eval().extract_features(torch.zeros(1, 16000), torch.tensor([16000]))
    assert feats[-1].shape[:2] == (1, int(frames[0]))
