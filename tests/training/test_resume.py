"""Exact resume: a run killed with SIGKILL and resumed logs the uninterrupted run's losses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from essl.training.checkpoint import latest_checkpoint

TIMING = {
    "step_time",
    "throughput",
    "wall_time",
    "audio_seconds_per_second",
    "mfu",
    "peak_memory_bytes",
    "peak_memory_reserved_bytes",
    "energy_kwh",
    "co2_kg",
}


def _records(run: Path) -> list[dict]:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in recs]


@pytest.mark.slow
def test_a_sigkilled_run_resumes_to_the_uninterrupted_losses_bitwise(tiny_corpus, tmp_path, kit):
    # bitwise on CPU (CUDA kernels are not deterministic unless train.deterministic is set)
    extra = ("--max-steps", "14", "--set", "train.checkpoint_every=3", "--set", "train.device=cpu")
    ref, run = tmp_path / "ref", tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def command(run_dir):  # fresh processes only: no state shared with this test process
        args = kit.cli_args("wav2vec2-tiny", run_dir, tiny_corpus, *extra)
        return [sys.executable, "-m", "essl", *args]

    subprocess.run(command(ref), env=env, check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen(
        command(run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    metrics, deadline = run / "metrics.jsonl", time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    done = len(metrics.read_text().splitlines())
    ckpt = latest_checkpoint(run / "checkpoints")
    assert ckpt is not None and done < 14

    subprocess.run(command(run), env=env, check=True, capture_output=True, timeout=600)
    got, want = _records(run), _records(ref)
    diff = [(a, b) for a, b in zip(got, want, strict=False) if a != b][:1]
    assert len(got) == len(want) == 14 and not diff, (ckpt, diff)  # bitwise, timings aside
    final = "checkpoints/step_0000014/model.safetensors"
    assert (run / final).read_bytes() == (ref / final).read_bytes()
