"""``essl fairness``: per-group, counterfactual and leakage audit of a model on a task.

essl fairness preset:tiny corpus/manifest.jsonl runs/fair --attribute sex --task phone_ctc
essl fairness runs/w2v_tiny corpus/manifest.jsonl out --attribute accent --task speaker_probe
essl fairness hf:/models/wav2vec2-base corpus/manifest.jsonl out --task verification
"""

from __future__ import annotations

import argparse
from typing import Any

_TASKS = "phone_probe, phone_ctc, speaker_probe, sex_probe, accent_probe, verification"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "fairness",
        help="group gaps, counterfactual metrics and attribute leakage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="essl RUN_DIR, preset:NAME (random init) or hf:PATH")
    p.add_argument("manifest", help="JSONL manifest with speaker and the attribute filled in")
    p.add_argument("out_dir", help="writes results.json and summary.md here")
    p.add_argument("--attribute", default="sex", choices=["sex", "accent", "age"])
    p.add_argument("--task", default="phone_ctc", help=f"one of: {_TASKS} (default phone_ctc)")
    p.add_argument(
        "--layers", default=None, help="comma-separated layers to extract (default: all)"
    )
    p.add_argument("--layer", type=int, default=None, help="verification layer (default: last)")
    p.add_argument("--bootstrap", type=int, default=1000, help="speaker resamples (0 = no CIs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--max-utterances", type=int, default=None)
    p.add_argument("--probe-steps", type=int, default=None, help="updates per probe (default 300)")
    p.add_argument(
        "--semitones",
        type=float,
        default=4.0,
        help="pitch shift of counterfactual copies when the corpus has no twins",
    )
    p.add_argument("--no-leakage", action="store_true", help="skip the sex/accent leakage probes")
    p.add_argument("--no-counterfactual", action="store_true", help="skip counterfactual metrics")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=_fairness)


def _fairness(args: argparse.Namespace) -> int:
    from essl.cli.evaluate import _ints
    from essl.evaluation.ctc import CTCConfig
    from essl.evaluation.fairness import FairnessConfig, fairness_markdown, run_fairness
    from essl.evaluation.probes import ProbeConfig

    steps = {} if args.probe_steps is None else {"steps": args.probe_steps}
    cfg = FairnessConfig(
        attribute=args.attribute,
        task=args.task,
        layers=_ints(args.layers),
        layer=args.layer,
        bootstrap=args.bootstrap,
        seed=args.seed,
        device=args.device,
        max_utterances=args.max_utterances,
        leakage=not args.no_leakage,
        counterfactual=not args.no_counterfactual,
        semitones=args.semitones,
        probe=ProbeConfig(seed=args.seed, **steps),
        ctc=CTCConfig(seed=args.seed, **steps),
    )
    res = run_fairness(args.model, args.manifest, args.out_dir, cfg, progress=not args.quiet)
    print(fairness_markdown(res))
    print(f"wrote {args.out_dir}/results.json and summary.md")
    return 0
