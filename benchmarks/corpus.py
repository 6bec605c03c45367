"""Corpus benchmarks: synthetic corpus build speed (× real time), loader throughput.

    .venv/bin/python benchmarks/corpus.py                       # 10 min of audio, jobs 2 then 1
    .venv/bin/python benchmarks/corpus.py --minutes 5 --jobs 2 --repeats 3

A build is everything ``essl corpus synth`` does: planning, espeak-ng synthesis, soxr
resampling to 16 kHz, alignment, WAV and manifest writing, moving the folder into place.
Each run builds into a fresh folder. Printed per ``jobs``: wall-clock × real time (audio
seconds per wall second, best of ``--repeats``) and CPU × real time (audio seconds per CPU
second of this process and its workers, i.e. the speed of one uncontended core). On a
shared machine the wall figure drops with the load (printed alongside); the CPU figure
does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_synthesis(args: argparse.Namespace) -> None:
    """Build ``args.minutes`` of audio with each of ``args.jobs`` worker counts."""
    from essl.data.manifest import read_manifest
    from essl.data.synth import SynthConfig, build_corpus

    cfg = SynthConfig(minutes=args.minutes, speakers=args.speakers, seed=0)
    print(f"synthesis: {args.minutes} min, {args.speakers} speakers, {os.cpu_count()} cores")
    for jobs in args.jobs:
        walls, cpus, audio = [], [], 0.0
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="essl-bench-") as tmp:
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), _cpu_seconds()
                manifest = build_corpus(cfg, Path(tmp) / "corpus", jobs=jobs, progress=False)
                walls.append(time.perf_counter() - t0)
                cpus.append(_cpu_seconds() - c0)
                audio = sum(u.duration for u in read_manifest(manifest))
            print(
                f"  jobs={jobs} run {r}: {audio:.0f} s audio in {walls[-1]:.2f} s wall "
                f"({audio / walls[-1]:.0f}x), {cpus[-1]:.2f} CPU s "
                f"({audio / cpus[-1]:.0f}x per core), load {load:.1f}"
            )
        print(
            f"jobs={jobs}: {audio / min(walls):.0f}x real time (wall, best), "
            f"{audio / min(cpus):.0f}x per CPU-second"
        )


def bench_loader(args: argparse.Namespace) -> None:
    """Loader throughput (audio seconds delivered per wall second), num_workers 0 and 2.

    Corpus: 96 synthetic utterances (essl.testing.make_tiny_corpus, half 2 s, half 6 s,
    16-bit WAV); loader: 3 s random crops, 16 s padded batches, 10 buckets; ``1 + max(2,
    repeats)`` epochs. The first epoch (worker start-up) is printed apart from the median of
    the others. In a training loop workers overlap with the step; this is the bare loader.
    """
    from essl.data.loading import LoaderConfig, build_loader
    from essl.data.manifest import read_manifest, write_manifest
    from essl.testing import make_tiny_corpus

    epochs = 1 + max(2, args.repeats)
    with tempfile.TemporaryDirectory(prefix="essl-bench-") as tmp:
        root, utts = Path(tmp), []
        for name, secs in (("short", 2.0), ("long", 6.0)):
            part = make_tiny_corpus(root / name, 48, seconds=secs)
            utts += [
                u.replace(id=f"{name}_{u.id}", path=f"{name}/{u.path}") for u in read_manifest(part)
            ]
        write_manifest(root / "manifest.jsonl", utts)
        print(f"loader: {len(utts)} utterances, {sum(u.duration for u in utts):.0f} s audio")
        for workers in (0, 2):
            cfg = LoaderConfig(max_batch_seconds=16.0, max_seconds=3.0, num_workers=workers)
            loader = build_loader(root / "manifest.jsonl", cfg, seed=0)
            rates, load = [], os.getloadavg()[0]
            for _ in range(epochs):
                t0, audio = time.perf_counter(), 0.0
                for batch in loader:
                    audio += batch.audio_seconds
                rates.append(audio / (time.perf_counter() - t0))
            steady = sorted(rates[1:])[len(rates[1:]) // 2]
            print(
                f"  num_workers={workers}: {len(loader)} batches/epoch, first epoch "
                f"{rates[0]:.0f} audio-s/s, then median {steady:.0f} audio-s/s, load {load:.1f}"
            )


BENCHMARKS: list[Callable[[argparse.Namespace], None]] = [bench_synthesis, bench_loader]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio to synthesize")
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 1], help="worker counts")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    for bench in BENCHMARKS:
        bench(args)


if __name__ == "__main__":
    main()
