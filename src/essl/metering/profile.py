"""Standalone profile of any model: the figures the SUPERB challenge reports.

For a training preset or config (``wav2vec2-tiny``, ``configs/x.yaml``), an essl run
directory, an encoder preset (``preset:base``) or a local HF checkpoint (``hf:PATH``):
parameters (of the whole pretraining task and of the encoder that extracts features),
storage bytes, inference FLOPs and MACs per second of audio (measured with the corrected
FlopCounterMode), peak memory and real-time factor, at several input lengths.

Peak memory: the peak of live tensor bytes (weights + activations) during the forward:
``max_memory_allocated`` on CUDA, torch's ``MemTracker`` on CPU (exact tensor accounting;
the process RSS cannot be used here because the fast allocator keeps freed memory mapped).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from essl.errors import EsslError
from essl.metering.flops import count_flops
from essl.metering.memory import PeakMemory
from essl.metering.storage import storage_of

__all__ = ["load_profile_target", "profile_model"]


def load_profile_target(spec: str) -> tuple[Any, nn.Module | None]:
    """(encoder, whole pretraining task or None) for a model spec."""
    if spec.startswith(("preset:", "hf:", "essl:")):
        from essl.evaluation.features import load_model

        return load_model(spec), None
    from essl.training.presets import list_presets, load_config
    from essl.training.trainer import build_task_for

    path = Path(spec)
    if spec in list_presets() or path.suffix in (".yaml", ".yml"):
        task = build_task_for(load_config(spec))
        return task.encoder, task
    if path.is_dir():
        from essl.config import from_dict
        from essl.training.checkpoint import latest_checkpoint, load_checkpoint
        from essl.training.config import PretrainConfig

        ckpt_path = latest_checkpoint(path / "checkpoints")
        if ckpt_path is None:
            raise EsslError(f"{path}: no checkpoint; train it with `essl pretrain` first")
        ckpt = load_checkpoint(ckpt_path)
        task = build_task_for(from_dict(PretrainConfig, ckpt.config, f"{ckpt_path} config"))
        task.load_state_dict(ckpt.model)
        return task.encoder, task
    raise EsslError(
        f"model '{spec}': not a training preset ({', '.join(list_presets())}), "
        "a YAML config, a run directory, preset:NAME or hf:PATH"
    )


@torch.no_grad()
def _measure(encoder: Any, seconds: float, device: torch.device, repeats: int) -> dict[str, Any]:
    S = int(round(seconds * 16000))
    wavs = torch.randn(1, S, device=device)
    lengths = torch.tensor([S], device=device)
    run = lambda: encoder.extract_features(wavs, lengths)  # noqa: E731
    _, flops, _ = count_flops(run)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    peak = _peak_tensor_bytes(encoder, run, device)
    t_med = statistics.median(times[1:])
    return {
        "seconds": seconds,
        "flops": flops,
        "macs": flops // 2,
        "flops_per_second_audio": flops / seconds,
        "peak_memory_bytes": int(peak),
        "time_s": t_med,
        "rtf": t_med / seconds,
    }


def _peak_tensor_bytes(encoder: nn.Module, run: Any, device: torch.device) -> int:
    if device.type == "cuda":
        probe = PeakMemory(device)
        probe.reset()
        run()
        return probe.read().peak_bytes
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    tracker.track_external(encoder)
    with tracker:
        run()
    return int(tracker.get_tracker_snapshot("peak")[device]["Total"])


def profile_model(
    spec: str,
    seconds: Sequence[float] = (1.0, 10.0, 30.0),
    device: str | torch.device = "cpu",
    repeats: int = 2,
) -> dict[str, Any]:
    """Profile ``spec`` (see module doc); returns one JSON-ready dict."""
    device = torch.device(device)
    encoder, task = load_profile_target(spec)
    encoder = encoder.to(device).eval()
    enc = storage_of(encoder)
    full = storage_of(task) if task is not None else enc
    rows = [_measure(encoder, s, device, repeats) for s in seconds]
    first = rows[0]
    return {
        "schema": "essl.profile/1",
        "model": spec,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "params": full.params,
        "encoder_params": enc.params,
        "param_bytes": full.param_bytes,
        "encoder_param_bytes": enc.param_bytes,
        "flops_per_second_audio": first["flops_per_second_audio"],
        "macs_per_second_audio": first["macs"] / first["seconds"],
        "peak_memory_bytes": first["peak_memory_bytes"],
        "rtf": first["rtf"],
        "per_length": rows,
    }
