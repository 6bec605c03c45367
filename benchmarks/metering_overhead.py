"""Overhead of the step meter on the tiny wav2vec 2.0 preset: metering on vs off.

    .venv/bin/python benchmarks/metering_overhead.py [--steps 20] [--batch 8] [--seconds 4]

Runs the trainer's own ``train_step`` on a fixed batch (random audio, fixed shape, so FLOPs
are counted with FlopCounterMode on the first metered step only and cached afterwards, as
in training with padded batches) through a :class:`essl.metering.Meter` that is enabled or
disabled, alternating step by step so machine contention hits both alike. Prints the
median step time of each and the overhead; target: <= 2%. Energy is read every 10 steps
(codecarbon, when installed), memory every step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from essl.cli.allocator import fast_allocator_env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    env = fast_allocator_env(dict(os.environ))
    if env is not None:  # same allocator as the essl command
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    from essl.data.batch import Batch
    from essl.data.manifest import Utterance
    from essl.metering import EnergyConfig, Meter, MeterConfig, StepData
    from essl.training.distributed import DistInfo
    from essl.training.presets import load_config
    from essl.training.step import train_step
    from essl.training.trainer import build_task_for

    torch.set_num_threads(args.threads)
    cfg = load_config("wav2vec2-tiny")
    task = build_task_for(cfg)
    opt = torch.optim.AdamW(task.parameters(), lr=1e-4)
    S = int(args.seconds * 16000)
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        wavs=torch.randn(args.batch, S, generator=g),
        lengths=torch.full((args.batch,), S),
        utterances=[
            Utterance(id=f"u{i}", path="-", duration=args.seconds) for i in range(args.batch)
        ],
        offsets=torch.zeros(args.batch, dtype=torch.long),
    )
    dev = torch.device("cpu")
    meters = {
        "off": Meter(
            MeterConfig(enabled=False, energy=EnergyConfig(enabled=False)), task, opt, dev
        ),
        "on": Meter(MeterConfig(), task, opt, dev),
    }
    for m in meters.values():
        m.start()
    times: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(args.steps + 2):  # the first round warms up (and counts FLOPs once)
        for name, meter in meters.items():
            t = time.perf_counter()
            meter.begin_step()
            res = meter.run(
                tuple(batch.wavs.shape),
                lambda: train_step(
                    task,
                    [batch],
                    opt,
                    lr=1e-4,
                    grad_clip=10.0,
                    dist=DistInfo(),
                    device=dev,
                    autocast_dtype=None,
                ),
            )
            fields = meter.end_step(
                StepData(
                    audio_seconds=res.audio_seconds,
                    samples=res.samples,
                    frames=res.num_frames,
                    utterances=res.utterances,
                    masked_frames=res.masked_frames,
                )
            )
            if i >= 2:
                times[name].append(time.perf_counter() - t)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(
        f"tiny wav2vec2, batch {args.batch} x {args.seconds:g} s, {args.threads} threads, "
        f"{args.steps} steps each, alternating"
    )
    print(f"  metering off: median step {off * 1e3:.1f} ms")
    print(
        f"  metering on : median step {on * 1e3:.1f} ms  (flops/step {fields['flops']:.3e}, "
        f"peak memory {fields['peak_memory_bytes'] / 2**20:.0f} MiB, "
        f"energy {'on' if fields['energy_kwh'] is not None else 'off'})"
    )
    print(f"  overhead: {100 * (on - off) / off:+.2f}% (target <= 2%)")
    for m in meters.values():
        m.close()


if __name__ == "__main__":
    main()
