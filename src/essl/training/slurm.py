"""SLURM submission through submitit: one task per GPU, DDP env from the job environment.

``submit`` writes an sbatch script (``nodes``, ``ntasks-per-node = gpus-per-node``,
``gpus-per-node``, partition, time...) under ``RUN_DIR/slurm`` and submits it; every task
runs :class:`SlurmTraining`, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` (first node) and ``MASTER_PORT`` (from the job id) and calls
:func:`~essl.training.trainer.pretrain`. On preemption or timeout the job is requeued and
resumes from the run's latest checkpoint (submitit ``Checkpointable``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from essl.config import from_dict
from essl.errors import ConfigError, EsslError
from essl.training.config import PretrainConfig, resolved_dict
from essl.training.rundir import check_resumable

__all__ = ["SlurmConfig", "SlurmTraining", "make_executor", "submit"]


@dataclass(kw_only=True)
class SlurmConfig:
    """Resources of the SLURM job (``essl pretrain --slurm-*`` options)."""

    nodes: int = 1
    """Nodes."""
    gpus_per_node: int = 1
    """GPUs per node; also tasks (processes) per node."""
    partition: str | None = None
    """Partition (None: the cluster's default)."""
    time_min: int = 24 * 60
    """Time limit in minutes; the job is requeued when it runs out."""
    cpus_per_task: int = 8
    """CPUs per task (data loading workers + 1)."""
    mem_gb: int | None = None
    """Memory per node in GB (None: the cluster's default)."""
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    job_name: str = "essl-pretrain"

    def validate(self) -> None:
        if min(self.nodes, self.gpus_per_node, self.time_min, self.cpus_per_task) < 1:
            raise ConfigError(
                "--slurm-nodes, --slurm-gpus-per-node, --slurm-time and --slurm-cpus-per-task "
                "must be positive"
            )


def make_executor(folder: str | Path, slurm: SlurmConfig) -> Any:
    """A ``submitit.SlurmExecutor`` writing its scripts and logs to ``folder``."""
    import submitit

    slurm.validate()
    try:
        ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=100)
    except RuntimeError as e:  # no srun on this machine
        raise EsslError(
            f"--slurm: {e}; submit from a SLURM login node, or drop --slurm to train here"
        ) from None
    params: dict[str, Any] = {
        "job_name": slurm.job_name,
        "time": slurm.time_min,
        "nodes": slurm.nodes,
        "ntasks_per_node": slurm.gpus_per_node,
        "gpus_per_node": slurm.gpus_per_node,
        "cpus_per_task": slurm.cpus_per_task,
        "signal_delay_s": 120,
    }
    optional = {
        "partition": slurm.partition,
        "account": slurm.account,
        "qos": slurm.qos,
        "constraint": slurm.constraint,
        "mem": None if slurm.mem_gb is None else f"{slurm.mem_gb}GB",
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    ex.update_parameters(**params)
    return ex


class SlurmTraining:
    """The callable each SLURM task runs (picklable: plain config dict and paths)."""

    def __init__(self, config: dict[str, Any], run_dir: str, manifest: str, argv: list[str]):
        self.config, self.run_dir, self.manifest, self.argv = config, run_dir, manifest, argv

    def __call__(self) -> int:
        import submitit

        env = submitit.JobEnvironment()
        os.environ.update(
            RANK=str(env.global_rank),
            WORLD_SIZE=str(env.num_tasks),
            LOCAL_RANK=str(env.local_rank),
            MASTER_ADDR=env.hostnames[0],
            MASTER_PORT=str(20000 + int(str(env.job_id).split("_")[0]) % 20000),
        )
        from essl.training.trainer import pretrain

        cfg = from_dict(PretrainConfig, self.config)
        return pretrain(cfg, self.run_dir, self.manifest, argv=self.argv, progress=False).step

    def checkpoint(self) -> Any:
        """Requeue on preemption/timeout; the new job resumes from the latest checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(
            SlurmTraining(self.config, self.run_dir, self.manifest, self.argv)
        )


def submit(
    cfg: PretrainConfig,
    run_dir: str | Path,
    manifest: str | Path,
    slurm: SlurmConfig,
    *,
    argv: list[str],
) -> Any:
    """Check the run directory, then submit the run; returns the submitit job."""
    run_dir = Path(run_dir).resolve()
    resolved = resolved_dict(cfg)
    check_resumable(run_dir, resolved)  # refuse before submitting anything
    if not Path(manifest).is_file():
        raise ConfigError(f"--manifest {manifest}: not found")
    ex = make_executor(run_dir / "slurm", slurm)
    task = SlurmTraining(resolved, str(run_dir), str(Path(manifest).resolve()), argv)
    return ex.submit(task)
