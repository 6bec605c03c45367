"""``essl evaluate``: label-free metrics and probes, layer by layer, for any model.

essl evaluate preset:tiny corpus/manifest.jsonl runs/eval_tiny --tasks rankme,abx
essl evaluate runs/w2v_tiny corpus/manifest.jsonl runs/w2v_tiny/eval
essl evaluate hf:/models/wav2vec2-base corpus/manifest.jsonl out --layers 0,6,12
"""

from __future__ import annotations

import argparse
from typing import Any

_TASKS = (
    "abx, rankme, alpha_req, pnmi, phone_probe, phone_ctc, speaker_probe, sex_probe, accent_probe"
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="label-free metrics and probes of a model, per layer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        help="essl RUN_DIR, preset:NAME (random init) or hf:PATH "
        "(local HF Wav2Vec2/HuBERT/WavLM folder)",
    )
    p.add_argument("manifest", help="JSONL manifest (alignments/speakers enable more tasks)")
    p.add_argument("out_dir", help="writes results.json and summary.md here")
    p.add_argument(
        "--tasks",
        default=None,
        help=f"comma-separated subset of: {_TASKS} (default: all the manifest supports)",
    )
    p.add_argument("--layers", default=None, help="comma-separated layer indices (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument(
        "--max-utterances",
        type=int,
        default=None,
        help="evaluate on a seeded subset of at most N utterances",
    )
    p.add_argument("--probe-steps", type=int, default=None, help="updates per probe (default 300)")
    p.add_argument("--abx-max-size-group", type=int, default=10)
    p.add_argument("--kmeans-clusters", type=int, default=50, help="K for PNMI/purity (default 50)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_evaluate)


def _ints(text: str | None) -> tuple[int, ...] | None:
    from essl.errors import ConfigError

    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--layers '{text}': expected comma-separated integers, e.g. 0,4"
        ) from None


def _evaluate(args: argparse.Namespace) -> int:
    from essl.evaluation.abx import ABXConfig
    from essl.evaluation.ctc import CTCConfig
    from essl.evaluation.evaluate import EvalConfig, run_evaluation
    from essl.evaluation.probes import ProbeConfig

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    steps = {} if args.probe_steps is None else {"steps": args.probe_steps}
    cfg = EvalConfig(
        tasks=tasks,
        layers=_ints(args.layers),
        seed=args.seed,
        device=args.device,
        max_utterances=args.max_utterances,
        kmeans_clusters=args.kmeans_clusters,
        abx=ABXConfig(max_size_group=args.abx_max_size_group, seed=args.seed),
        probe=ProbeConfig(seed=args.seed, **steps),
        ctc=CTCConfig(seed=args.seed, **steps),
    )
    res = run_evaluation(args.model, args.manifest, args.out_dir, cfg, progress=not args.quiet)
    from essl.evaluation.summary import summary_markdown

    print(summary_markdown(res))
    print(f"wrote {args.out_dir}/results.json and summary.md")
    return 0
