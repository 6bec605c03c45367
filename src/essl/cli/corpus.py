"""``essl corpus``: synthesize, import and validate corpora."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("corpus", help="build, import and validate corpora")
    cs = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)

    s = cs.add_parser("synth", help="synthesize the embedded speech corpus with espeak-ng")
    s.add_argument("out_dir", help="output folder (WAVs and manifest.jsonl)")
    s.add_argument("--minutes", type=float, default=20.0, help="total audio (default 20)")
    s.add_argument("--speakers", type=int, default=16, help="number of speakers (default 16)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--female-ratio",
        type=float,
        default=0.5,
        help="fraction of female speakers (default 0.5: balanced)",
    )
    s.add_argument(
        "--accents",
        default=None,
        help="comma-separated espeak-ng voices, e.g. en-us,en,en-gb-scotland "
        "(default: all supported English accents)",
    )
    s.add_argument(
        "--counterfactual-pairs",
        action="store_true",
        help="also speak each sentence by a matched speaker of the other sex (twin)",
    )
    s.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    s.set_defaults(handler=_synth)

    v = cs.add_parser("validate", help="check every entry of a manifest and its audio")
    v.add_argument("manifest")
    v.add_argument(
        "--quarantine",
        metavar="OUT",
        default=None,
        help="write OUT/manifest.jsonl (good entries) and OUT/rejects.jsonl",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(handler=_validate)

    i = cs.add_parser("import", help="convert an existing corpus layout to an essl manifest")
    i.add_argument("kind", choices=["librispeech", "commonvoice", "kaldi"])
    i.add_argument("src", help="corpus root (LibriSpeech split folder, CV folder, Kaldi data dir)")
    i.add_argument("out_dir")
    i.set_defaults(handler=_import)


def _synth(args: argparse.Namespace) -> int:
    from essl.data.synth import SynthConfig, build_corpus

    cfg = SynthConfig(
        minutes=args.minutes,
        speakers=args.speakers,
        seed=args.seed,
        female_ratio=args.female_ratio,
        counterfactual_pairs=args.counterfactual_pairs,
    )
    if args.accents:
        cfg = dataclasses.replace(cfg, accents=tuple(a.strip() for a in args.accents.split(",")))
    path = build_corpus(cfg, args.out_dir, jobs=args.jobs)
    print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from essl.data.validate import validate_manifest

    report = validate_manifest(args.manifest, quarantine=args.quarantine)
    print(report.to_json() if args.json else report.summary())
    return 0 if report.ok else 1


def _import(args: argparse.Namespace) -> int:
    from essl.data.importers import import_corpus

    path = import_corpus(args.kind, args.src, args.out_dir)
    print(f"wrote {path}")
    return 0
