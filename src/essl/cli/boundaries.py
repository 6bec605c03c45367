"""``essl boundaries``: detect, train and evaluate unsupervised phone-boundary detectors.

    essl boundaries evaluate corpus/manifest.jsonl --detector spectral --json
    essl boundaries train corpus/manifest.jsonl runs/segmenter --max-seconds 120
    essl boundaries evaluate corpus/manifest.jsonl --detector contrastive:runs/segmenter
    essl boundaries evaluate corpus/manifest.jsonl --detector model:runs/hubert --layer 2
    essl boundaries detect corpus/manifest.jsonl --detector spectral   # -> boundaries.jsonl

The peak prominence is tuned on the dev split (grid search, best lenient R-value) unless
``--prominence`` is given or the detector stores a tuned value (``contrastive:DIR``).

``evaluate --json`` carries ``precision``, ``recall``, ``f1``, ``over_segmentation`` and
``r_value`` at the top level (lenient counting, ``"counting": "lenient"``) and both countings
under ``"lenient"`` and ``"one_to_one"``, with the match ``counts``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DETECTOR_HELP = (
    "spectral | contrastive (train briefly now) | contrastive:DIR | model:RUN_DIR | "
    "preset:tiny | hf:PATH | oracle:phones | oracle:words (detect only)"
)


def register(sub: Any) -> None:
    p = sub.add_parser("boundaries", help="unsupervised phone-boundary detection and metrics")
    bs = p.add_subparsers(dest="boundaries_command", metavar="ACTION", required=True)

    e = bs.add_parser("evaluate", help="score a detector against the manifest's phone alignments")
    _common(e)
    e.add_argument(
        "--split", default="test", help="evaluated split: train/dev/test/all (default test)"
    )
    e.add_argument("--tolerance", type=float, default=0.02, help="seconds (default 0.02)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(handler=_evaluate)

    t = bs.add_parser("train", help="train the Kreuk et al. 2020 contrastive segmenter")
    t.add_argument("manifest")
    t.add_argument("out_dir", help="folder for model.safetensors and detector.json")
    t.add_argument("--steps", type=int, default=300, help="optimizer updates (default 300)")
    t.add_argument("--max-seconds", type=float, default=0.0, help="wall-time cap (0 = none)")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--crop-seconds", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(handler=_train)

    d = bs.add_parser("detect", help="precompute boundaries of every utterance for training")
    _common(d)
    d.add_argument(
        "--out",
        default=None,
        help="boundaries file (default: boundaries.jsonl next to the manifest)",
    )
    d.set_defaults(handler=_detect)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest")
    p.add_argument("--detector", default="spectral", help=DETECTOR_HELP)
    p.add_argument("--layer", type=int, default=None, help="model layer (default: middle)")
    p.add_argument("--prominence", type=float, default=None, help="skip dev tuning")
    p.add_argument(
        "--train-seconds",
        type=float,
        default=120.0,
        help="training time of --detector contrastive (default 120)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def _prepared(args: argparse.Namespace) -> tuple[Any, list[Any], str]:
    """(detector with its prominence set, utterances, how the prominence was chosen)."""
    from essl.data.manifest import read_manifest
    from essl.masking.boundaries.build import make_detector, tune_on_dev

    utts = read_manifest(args.manifest)
    det = make_detector(
        args.detector,
        args.manifest,
        utts,
        seed=args.seed,
        layer=args.layer,
        train_seconds=args.train_seconds,
        progress=not args.no_progress,
    )
    if args.prominence is not None:
        det.prominence = args.prominence
        return det, utts, "given"
    if args.detector.startswith("contrastive:"):
        return det, utts, "stored"
    tune_on_dev(det, args.manifest, utts)
    return det, utts, "tuned on dev"


def _evaluate(args: argparse.Namespace) -> int:
    from essl.masking.boundaries.build import eval_split, evaluate_detector

    det, utts, how = _prepared(args)
    result = evaluate_detector(det, args.manifest, eval_split(utts, args.split), args.tolerance)
    result.update(
        split=args.split,
        prominence=det.prominence,
        prominence_source=how,
        detector_spec=args.detector,
    )
    # headline scores at the top level: the lenient counting (Kreuk et al.'s, the one the
    # prominence is tuned on); both countings stay under "lenient" and "one_to_one"
    result.update(result["lenient"], counting="lenient")
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(
        f"{args.detector} on {args.split} ({result['num_utterances']} utterances, "
        f"tolerance {args.tolerance * 1000:.0f} ms, prominence {det.prominence:.2f} {how})"
    )
    for kind in ("lenient", "one_to_one"):
        r = result[kind]
        print(
            f"  {kind:<10} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}  "
            f"OS {r['over_segmentation']:+.3f}  R-value {r['r_value']:.3f}"
        )
    return 0


def _train(args: argparse.Namespace) -> int:
    from essl.data.manifest import read_manifest
    from essl.masking.boundaries.build import dev_split, evaluate_detector, train_split, tune_on_dev
    from essl.masking.boundaries.contrastive import ContrastiveConfig, train_contrastive
    from essl.masking.boundaries.detect import load_waves

    utts = read_manifest(args.manifest)
    cfg = ContrastiveConfig(
        steps=args.steps,
        max_seconds=args.max_seconds,
        lr=args.lr,
        batch_size=args.batch_size,
        crop_seconds=args.crop_seconds,
        seed=args.seed,
    )
    det, losses = train_contrastive(
        load_waves(args.manifest, train_split(utts)), cfg, progress=not args.no_progress
    )
    tune_on_dev(det, args.manifest, utts)
    dev = evaluate_detector(det, args.manifest, dev_split(utts))
    det.save(
        args.out_dir,
        {
            "steps_done": len(losses),
            "final_loss": losses[-1],
            "dev": dev["lenient"],
            "manifest": str(args.manifest),
        },
    )
    print(
        f"wrote {args.out_dir} ({len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
        f"dev R-value {dev['lenient']['r_value']:.3f} at prominence {det.prominence:.2f})"
    )
    return 0


def _detect(args: argparse.Namespace) -> int:
    from essl.masking.boundaries.store import (
        default_boundaries_path,
        oracle_boundaries,
        write_boundaries,
    )

    out = args.out or default_boundaries_path(args.manifest)
    if args.detector.startswith("oracle:"):
        from essl.data.manifest import read_manifest
        from essl.errors import EsslError

        unit = args.detector.split(":", 1)[1]
        if unit not in ("phones", "words"):
            raise EsslError(f"detector '{args.detector}': use oracle:phones or oracle:words")
        times = oracle_boundaries(read_manifest(args.manifest), unit)
        meta: dict[str, Any] = {"detector": args.detector, "params": {}, "frame_rate": None}
    else:
        from essl.masking.boundaries.detect import detect_corpus

        det, utts, how = _prepared(args)
        times = detect_corpus(det, args.manifest, utts, progress=not args.no_progress)
        meta = {
            "detector": args.detector,
            "params": {**det.params(), "prominence_source": how},
            "frame_rate": det.frame_rate,
        }
    meta["manifest"] = str(args.manifest)
    path = write_boundaries(out, times, meta)
    print(f"wrote {path} ({len(times)} utterances)")
    return 0
