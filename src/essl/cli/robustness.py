"""``essl robustness``: evaluation tasks under perturbations, per condition and severity.

essl robustness preset:tiny corpus/manifest.jsonl runs/rob --conditions noise,reverb
essl robustness runs/w2v_tiny corpus/manifest.jsonl runs/w2v_tiny/rob \\
    --conditions noise,babble --severities noise=20,10,0 --tasks phone_probe,abx
essl robustness hf:/models/wav2vec2-base m.jsonl out --conditions speed --train-perturbed

Probes are trained on clean features and scored on perturbed test audio; label-free metrics
are recomputed on perturbed audio (protocol: :mod:`essl.evaluation.robustness`). Writes
OUT_DIR/results.json (schema essl.robustness/1), summary.md and plots/; re-running resumes
from OUT_DIR/cache.
"""

from __future__ import annotations

import argparse
from typing import Any

from essl.cli.evaluate import _TASKS, _ints

_CONDITIONS = (
    "noise, babble, reverb, telephone, bandlimit, mulaw, mp3, opus, clipping, gain, speed, "
    "packet_loss, identity"
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "robustness",
        help="degradation curves of probes and metrics under acoustic perturbations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="essl RUN_DIR, preset:NAME (random init) or hf:PATH")
    p.add_argument("manifest", help="JSONL manifest (alignments/speakers enable more tasks)")
    p.add_argument("out_dir", help="writes results.json, summary.md and plots/ here")
    p.add_argument("--conditions", required=True, help=f"comma-separated subset of: {_CONDITIONS}")
    p.add_argument(
        "--severities",
        action="append",
        default=[],
        metavar="COND=S1,S2",
        help="severities of one condition, mild to severe (repeatable; default: the "
        "condition's defaults, e.g. noise=20,10,5,0)",
    )
    p.add_argument(
        "--tasks",
        default="rankme,phone_probe",
        help=f"comma-separated subset of: {_TASKS} (default rankme,phone_probe)",
    )
    p.add_argument("--layers", default=None, help="comma-separated layer indices (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--max-utterances", type=int, default=None, help="seeded subset of N")
    p.add_argument("--probe-steps", type=int, default=None, help="updates per probe (default 300)")
    p.add_argument(
        "--train-perturbed",
        action="store_true",
        help="train probes on a seeded half-clean, half-perturbed mix of the training audio",
    )
    p.add_argument(
        "--all-layers",
        action="store_true",
        help="under perturbation, evaluate every layer (default: the layer chosen on clean)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_robustness)


def _severities(items: list[str]) -> dict[str, tuple[float, ...]]:
    from essl.errors import ConfigError

    out = {}
    for item in items:
        name, sep, values = item.partition("=")
        try:
            sev = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            sev = ()
        if not sep or not sev:
            raise ConfigError(f"--severities '{item}': expected COND=S1,S2,... e.g. noise=20,10,0")
        out[name.strip()] = sev
    return out


def _robustness(args: argparse.Namespace) -> int:
    from essl.evaluation.abx import ABXConfig
    from essl.evaluation.ctc import CTCConfig
    from essl.evaluation.evaluate import EvalConfig
    from essl.evaluation.probes import ProbeConfig
    from essl.evaluation.robustness import RobustnessConfig, run_robustness, summary_markdown

    steps = {} if args.probe_steps is None else {"steps": args.probe_steps}
    cfg = RobustnessConfig(
        conditions=tuple(c.strip() for c in args.conditions.split(",") if c.strip()),
        severities=_severities(args.severities),
        eval=EvalConfig(
            tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
            layers=_ints(args.layers),
            seed=args.seed,
            device=args.device,
            max_utterances=args.max_utterances,
            abx=ABXConfig(seed=args.seed),
            probe=ProbeConfig(seed=args.seed, **steps),
            ctc=CTCConfig(seed=args.seed, **steps),
        ),
        train_perturbed=args.train_perturbed,
        probe_layers="all" if args.all_layers else "best",
    )
    res = run_robustness(args.model, args.manifest, args.out_dir, cfg, progress=not args.quiet)
    print(summary_markdown(res))
    print(f"wrote {args.out_dir}/results.json, summary.md and plots/")
    return 0
