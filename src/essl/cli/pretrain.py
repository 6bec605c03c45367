"""``essl pretrain``: train a wav2vec 2.0 / HuBERT style model into a run directory.

::

    essl pretrain wav2vec2-tiny runs/w2v-tiny --manifest corpus/manifest.jsonl --max-steps 200
    essl pretrain hubert-tiny-iter1 runs/hb1 --manifest corpus/manifest.jsonl \\
        --set data.labels=targets/mfcc_k100.safetensors
    essl pretrain runs/w2v-tiny/config.json runs/w2v-tiny --manifest ...   # resume
    torchrun --nproc-per-node 2 -m essl pretrain wav2vec2-tiny runs/ddp --manifest ...
    essl pretrain wav2vec2-base runs/base --manifest ... --slurm --slurm-nodes 8 \\
        --slurm-gpus-per-node 8 --slurm-partition gpu --slurm-time 4320

Re-running on an existing RUN_DIR resumes from its latest checkpoint.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining (wav2vec 2.0, HuBERT) into a run directory",
        description="Train PRESET_OR_CONFIG on MANIFEST into RUN_DIR; re-running on an "
        "existing RUN_DIR resumes it from the latest checkpoint.",
    )
    p.add_argument(
        "config",
        metavar="PRESET_OR_CONFIG",
        help="a preset name (e.g. wav2vec2-tiny, hubert-base) or a YAML/JSON config",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="output folder (created or resumed)")
    p.add_argument("--manifest", required=True, help="JSONL manifest of the training audio")
    p.add_argument("--max-steps", type=int, default=None, help="sets train.max_steps")
    p.add_argument("--seed", type=int, default=None, help="sets train.seed")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=1e-3 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s = p.add_argument_group("SLURM (submit instead of running here; needs submitit)")
    s.add_argument("--slurm", action="store_true", help="submit the run as a SLURM job")
    s.add_argument("--slurm-nodes", type=int, default=1, help="nodes (default 1)")
    s.add_argument(
        "--slurm-gpus-per-node",
        type=int,
        default=1,
        help="GPUs per node = tasks per node (default 1)",
    )
    s.add_argument("--slurm-partition", default=None, help="partition")
    s.add_argument("--slurm-time", type=int, default=60 * 24, help="time limit in minutes")
    s.add_argument("--slurm-cpus-per-task", type=int, default=8, help="CPUs per task")
    s.add_argument("--slurm-mem-gb", type=int, default=None, help="memory per node in GB")
    s.add_argument("--slurm-account", default=None, help="account to charge")
    s.add_argument("--slurm-qos", default=None, help="quality of service")
    s.add_argument("--slurm-constraint", default=None, help="node constraint, e.g. a100")
    p.set_defaults(handler=_pretrain)


def resolve(args: argparse.Namespace) -> Any:
    """The PretrainConfig of the command line (preset/file, then --max-steps/--seed/--set)."""
    from essl.training.presets import load_config

    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    return load_config(args.config, overrides)


def command_line(args: argparse.Namespace) -> list[str]:
    """The command as parsed (recorded in RUN_DIR/command.txt)."""
    out = ["essl", "pretrain", args.config, args.run_dir, "--manifest", args.manifest]
    if args.max_steps is not None:
        out += ["--max-steps", str(args.max_steps)]
    if args.seed is not None:
        out += ["--seed", str(args.seed)]
    for kv in args.overrides:
        out += ["--set", kv]
    return out


def _pretrain(args: argparse.Namespace) -> int:
    cfg = resolve(args)
    argv = command_line(args)
    if args.slurm:
        from essl.training.slurm import SlurmConfig, submit

        slurm = SlurmConfig(
            nodes=args.slurm_nodes,
            gpus_per_node=args.slurm_gpus_per_node,
            partition=args.slurm_partition,
            time_min=args.slurm_time,
            cpus_per_task=args.slurm_cpus_per_task,
            mem_gb=args.slurm_mem_gb,
            account=args.slurm_account,
            qos=args.slurm_qos,
            constraint=args.slurm_constraint,
        )
        job = submit(cfg, args.run_dir, args.manifest, slurm, argv=argv)
        print(f"submitted SLURM job {job.job_id}; logs in {args.run_dir}/slurm")
        return 0
    from essl.training.trainer import pretrain

    result = pretrain(cfg, args.run_dir, args.manifest, argv=argv, progress=not args.no_progress)
    if os.environ.get("RANK", "0") != "0":
        return 0
    if result.losses:
        print(
            f"{args.run_dir}: steps {result.start_step} -> {result.step}, "
            f"loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}"
        )
    else:
        print(f"{args.run_dir}: already at step {result.step} (train.max_steps); nothing to do")
    return 0
