"""``essl profile``: parameters, storage, inference FLOPs/MACs, peak memory and RTF."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("profile", help="parameters, FLOPs per second of audio, memory, RTF")
    p.add_argument(
        "model",
        help="training preset (wav2vec2-tiny...), config YAML, RUN_DIR, "
        "preset:NAME (encoder only) or hf:PATH",
    )
    p.add_argument("--seconds", default="1,10,30", help="input lengths (default 1,10,30)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per length (median)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from essl.errors import EsslError
    from essl.metering.profile import profile_model

    try:
        seconds = [float(s) for s in args.seconds.split(",") if s.strip()]
    except ValueError:
        raise EsslError(
            f"--seconds {args.seconds!r}: give comma-separated numbers, e.g. 1,10,30"
        ) from None
    if not seconds or min(seconds) <= 0:
        raise EsslError("--seconds: lengths must be positive")
    res = profile_model(args.model, seconds, device=args.device, repeats=args.repeats)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['model']} on {res['device']} ({res['threads']} threads)")
    print(
        f"  params {res['params']:,} (encoder {res['encoder_params']:,}); "
        f"storage {res['param_bytes'] / 2**20:.1f} MiB"
    )
    print(
        f"  {'seconds':>8} {'GFLOPs':>10} {'GMACs':>9} {'GFLOPs/s audio':>15} "
        f"{'peak MiB':>9} {'RTF':>7}"
    )
    for r in res["per_length"]:
        print(
            f"  {r['seconds']:>8g} {r['flops'] / 1e9:>10.2f} {r['macs'] / 1e9:>9.2f} "
            f"{r['flops_per_second_audio'] / 1e9:>15.2f} {r['peak_memory_bytes'] / 2**20:>9.1f} "
            f"{r['rtf']:>7.3f}"
        )
    return 0
