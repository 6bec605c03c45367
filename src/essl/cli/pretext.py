"""``essl pretext``: pick and weight signal pretext targets for a downstream task.

    essl pretext select corpus/manifest.jsonl --downstream speaker --out weights.json
    essl pretext select corpus/manifest.jsonl --downstream phone --method optimise

Candidates are scored by conditional independence with the data given the downstream label
(Zaiem et al. 2021; lower = better); the weights file feeds ``objective.multitask.weights_file``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_CANDIDATES = (
    "loudness,f0,voicing,rms,zcr,alpha_ratio,hammarberg,spectral_slope,spectral_flux,log_hnr,mfcc"
)


def register(sub: Any) -> None:
    p = sub.add_parser("pretext", help="signal pretext targets: selection and weights")
    ps = p.add_subparsers(dest="pretext_command", metavar="ACTION", required=True)
    s = ps.add_parser("select", help="rank candidates by conditional independence (HSIC)")
    s.add_argument("manifest")
    s.add_argument("--downstream", choices=["speaker", "phone", "word"], default="speaker")
    s.add_argument("--candidates", default=DEFAULT_CANDIDATES, help="comma-separated names")
    s.add_argument(
        "--method",
        choices=["scores", "softmax", "optimise"],
        default="scores",
        help="weights: sparsemax of scores (default), softmax, or optimised (2022)",
    )
    s.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="sparsemax/softmax temperature on z-scored HSIC (default 1)",
    )
    s.add_argument("--max-per-class", type=int, default=40)
    s.add_argument("--max-utterances", type=int, default=400)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="write the weights JSON here")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(handler=_select)


def _select(args: argparse.Namespace) -> int:
    from essl._io import write_json
    from essl.errors import EsslError
    from essl.targets.pretext import PRETEXT_NAMES
    from essl.targets.selection import corpus_items, select_pretext_tasks

    cands = [c.strip() for c in args.candidates.split(",") if c.strip()]
    bad = [c for c in cands if c not in PRETEXT_NAMES or c == "log_mel"]
    if bad or not cands:
        raise EsslError(
            f"--candidates: '{bad[0] if bad else ''}' is not a candidate; valid: "
            f"{', '.join(n for n in PRETEXT_NAMES if n != 'log_mel')}"
        )
    data, pseudo, labels = corpus_items(
        args.manifest, args.downstream, cands, args.max_per_class, args.max_utterances, args.seed
    )
    res = select_pretext_tasks(data, pseudo, labels, args.downstream, args.method, args.temperature)
    out = {**res.to_dict(), "method": args.method, "manifest": str(args.manifest)}
    if args.out:
        write_json(args.out, out)
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    print(
        f"downstream {args.downstream}: {res.num_items} items in {res.num_classes} classes "
        "(lower conditional dependence = better)"
    )
    for rank, name in enumerate(res.ranking, 1):
        print(
            f"  {rank:>2}. {name:<15} HSIC {res.scores[name]:.5f}  weight {res.weights[name]:.3f}"
        )
    if args.out:
        print(f"wrote {args.out}")
    return 0
