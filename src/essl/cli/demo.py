"""``essl demo``: the main job (corpus → pretraining → audits → comparison)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="build the corpus, pretrain, audit and compare (resumable)")
    p.add_argument("out_dir", nargs="?", default="demo", help="output folder (default ./demo)")
    p.add_argument("--minutes", type=float, default=10.0, help="corpus minutes (default 10)")
    p.add_argument("--speakers", type=int, default=20)
    p.add_argument("--steps", type=int, default=400, help="updates per model (default 400)")
    p.add_argument("--audit-utterances", type=int, default=160)
    p.add_argument("--probe-steps", type=int, default=150)
    p.add_argument(
        "--conditions",
        default="noise,telephone",
        help="robustness conditions (reverb adds ~2 min the first time)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=100,
        help="score each run every N updates (phone probe, ABX; 0 = never)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from essl.reports.demo import DemoConfig, run_demo

    cfg = DemoConfig(
        minutes=args.minutes,
        speakers=args.speakers,
        steps=args.steps,
        audit_utterances=args.audit_utterances,
        probe_steps=args.probe_steps,
        conditions=tuple(c for c in args.conditions.split(",") if c),
        eval_every=args.eval_every,
        seed=args.seed,
    )
    run_demo(args.out_dir, cfg)
    return 0
