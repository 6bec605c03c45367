"""ABX timing: essl's vectorised torch ABX against the pure-Python reference, same items.

Features are 13 Kaldi MFCCs at 100 Hz (``essl.targets.mfcc``), as in REFERENCE.md's
measurement (libri-light: 25 s on 39k items; a vectorised torch version: 3.6 s).

    .venv/bin/python benchmarks/abx.py                          # synthetic corpus, both
    .venv/bin/python benchmarks/abx.py --manifest corpus/manifest.jsonl --skip-reference

The synthetic corpus (``essl.testing.make_tiny_corpus``) has random vowel strings with exact
alignments; an espeak corpus (``essl corpus synth``) gives realistic triphone statistics.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from essl.data.audio import load_audio
from essl.data.manifest import read_manifest, resolve_audio_path
from essl.evaluation.abx import ABXConfig, abx, abx_items
from essl.evaluation.abx_reference import reference_abx
from essl.targets.mfcc import mfcc


def mfcc_features(manifest: Path, limit: int | None = None) -> tuple[list[torch.Tensor], list]:
    utts = read_manifest(manifest)
    if limit is not None and limit < len(utts):  # every k-th utterance: all speakers stay
        utts = utts[:: -(-len(utts) // limit)]
    feats = []
    for u in utts:
        wav = torch.from_numpy(load_audio(resolve_audio_path(manifest, u)))[None]
        x, n = mfcc(wav, torch.tensor([wav.shape[1]]))
        feats.append(x[0, : int(n[0])])
    return feats, utts


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--manifest", type=Path, default=None, help="corpus with phone alignments")
    ap.add_argument("--utterances", type=int, default=120, help="synthetic corpus size")
    ap.add_argument("--speakers", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max-size-group", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-utterances",
        type=int,
        default=None,
        help="use about N utterances, every k-th (the reference is slow)",
    )
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    manifest = args.manifest
    if manifest is None:
        from essl.testing import make_tiny_corpus

        tmp = Path(tempfile.mkdtemp(prefix="essl_abx_bench_"))
        manifest = make_tiny_corpus(
            tmp, num_utterances=args.utterances, num_speakers=args.speakers, seconds=args.seconds
        )
    feats, utts = mfcc_features(manifest, args.max_utterances)
    items = abx_items(utts)
    cfg = ABXConfig(max_size_group=args.max_size_group, seed=args.seed)
    minutes = sum(u.duration for u in utts) / 60
    print(
        f"corpus: {len(utts)} utterances, {minutes:.1f} min, {len(items)} items, "
        f"{len({u.speaker for u in utts})} speakers; 13 MFCC @ 100 Hz; "
        f"torch threads {torch.get_num_threads()}"
    )
    start = time.perf_counter()
    res = abx(feats, items, 100.0, cfg)
    fast = time.perf_counter() - start
    print(
        f"essl abx:      {fast:7.2f} s  within {100 * res.within:.3f}%  "
        f"across {100 * res.across:.3f}%  groups {res.num_triplet_groups}"
    )
    if args.skip_reference:
        return
    start = time.perf_counter()
    ref = reference_abx(feats, items, 100.0, cfg)
    slow = time.perf_counter() - start
    print(
        f"reference abx: {slow:7.2f} s  within {100 * ref['within']:.3f}%  "
        f"across {100 * ref['across']:.3f}%"
    )
    same = ref["within"] == res.within and ref["across"] == res.across
    print(f"speed-up {slow / fast:.1f}x; identical scores: {same}")


if __name__ == "__main__":
    main()
