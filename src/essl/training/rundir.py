"""The run directory: resolved config, provenance, metrics log and checkpoints.

::

    RUN_DIR/
      config.json       resolved PretrainConfig (+ the manifest path)
      command.txt       the command line of the latest start
      environment.json  versions, device, threads, allocator, git revision (latest start)
      sessions.jsonl    one line per start or resume (command, time, start step)
      metrics.jsonl     one JSON object per optimizer step
      tb/               TensorBoard scalars
      checkpoints/      see :mod:`essl.training.checkpoint`

Re-running on an existing RUN_DIR resumes it; :func:`check_resumable` refuses (before anything
is written) when the stored config differs in a key that would change the result.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from essl._io import atomic_open, write_json
from essl.errors import ConfigError

__all__ = [
    "RESUMABLE_KEYS",
    "check_resumable",
    "config_diff",
    "environment_info",
    "truncate_metrics",
    "write_provenance",
]

RESUMABLE_KEYS = frozenset(
    {
        "train.max_steps",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_last",
        "train.nan_tolerance",
        "train.compile",
        "train.device",
    }
)
RESUMABLE_PREFIXES = ("metering.",)
"""Sections whose keys may change too: they measure the run without changing it."""
"""Keys that may change between a run and its resumption (they do not change the result;
``train.max_steps`` extends or shortens the run)."""


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config dicts (added/removed keys too)."""
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, "<absent>") != b.get(k, "<absent>"))


def check_resumable(run_dir: Path, resolved: dict[str, Any]) -> bool:
    """True when ``run_dir`` holds an earlier run of ``resolved``; False when it is new
    (absent, empty, or holding only the ``slurm/`` folder of a submission).

    Raises ConfigError naming the differing keys when the stored config is incompatible.
    """
    path = run_dir / "config.json"
    if not path.is_file():
        if run_dir.is_dir() and any(p.name != "slurm" for p in run_dir.iterdir()):
            raise ConfigError(
                f"{run_dir}: not empty and has no config.json, so it is not an essl run; "
                "choose a new RUN_DIR"
            )
        return False
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: unreadable ({e}); choose a new RUN_DIR") from None
    bad = [
        k
        for k in config_diff(stored, resolved)
        if k not in RESUMABLE_KEYS and not k.startswith(RESUMABLE_PREFIXES)
    ]
    if bad:
        shown = ", ".join(
            f"{k} (run: {_get(stored, k)!r}, now: {_get(resolved, k)!r})" for k in bad[:8]
        )
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        raise ConfigError(
            f"{run_dir} was trained with a different config: {shown}{more}. To resume it, use "
            f"the same config (e.g. `essl pretrain {path} {run_dir} ...`); to train this "
            "config, choose a new RUN_DIR. Nothing was changed."
        )
    return True


def _get(d: dict[str, Any], dotted: str) -> Any:
    return _flatten(d).get(dotted, "<absent>")


def environment_info(device: str, world_size: int) -> dict[str, Any]:
    """What produced the run: versions, device, threads, allocator settings, git revision."""
    import numpy as np
    import torch

    env_keys = (
        "GLIBC_TUNABLES",
        "LD_PRELOAD",
        "ESSL_ALLOCATOR",
        "PYTORCH_CUDA_ALLOC_CONF",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
    )
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": device,
        "world_size": world_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "env": {k: os.environ[k] for k in env_keys if k in os.environ},
        "git": _git_revision(),
    }
    if device.startswith("cuda"):
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _git_revision() -> dict[str, Any] | None:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": rev, "dirty": bool(dirty.strip())}


def write_provenance(
    run_dir: Path, resolved: dict[str, Any], argv: list[str], env: dict[str, Any], start_step: int
) -> None:
    """Write config.json, command.txt, environment.json and append to sessions.jsonl."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", resolved)
    command = shlex.join(argv)
    with atomic_open(run_dir / "command.txt") as f:
        f.write(command + "\n")
    write_json(run_dir / "environment.json", env)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "start_step": start_step,
    }
    with (run_dir / "sessions.jsonl").open("a") as f:
        f.write(json.dumps(entry) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Keep only the log lines of steps <= ``step`` (drop a torn last line too)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("step", step + 1) <= step:
            kept.append(line)
    with atomic_open(path) as f:
        f.write("".join(k + "\n" for k in kept))
