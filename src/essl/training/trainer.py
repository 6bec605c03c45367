"""``pretrain``: the training loop around an :class:`~essl.objectives.SSLTask`.

The trainer knows nothing about the objective: it builds the task from the config, feeds it
batches, weighs and reduces its loss (:mod:`essl.training.step`), steps AdamW on the
schedule (:mod:`essl.training.schedule`), logs (:mod:`essl.training.logger`) and writes
checkpoints (:mod:`essl.training.checkpoint`). Re-running on the same RUN_DIR resumes from
the latest checkpoint and reproduces the uninterrupted run bitwise on CPU (same threads).
"""

from __future__ import annotations

import functools
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from essl._io import write_json
from essl.data.batch import Batch
from essl.data.loading import ResumableLoader
from essl.errors import EsslError
from essl.metering import Meter, StepData
from essl.objectives.base import SSLTask
from essl.training.checkpoint import (
    Checkpoint,
    capture_rng,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from essl.training.config import PretrainConfig
from essl.training.distributed import DistInfo, all_gather_json, init_distributed, shutdown
from essl.training.logger import RunLogger
from essl.training.periodic_eval import run_periodic_eval
from essl.training.precision import bf16_note
from essl.training.preflight import preflight
from essl.training.rundir import environment_info, truncate_metrics, write_provenance
from essl.training.schedule import lr_at
from essl.training.step import StepResult, train_step

__all__ = ["TrainResult", "TrainingDiverged", "pretrain", "select_device"]


class TrainingDiverged(EsslError):
    """Too many consecutive non-finite updates."""


@dataclass
class TrainResult:
    """What a call to :func:`pretrain` did."""

    run_dir: Path
    start_step: int
    """Updates already done when this call started (0, or the resumed checkpoint's step)."""
    step: int
    """Updates done at the end."""
    losses: list[float] = field(default_factory=list)
    """Loss of each update made by this call."""


def select_device(kind: str, local_rank: int = 0) -> torch.device:
    """ "cuda" (device ``local_rank``) when requested or "auto" and available, else the CPU."""
    if kind == "cuda" and not torch.cuda.is_available():
        raise EsslError("train.device=cuda but no CUDA device is available; use train.device=auto")
    if kind in ("cuda", "auto") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise EsslError(
                f"process with LOCAL_RANK={local_rank} but this machine has {count} CUDA "
                f"device(s); launch at most {count} process(es) per node (torchrun "
                "--nproc-per-node) or set train.device=cpu for CPU processes"
            )
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _dist_env() -> tuple[int, int, int]:
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_task_for(cfg: PretrainConfig) -> SSLTask:
    """The task of ``cfg`` with parameters initialised from ``train.seed``."""
    from essl.objectives import build_task
    from essl.objectives.consistency import regularise

    _seed_all(cfg.train.seed)
    task = build_task(cfg.model, cfg.masking, cfg.objective)
    reg = cfg.regularisation
    return regularise(task, reg.consistency, reg.augment)


def pretrain(
    cfg: PretrainConfig,
    run_dir: str | Path,
    manifest: str | Path,
    *,
    argv: Sequence[str] = (),
    progress: bool = True,
) -> TrainResult:
    """Train ``cfg`` on ``manifest`` into ``run_dir`` (resuming it when it holds this run)."""
    run_dir = Path(run_dir)
    rank, world, local = _dist_env()
    device = select_device(cfg.train.device, local)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    task = build_task_for(cfg)
    prep = preflight(
        cfg,
        run_dir,
        Path(manifest),
        rank=rank,
        world_size=world,
        required_fields=task.required_fields,
    )  # raises before anything is written
    dist = init_distributed(device)
    note = bf16_note(cfg.train.precision, device)
    if note and dist.is_main:
        print(note, file=sys.stderr, flush=True)
    try:
        return _run(
            cfg,
            run_dir,
            prep.resolved,
            prep.manifest,
            prep.loader,
            task,
            dist,
            device,
            list(argv),
            progress,
        )
    finally:
        shutdown(dist)


def _run(
    cfg: PretrainConfig,
    run_dir: Path,
    resolved: dict[str, Any],
    manifest: Path,
    loader: ResumableLoader,
    task: SSLTask,
    dist: DistInfo,
    device: torch.device,
    argv: list[str],
    progress: bool,
) -> TrainResult:
    task.to(device)
    optimizer = torch.optim.AdamW(
        task.parameters(),
        lr=cfg.optim.lr,
        betas=cfg.optim.betas,
        eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
    )
    ckpt_root = run_dir / "checkpoints"
    start, extra = _restore(ckpt_root, task, optimizer, loader, dist, cfg.train.seed)
    task.on_update(start)
    meter = Meter(cfg.metering, task, optimizer, device)
    if "meter" in extra:
        meter.load_state_dict(extra["meter"])
    meter.start()
    model = _wrap(task, cfg, dist, device)
    logger = None
    if dist.is_main:
        write_provenance(
            run_dir, resolved, argv, environment_info(str(device), dist.world_size), start
        )
        write_json(run_dir / "run.json", {"manifest": str(manifest)})
        truncate_metrics(run_dir / "metrics.jsonl", start)
        # evaluations after the checkpoint are redone; from scratch, the step-0 one too
        truncate_metrics(run_dir / "eval.jsonl", start if start else -1)
        write_json(run_dir / "metering.json", meter.metadata())
        logger = RunLogger(
            run_dir,
            start_step=start,
            max_steps=cfg.train.max_steps,
            log_every=cfg.train.log_every,
            progress=progress,
        )
    result = TrainResult(run_dir=run_dir, start_step=start, step=start)
    try:
        _loop(
            cfg,
            model,
            task,
            optimizer,
            loader,
            dist,
            device,
            logger,
            result,
            int(extra.get("bad_steps", 0)),
            resolved,
            meter,
            manifest,
        )
    finally:
        meter.close()
        if logger is not None:
            logger.close()
    return result


def _wrap(task: SSLTask, cfg: PretrainConfig, dist: DistInfo, device: torch.device) -> Any:
    if cfg.train.compile:
        task.compile()
    if not dist.enabled:
        return task
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        task,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=cfg.model.layer_drop > 0,
    )


def _restore(
    root: Path,
    task: SSLTask,
    optimizer: torch.optim.Optimizer,
    loader: ResumableLoader,
    dist: DistInfo,
    seed: int,
) -> tuple[int, dict[str, Any]]:
    path = latest_checkpoint(root)
    if path is None:
        _seed_all(seed * 1000 + dist.rank)  # ranks draw different masks and dropout
        return 0, {}
    ckpt = load_checkpoint(path)
    task.load_state_dict(ckpt.model)
    optimizer.load_state_dict(ckpt.optimizer)
    if len(ckpt.loader) != dist.world_size:
        raise EsslError(
            f"{path}: saved by {len(ckpt.loader)} process(es), resumed with "
            f"{dist.world_size}; resume with the same number of processes (exact resume "
            "needs each rank's data position and RNG state)"
        )
    loader.load_state_dict(ckpt.loader[dist.rank])
    restore_rng(ckpt.rng[dist.rank])
    return ckpt.step, ckpt.extra


def _batches(loader: ResumableLoader) -> Iterator[Batch]:
    """Batches across epochs. Starting a DataLoader iterator draws from torch's CPU RNG (its
    base seed), so each draw runs in a forked RNG: the training RNG stream (masks, dropout)
    then does not depend on where epochs start, and a resumed run replays it exactly."""
    while True:
        it = iter(loader)
        while True:
            with torch.random.fork_rng(devices=[]):
                batch = next(it, None)
            if batch is None:
                break
            yield batch


def _loop(
    cfg: PretrainConfig,
    model: Any,
    task: SSLTask,
    optimizer: torch.optim.Optimizer,
    loader: ResumableLoader,
    dist: DistInfo,
    device: torch.device,
    logger: RunLogger | None,
    result: TrainResult,
    bad_steps: int,
    resolved: dict[str, Any],
    meter: Meter,
    manifest: Path,
) -> None:
    tc = cfg.train
    autocast = torch.bfloat16 if tc.precision == "bf16" else None
    batches = _batches(loader)
    model.train()
    step = result.step
    if step == 0 and dist.is_main and cfg.evaluation.every > 0:  # the curves' origin
        with meter.excluded():
            run_periodic_eval(cfg.evaluation, task.encoder, manifest, 0, device, result.run_dir)
    while step < tc.max_steps:
        t0 = time.perf_counter()
        meter.begin_step()
        micro = [next(batches) for _ in range(cfg.optim.accumulation)]
        lr = lr_at(step, cfg.optim)
        shapes = tuple(tuple(b.wavs.shape) for b in micro)  # FLOPs are counted once per shape
        step_fn = functools.partial(
            train_step,
            model,
            micro,
            optimizer,
            lr=lr,
            grad_clip=cfg.optim.grad_clip,
            dist=dist,
            device=device,
            autocast_dtype=autocast,
        )
        res = meter.run(shapes, step_fn)
        step += 1
        if res.skipped:
            bad_steps += 1
        else:
            bad_steps = 0
            task.on_update(step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - t0
        result.step = step
        result.losses.append(res.loss)
        markers = meter.end_step(
            StepData(
                audio_seconds=res.audio_seconds,
                samples=res.samples,
                frames=res.num_frames,
                utterances=res.utterances,
                masked_frames=res.masked_frames,
            ),
            flops_scale=dist.world_size,
        )
        if logger is not None:
            logger.log({**_record(step, res, lr, elapsed, loader), **markers})
        if bad_steps >= tc.nan_tolerance:
            raise TrainingDiverged(
                f"{bad_steps} consecutive updates (up to step {step}) had a non-finite loss or "
                f"gradient and were skipped; lower optim.lr, raise optim.warmup_steps, set "
                f"optim.grad_clip, or use train.precision=fp32; the run resumes from the last "
                f"checkpoint in {result.run_dir / 'checkpoints'}"
            )
        if dist.is_main and cfg.evaluation.due(step, tc.max_steps):
            with meter.excluded():  # scoring is not training cost
                run_periodic_eval(
                    cfg.evaluation, task.encoder, manifest, step, device, result.run_dir
                )
        if step % tc.checkpoint_every == 0 or step == tc.max_steps:
            _save(
                result.run_dir / "checkpoints",
                step,
                task,
                optimizer,
                loader,
                dist,
                resolved,
                {"bad_steps": bad_steps, "meter": meter.state_dict()},
                tc.keep_last,
            )


def _record(
    step: int, res: StepResult, lr: float, elapsed: float, loader: ResumableLoader
) -> dict[str, Any]:
    rec: dict[str, Any] = {"step": step, "loss": res.loss}
    rec.update(res.logs)
    rec.update(
        lr=lr,
        grad_norm=res.grad_norm,
        audio_seconds=res.audio_seconds,
        step_time=elapsed,
        throughput=res.audio_seconds / elapsed if elapsed > 0 else 0.0,
        num_frames=res.num_frames,
        masked_frames=res.masked_frames,
        epoch=loader.epoch,
    )
    if res.skipped:
        rec["skipped"] = True
    return rec


def _save(
    root: Path,
    step: int,
    task: SSLTask,
    optimizer: torch.optim.Optimizer,
    loader: ResumableLoader,
    dist: DistInfo,
    resolved: dict[str, Any],
    extra: dict[str, Any],
    keep_last: int,
) -> None:
    rng = capture_rng()
    rng["torch"] = rng["torch"].tolist()
    rng["cuda"] = [t.tolist() for t in rng.get("cuda", [])]
    states = all_gather_json({"rng": rng, "loader": loader.state_dict()}, dist)
    if not dist.is_main:
        return
    rngs = []
    for s in states:
        r = dict(s["rng"])
        r["torch"] = torch.tensor(r["torch"], dtype=torch.uint8)
        r["cuda"] = [torch.tensor(t, dtype=torch.uint8) for t in r["cuda"]]
        rngs.append(r)
    ckpt = Checkpoint(
        step=step,
        model=task.state_dict(),
        optimizer=optimizer.state_dict(),
        rng=rngs,
        loader=[s["loader"] for s in states],
        config=resolved,
        extra=extra,
    )
    save_checkpoint(root, ckpt)
    prune_checkpoints(root, keep_last)
