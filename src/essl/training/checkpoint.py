"""Checkpoints as safetensors + JSON: atomic, pruned, never unpickled.

Layout of ``RUN_DIR/checkpoints/step_0000042/``::

    model.safetensors       the task's state_dict (encoder + heads)
    optimizer.safetensors   every tensor of the optimizer state ("state.<param>.<name>")
    optimizer.json          the rest: param groups and non-tensor state values
    rng.safetensors         torch CPU ("torch") and CUDA ("cuda.<i>") generator states (uint8)
    trainer.json            step, RNG states of ``random`` and numpy, loader state per rank,
                            the resolved config, and whatever else the trainer passes

A checkpoint is written into a hidden temporary folder which is renamed to its final name
only when complete; then the ``latest`` pointer file is replaced atomically. A crash at any
moment leaves the previous checkpoint loadable. Nothing is read with pickle: tensors come from
safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from essl._io import atomic_open, write_json
from essl.errors import EsslError

__all__ = [
    "Checkpoint",
    "capture_rng",
    "latest_checkpoint",
    "load_checkpoint",
    "prune_checkpoints",
    "restore_rng",
    "save_checkpoint",
]

_PREFIX = "step_"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly."""

    step: int
    """Optimizer updates done."""
    model: dict[str, torch.Tensor]
    """The task's state_dict (CPU tensors)."""
    optimizer: dict[str, Any]
    """``torch.optim.Optimizer.state_dict()`` layout, tensors on CPU."""
    rng: list[dict[str, Any]]
    """Each rank's generator states (see :func:`capture_rng`), rank order."""
    loader: list[Any] = field(default_factory=list)
    """The loader's ``state_dict()`` of each rank, rank order."""
    config: dict[str, Any] = field(default_factory=dict)
    """The resolved run config."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Other JSON values (e.g. the consecutive non-finite step count)."""


def capture_rng() -> dict[str, Any]:
    """The state of every generator a training step may draw from."""
    np_state: Any = np.random.get_state()
    rng: dict[str, Any] = {
        "python": _jsonable(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *[_jsonable(v) for v in np_state[2:]]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def save_checkpoint(root: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``root/step_XXXXXXX`` atomically and point ``root/latest`` at it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{_PREFIX}{ckpt.step:07d}"
    final = root / name
    tmp = root / f".{name}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_contents(tmp, ckpt)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # same step saved again (e.g. after a resume): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    with atomic_open(root / "latest") as f:
        f.write(name + "\n")
    return final


def _write_contents(tmp: Path, ckpt: Checkpoint) -> None:
    _save_tensors(tmp / "model.safetensors", ckpt.model)
    opt_tensors, opt_meta = _split_optimizer(ckpt.optimizer)
    _save_tensors(tmp / "optimizer.safetensors", opt_tensors)
    write_json(tmp / "optimizer.json", opt_meta)
    rng_tensors: dict[str, torch.Tensor] = {}
    for r, state in enumerate(ckpt.rng):
        rng_tensors[f"rank{r}.torch"] = state["torch"]
        rng_tensors.update({f"rank{r}.cuda.{i}": t for i, t in enumerate(state.get("cuda", []))})
    _save_tensors(tmp / "rng.safetensors", rng_tensors)
    meta = {
        "format": FORMAT_VERSION,
        "step": ckpt.step,
        "rng": [{"python": r["python"], "numpy": r["numpy"]} for r in ckpt.rng],
        "loader": ckpt.loader,
        "config": ckpt.config,
        "extra": ckpt.extra,
    }
    write_json(tmp / "trainer.json", meta)  # written last: its presence marks completeness
    _fsync_dir(tmp)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for k, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen:  # safetensors refuses shared storage (tied weights): store a copy
            t = t.clone()
        seen.add(ptr)
        out[k] = t
    save_file(out, str(path))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for key, v in pstate.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = v
            else:
                scalars.setdefault(str(pid), {})[key] = v
    groups = [_jsonable(dict(g)) for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = t
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        for k, v in g.items():
            if k != "params" and isinstance(v, list):
                g[k] = tuple(v)  # e.g. betas
        groups.append(g)
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under ``root`` (the ``latest`` pointer, else a scan)."""
    root = Path(root)
    pointer = root / "latest"
    if pointer.is_file():
        cand = root / pointer.read_text().strip()
        if (cand / "trainer.json").is_file():
            return cand
    done = [p for p in _step_dirs(root) if (p / "trainer.json").is_file()]
    return done[-1] if done else None


def _step_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
    return sorted(dirs, key=lambda p: int(p.name[len(_PREFIX) :]))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint folder written by :func:`save_checkpoint` (no pickle involved)."""
    path = Path(path)
    try:
        meta = json.loads((path / "trainer.json").read_text())
        model = load_file(str(path / "model.safetensors"))
        optimizer = _join_optimizer(
            load_file(str(path / "optimizer.safetensors")),
            json.loads((path / "optimizer.json").read_text()),
        )
        rng_t = load_file(str(path / "rng.safetensors"))
    except (OSError, ValueError, KeyError) as e:
        raise EsslError(
            f"{path}: unreadable checkpoint ({e}); delete this folder to resume from the "
            "previous one"
        ) from None
    rng = []
    for r, state in enumerate(meta["rng"]):
        n_cuda = sum(1 for k in rng_t if k.startswith(f"rank{r}.cuda."))
        cuda = [rng_t[f"rank{r}.cuda.{i}"] for i in range(n_cuda)]
        rng.append({**state, "torch": rng_t[f"rank{r}.torch"], "cuda": cuda})
    return Checkpoint(
        step=meta["step"],
        model=model,
        optimizer=optimizer,
        rng=rng,
        loader=meta["loader"],
        config=meta["config"],
        extra=meta.get("extra", {}),
    )


def prune_checkpoints(root: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints (0 keeps all) and stale temporaries."""
    root = Path(root)
    removed: list[Path] = []
    for tmp in root.glob(f".{_PREFIX}*.tmp"):
        if tmp.name.split(".")[-2] != str(os.getpid()):
            shutil.rmtree(tmp, ignore_errors=True)
    if keep_last <= 0:
        return removed
    latest = latest_checkpoint(root)
    dirs = _step_dirs(root)
    for p in dirs[: max(len(dirs) - keep_last, 0)]:
        if p != latest:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed
