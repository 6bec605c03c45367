"""One update: accumulation weighting, precision and device choice."""

import copy
import json
import math

import pytest
import torch

from essl.cli.main import main
from essl.data.collate import collate
from essl.data.loading import build_loader
from essl.errors import EsslError
from essl.targets.labels import read_labels
from essl.training.distributed import DistInfo
from essl.training.presets import load_config
from essl.training.step import train_step
from essl.training.trainer import build_task_for, select_device

# HuBERT on every (unmasked) frame without dropout: a deterministic function of the batch
DETERMINISTIC = [
    "masking.random_span.mask_prob=0.0",
    "objective.hubert.masked_weight=0.0",
    "objective.hubert.unmasked_weight=1.0",
    "objective.hubert.num_classes=9",
    "model.dropout_input=0.0",
    "model.dropout_features=0.0",
]


def _update(task, micro):
    opt = torch.optim.AdamW(task.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    res = train_step(
        task,
        micro,
        opt,
        lr=1e-3,
        grad_clip=0.0,
        dist=DistInfo(),
        device=torch.device("cpu"),
        autocast_dtype=None,
    )
    return res, [p.detach().clone() for p in task.parameters()]


def test_accumulated_micro_batches_equal_one_large_batch(tiny_corpus, tiny_labels, kit):
    cfg = load_config("hubert-tiny-iter1", [*kit.MICRO, *DETERMINISTIC])
    labels, _ = read_labels(tiny_labels)
    ds = build_loader(tiny_corpus, cfg.data, seed=0, labels=labels).dataset
    ex = [ds[i] for i in range(4)]
    ex[0].wav = ex[0].wav[:8000]  # unequal sizes: weighting by micro-batch would differ
    ex[0].labels = ex[0].labels[:24]
    task = build_task_for(cfg)
    big, p_big = _update(copy.deepcopy(task), [collate(ex)])
    acc, p_acc = _update(copy.deepcopy(task), [collate(ex[:1]), collate(ex[1:])])
    assert acc.num_frames == big.num_frames == 24 + 3 * 49
    assert acc.loss == pytest.approx(big.loss, rel=1e-5)
    assert acc.grad_norm == pytest.approx(big.grad_norm, rel=1e-4)
    for a, b in zip(p_acc, p_big, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # averaging the two micro-batch losses equally would not match the large batch
    small = _update(copy.deepcopy(task), [collate(ex[:1])])[0].loss
    rest = _update(copy.deepcopy(task), [collate(ex[1:])])[0].loss
    assert abs((small + rest) / 2 - big.loss) > 1e-4


def test_bf16_autocast_trains_on_cpu(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    assert (
        main(
            kit.cli_args(
                "wav2vec2-tiny",
                run,
                tiny_corpus,
                "--max-steps",
                "2",
                "--set",
                "train.precision=bf16",
            )
        )
        == 0
    )
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(math.isfinite(r["loss"]) for r in recs)


def test_the_device_is_chosen_not_assumed():
    assert select_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert select_device("auto", 0) == torch.device("cuda", 0)
    else:
        assert select_device("auto") == torch.device("cpu")
        with pytest.raises(EsslError, match="train.device"):
            select_device("cuda")


def test_more_processes_than_gpus_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("auto", 0) == torch.device("cuda", 0)
    with pytest.raises(EsslError, match="LOCAL_RANK=1 .* 1 CUDA device"):
        select_device("auto", 1)
    assert select_device("cpu", 1) == torch.device("cpu")
