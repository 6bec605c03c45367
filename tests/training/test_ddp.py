"""DDP: 2 CPU processes under torchrun train like 1 process on the same global batches."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from essl.cli.main import main

# HuBERT on unmasked frames only, no dropout: the loss is a deterministic function of the
# batch, so 1 process and 2 ranks must agree up to float summation order.
DETERMINISTIC = [
    "masking.random_span.mask_prob=0.0",
    "objective.hubert.masked_weight=0.0",
    "objective.hubert.unmasked_weight=1.0",
    "objective.hubert.num_classes=9",
    "model.dropout_input=0.0",
    "model.dropout_features=0.0",
    "data.global_shards=2",
    "train.checkpoint_every=4",
    "train.device=cpu",  # gloo on CPU processes, also on a machine with one GPU
]


@pytest.mark.slow
def test_two_ddp_processes_match_one_process_on_the_global_batch(
    tiny_corpus, tiny_labels, tmp_path, kit
):
    sets = [a for kv in [*DETERMINISTIC, f"data.labels={tiny_labels}"] for a in ("--set", kv)]
    args = ("--max-steps", "4", *sets)
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(kit.cli_args("hubert-tiny-iter1", single, tiny_corpus, *args)) == 0

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        torchrun,
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "essl",
        *kit.cli_args("hubert-tiny-iter1", ddp, tiny_corpus, *args),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]

    recs = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    single_recs = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    assert [r["audio_seconds"] for r in recs] == [r["audio_seconds"] for r in single_recs]
    assert kit.losses(ddp) == pytest.approx(kit.losses(single), rel=1e-4)
    assert json.loads((ddp / "environment.json").read_text())["world_size"] == 2
    a = load_file(str(single / "checkpoints/step_0000004/model.safetensors"))
    b = load_file(str(ddp / "checkpoints/step_0000004/model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
