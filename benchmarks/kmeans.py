"""essl's k-means (k-means++ + torch Lloyd) against scikit-learn, at equal K, on MFCC frames.

    .venv/bin/python benchmarks/kmeans.py                    # 100k x 39 frames, K=100
    .venv/bin/python benchmarks/kmeans.py --frames 20000 --repeats 1

Frames are 39-dim MFCC + Δ + ΔΔ (HuBERT iteration 1, 100 Hz) of synthetic vowel sequences
(essl.testing.synthetic_vowels: 8 vowels + silence, varied pitch), or of a corpus given with
``--manifest``. Every method's inertia is measured the same way on all frames (sum of squared
distances to the nearest centroid), so the numbers are comparable; the essl sweep over Lloyd
iterations shows the time it needs to match each scikit-learn inertia. Wall times are the
best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from essl.targets.kmeans import KMeansConfig, assign, fit_kmeans
from essl.targets.mfcc import mfcc_with_deltas
from essl.testing import PHONE_FORMANTS, synthetic_vowels


def synthetic_frames(num_frames: int, seed: int) -> np.ndarray:
    """(num_frames, 39) MFCC frames of random 2 s vowel sequences at 100 Hz."""
    rng = np.random.default_rng(seed)
    labels = [*PHONE_FORMANTS, "sil"]
    out, total, i = [], 0, 0
    while total < num_frames:
        seq = [
            (labels[rng.integers(len(labels))], float(rng.uniform(0.05, 0.2))) for _ in range(14)
        ]
        wave, _ = synthetic_vowels(seq, f0=float(rng.uniform(90, 250)), seed=seed * 100_000 + i)
        feats, n = mfcc_with_deltas(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        out.append(feats[0, : int(n[0])].numpy())
        total += int(n[0])
        i += 1
    return np.concatenate(out)[:num_frames]


def manifest_frames(manifest: str, num_frames: int) -> np.ndarray:
    from essl.data.audio import load_audio
    from essl.data.manifest import read_manifest, resolve_audio_path

    out, total = [], 0
    for u in read_manifest(manifest):
        wave = load_audio(resolve_audio_path(manifest, u))
        feats, n = mfcc_with_deltas(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        out.append(feats[0, : int(n[0])].numpy())
        total += int(n[0])
        if total >= num_frames:
            break
    return np.concatenate(out)[:num_frames]


def inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    return float(assign(x, centroids)[1].sum(dtype=np.float64))


def best_of(repeats: int, fit: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    best, centroids = float("inf"), np.zeros(0)
    for _ in range(repeats):
        t = time.perf_counter()
        centroids = fit()
        best = min(best, time.perf_counter() - t)
    return best, centroids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", default=None, help="take MFCC frames from this corpus instead")
    ap.add_argument("--full-kmeans", action="store_true", help="also run sklearn KMeans (slow)")
    args = ap.parse_args()
    from sklearn.cluster import KMeans, MiniBatchKMeans

    t = time.perf_counter()
    x = (
        manifest_frames(args.manifest, args.frames)
        if args.manifest
        else synthetic_frames(args.frames, args.seed)
    )
    print(
        f"{len(x)} x {x.shape[1]} MFCC frames in {time.perf_counter() - t:.1f} s; "
        f"K={args.clusters}; torch threads {torch.get_num_threads()}"
    )
    k, seed = args.clusters, args.seed
    rows: list[tuple[str, float, float]] = []

    def run(name: str, fit: Callable[[], np.ndarray]) -> None:
        sec, c = best_of(args.repeats, fit)
        rows.append((name, sec, inertia(x, c)))
        print(f"{name:<46} {sec:8.2f} s   inertia {rows[-1][2]:.5g}", flush=True)

    for iters in (5, 10, 20, 30):
        run(
            f"essl k-means++ + Lloyd, {iters} it",
            lambda i=iters: (
                fit_kmeans(
                    x,
                    KMeansConfig(
                        num_clusters=k,
                        iterations=i,  # type: ignore[misc]
                        seed=seed,
                    ),
                ).centroids
            ),
        )
    run(
        "sklearn MiniBatchKMeans (defaults)",
        lambda: MiniBatchKMeans(k, random_state=seed, n_init="auto").fit(x).cluster_centers_,
    )
    run(
        "sklearn MiniBatchKMeans (HuBERT settings)",
        lambda: (
            MiniBatchKMeans(
                k,
                init="k-means++",
                max_iter=100,
                batch_size=10_000,
                tol=0.0,
                max_no_improvement=100,
                n_init=20,
                reassignment_ratio=0.0,
                compute_labels=False,
                random_state=seed,
            )
            .fit(x)
            .cluster_centers_
        ),
    )
    if args.full_kmeans:
        run(
            "sklearn KMeans (lloyd, n_init=1)",
            lambda: KMeans(k, n_init=1, random_state=seed).fit(x).cluster_centers_,
        )
    print("\nessl time to reach each scikit-learn inertia:")
    essl = [r for r in rows if r[0].startswith("essl")]
    for name, sec, value in rows:
        if name.startswith("sklearn"):
            hit = next((r for r in essl if r[2] <= value), None)
            verdict = (
                f"{hit[0].split(', ')[-1]} in {hit[1]:.2f} s vs {sec:.2f} s"
                if hit
                else "not reached within 30 iterations"
            )
            print(f"  {name:<44} {value:.5g}: {verdict}")


if __name__ == "__main__":
    main()
