"""``essl targets``: HuBERT k-means units (iteration 1 on MFCC, iteration 2 on a layer)."""

from __future__ import annotations

import argparse
import json
from typing import Any

_FEATURES_HELP = (
    "mfcc (iteration 1) or layer:N (iteration 2: output of Transformer layer N of "
    "--model, e.g. layer:6 for base, layer:3 for tiny)"
)


def register(sub: Any) -> None:
    p = sub.add_parser("targets", help="k-means units for HuBERT-style pretraining")
    ts = p.add_subparsers(dest="targets_command", metavar="ACTION", required=True)

    k = ts.add_parser(
        "kmeans",
        help="fit k-means on features, label every utterance, score",
        description="Writes OUT_DIR/labels.safetensors, centroids.safetensors "
        "and quality.json (purity/PNMI against phone alignments).",
    )
    k.add_argument("manifest", help="manifest.jsonl of the corpus to label")
    k.add_argument("out_dir", help="output folder")
    k.add_argument("--features", default="mfcc", help=_FEATURES_HELP)
    k.add_argument(
        "--model",
        metavar="RUN_DIR",
        default=None,
        help="encoder for layer:N: a run directory of `essl pretrain`, hf:PATH (local HF "
        "checkpoint) or preset:NAME (random init)",
    )
    k.add_argument("--clusters", type=int, default=100, help="K (default 100; HuBERT it. 2: 500)")
    k.add_argument(
        "--sample-fraction",
        type=float,
        default=1.0,
        help="fraction of utterances sampled to fit k-means (default 1.0)",
    )
    k.add_argument(
        "--max-frames",
        type=int,
        default=250_000,
        help="at most this many sampled frames fit k-means (default 250000)",
    )
    k.add_argument("--iterations", type=int, default=30, help="Lloyd iterations (default 30)")
    k.add_argument(
        "--split",
        default=None,
        help="fit on this manifest split only, e.g. train (default: all); "
        "every utterance is labelled",
    )
    k.add_argument("--seed", type=int, default=0)
    k.add_argument(
        "--device", default="cpu", help="where features and k-means run (cpu, cuda; default cpu)"
    )
    k.add_argument(
        "--batch-seconds",
        type=float,
        default=60.0,
        help="padded audio seconds per feature batch (default 60)",
    )
    k.add_argument("--json", action="store_true", help="print the quality as JSON")
    k.set_defaults(handler=_kmeans)

    a = ts.add_parser(
        "apply",
        help="label a corpus with centroids fitted by `essl targets kmeans`",
        description="Writes OUT_DIR/labels.safetensors and quality.json.",
    )
    a.add_argument("manifest", help="manifest.jsonl of the corpus to label")
    a.add_argument("units_dir", help="output folder of `essl targets kmeans` (its centroids)")
    a.add_argument("out_dir", help="output folder")
    a.add_argument(
        "--model",
        metavar="RUN_DIR",
        default=None,
        help="the model the layer:N centroids were fitted with (RUN_DIR, hf:PATH, preset:NAME)",
    )
    a.add_argument("--device", default="cpu", help="where features and distances run")
    a.add_argument("--batch-seconds", type=float, default=60.0)
    a.add_argument("--json", action="store_true", help="print the quality as JSON")
    a.set_defaults(handler=_apply)


def _source(features: str, model_dir: str | None, device: str) -> Any:
    from essl.errors import EsslError
    from essl.targets import LayerFeatures, MfccFeatures

    if features == "mfcc":
        if model_dir is not None:
            raise EsslError("--model is only used with --features layer:N; drop it for mfcc")
        return MfccFeatures(device=device)
    layer = features.removeprefix("layer:")
    if not features.startswith("layer:") or not layer.isdigit():
        raise EsslError(f"--features {features!r}: expected mfcc or layer:N, e.g. layer:6")
    if model_dir is None:
        raise EsslError(
            f"--features {features} needs --model RUN_DIR (the trained encoder; or hf:PATH)"
        )
    model = _load_encoder(model_dir, device)
    conv = model.cfg.conv_layers if hasattr(model, "cfg") else None
    kw = {"conv_layers": conv} if conv is not None else {}
    return LayerFeatures(model=model, layer=int(layer), device=device, **kw)


def _load_encoder(spec: str, device: str) -> Any:
    """RUN_DIR (latest checkpoint of `essl pretrain`), hf:PATH or preset:NAME."""
    from essl.evaluation.features import load_model

    return load_model(spec, device)


def _kmeans(args: argparse.Namespace) -> int:
    from essl.targets import TargetsConfig, kmeans_targets

    cfg = TargetsConfig(
        num_clusters=args.clusters,
        sample_fraction=args.sample_fraction,
        max_frames=args.max_frames,
        seed=args.seed,
        split=args.split,
        iterations=args.iterations,
        batch_seconds=args.batch_seconds,
        device=args.device,
    )
    cfg.validate()
    source = _source(args.features, args.model, args.device)
    res = kmeans_targets(args.manifest, args.out_dir, source, cfg, progress=True)
    km = res.kmeans
    print(
        f"k-means: K={km.num_clusters} on {km.num_frames} frames ({source.name}), "
        f"inertia {km.inertia:.6g} ({km.inertia / km.num_frames:.4g} per frame)"
    )
    print(f"labels: {len(res.labels)} utterances at 50 Hz -> {args.out_dir}/labels.safetensors")
    _report(res.quality, args.json)
    return 0


def _apply(args: argparse.Namespace) -> int:
    from pathlib import Path

    from essl.targets import apply_centroids, read_centroids

    centroids_path = Path(args.units_dir) / "centroids.safetensors"
    _, meta = read_centroids(centroids_path)
    source = _source(str(meta.get("features", "mfcc")), args.model, args.device)
    labels, quality = apply_centroids(
        args.manifest, centroids_path, args.out_dir, source,
        batch_seconds=args.batch_seconds, device=args.device, progress=True,
    )  # fmt: skip
    print(f"labels: {len(labels)} utterances at 50 Hz -> {args.out_dir}/labels.safetensors")
    _report(quality, args.json)
    return 0


def _report(quality: dict[str, Any] | None, as_json: bool) -> None:
    if quality is None:
        print("quality: no phone alignments in the manifest; purity/PNMI not computed")
    elif as_json:
        print(json.dumps(quality, indent=2, sort_keys=True))
    else:
        _print_quality(quality)


def _print_quality(q: dict[str, Any]) -> None:
    print(f"{'frames':>10} {'phone pur.':>10} {'clust. pur.':>11} {'PNMI':>6}  subset")
    rows = [("all", q["all"]), *sorted(q["by_split"].items())]
    for name, s in rows:
        print(
            f"{s['num_frames']:>10} {s['phone_purity']:>10.3f} {s['cluster_purity']:>11.3f} "
            f"{s['pnmi']:>6.3f}  {name}"
        )
    print(f"(majority-phone baseline for phone purity: {q['phone_chance']:.3f})")
