"""``essl audit`` (a model card) and ``essl compare`` (several runs side by side)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="model card: cost, knowledge, robustness, fairness (HTML)")
    p.add_argument("model", help="essl RUN_DIR, preset:NAME or hf:PATH")
    p.add_argument("out_dir")
    p.add_argument(
        "--corpus",
        required=True,
        metavar="MANIFEST",
        help="manifest to audit on (with phones, speakers and demographics)",
    )
    p.add_argument(
        "--conditions",
        default="noise,reverb,telephone",
        help="perturbations for the robustness part ('' to skip)",
    )
    p.add_argument("--attribute", default="sex", choices=["sex", "accent", "age"])
    p.add_argument("--max-utterances", type=int, default=240)
    p.add_argument("--probe-steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_audit)

    c = sub.add_parser(
        "compare",
        help="runs side by side: efficiency curves, cost-to-target, accuracy-fairness Pareto plot",
    )
    c.add_argument("paths", nargs="+", metavar="RUN_DIR", help="run directories, then OUT_DIR")
    c.add_argument("--metric", default="loss", help="metric of the efficiency curves")
    c.add_argument("--target", type=float, default=None, help="metric value for cost-to-target")
    c.add_argument(
        "--audits",
        nargs="*",
        default=None,
        help="audit folders of the runs (same order) for the accuracy-fairness plot",
    )
    c.set_defaults(handler=_compare)


def _audit(args: argparse.Namespace) -> int:
    from essl.reports.audit import AuditConfig, run_audit

    conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    cfg = AuditConfig(
        conditions=conditions,
        fairness_attribute=args.attribute,
        max_utterances=args.max_utterances,
        probe_steps=args.probe_steps,
        seed=args.seed,
        device=args.device,
    )
    run_audit(args.model, args.out_dir, args.corpus, cfg)
    print(f"wrote {args.out_dir}/results.json and {args.out_dir}/report.html")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from essl.errors import EsslError
    from essl.reports.compare import compare_runs

    if len(args.paths) < 2:
        raise EsslError("give at least one RUN_DIR and an OUT_DIR")
    *runs, out = args.paths
    compare_runs(runs, out, metric=args.metric, target=args.target, audits=args.audits)
    print(f"wrote {out}/compare.json and {out}/report.html")
    return 0
