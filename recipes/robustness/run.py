"""Robustness regularisation on the tiny wav2vec 2.0: plain vs consistency + augmentation.

Pretrains two ``wav2vec2-tiny`` models for the same number of updates on a synthesized
corpus, one plain and one with (a) perturbation-as-augmentation of the pretraining batches
and (b) a clean/perturbed consistency term (:mod:`essl.objectives.consistency`), then runs
the robustness suite (:mod:`essl.evaluation.robustness`) on both and writes a degradation
table. See README.md next to this file.

    python recipes/robustness/run.py --out runs/robustness            # ~10 min on 2 cores
    python recipes/robustness/run.py --out /tmp/rob --steps 30 --minutes 2   # quicker
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

PERTURBATIONS = ("noise", "babble", "reverb", "bandlimit")
"""Conditions drawn for augmentation and for the consistency view."""
SUITE = {"noise": (20.0, 10.0, 0.0), "babble": (10.0, 0.0), "reverb": (0.3, 0.9)}
"""Conditions and severities of the evaluation sweep."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/robustness_recipe", help="output folder")
    p.add_argument("--steps", type=int, default=50, help="pretraining updates per model")
    p.add_argument("--minutes", type=float, default=3.0, help="synthesized corpus size")
    p.add_argument("--speakers", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weight", type=float, default=1.0, help="consistency weight")
    p.add_argument(
        "--distance",
        default="contrastive",
        choices=("contrastive", "cosine", "l2"),
        help="consistency distance (cosine/l2 can collapse this early in training: README)",
    )
    p.add_argument("--augment-probability", type=float, default=0.5)
    p.add_argument(
        "--tasks",
        default="phone_probe,speaker_probe",
        help="evaluation tasks (label-free ones such as abx re-encode every utterance per cell)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest for the tiny model on a shared 2-core machine)",
    )
    p.add_argument("--probe-steps", type=int, default=200)
    return p.parse_args(argv)


def regularisers(args: argparse.Namespace) -> tuple[Any, Any]:
    from essl.objectives.consistency import ConsistencyConfig
    from essl.perturb.augment import AugmentConfig

    view = AugmentConfig(conditions=PERTURBATIONS, probability=1.0)
    consistency = ConsistencyConfig(
        perturbations=view, weight=args.weight, layer=None, distance=args.distance
    )
    augment = AugmentConfig(conditions=PERTURBATIONS, probability=args.augment_probability)
    return consistency, augment


def pretrain_both(args: argparse.Namespace, manifest: Path, out: Path) -> dict[str, float]:
    from essl.training.config import RegularisationConfig
    from essl.training.presets import load_config
    from essl.training.trainer import pretrain

    steps = args.steps
    overrides = [
        f"train.max_steps={steps}",
        f"optim.total_steps={steps}",
        f"optim.warmup_steps={max(1, steps // 10)}",
        f"train.checkpoint_every={steps}",
        f"train.seed={args.seed}",
        f"train.threads={args.threads}",
    ]
    consistency, augment = regularisers(args)
    seconds = {}
    for name in ("plain", "regularised"):
        cfg = load_config("wav2vec2-tiny", overrides)
        if name == "regularised":  # the trainer wraps the task (config.json records it)
            cfg.regularisation = RegularisationConfig(consistency=consistency, augment=augment)
        start = time.perf_counter()
        pretrain(cfg, out / name, manifest, progress=True)
        seconds[name] = round(time.perf_counter() - start, 1)
    return seconds


def evaluate_both(args: argparse.Namespace, manifest: Path, out: Path) -> dict[str, Any]:
    from essl.evaluation.ctc import CTCConfig
    from essl.evaluation.evaluate import EvalConfig
    from essl.evaluation.probes import ProbeConfig
    from essl.evaluation.robustness import RobustnessConfig, run_robustness

    results = {}
    for name in ("plain", "regularised"):
        cfg = RobustnessConfig(
            conditions=tuple(SUITE),
            severities=dict(SUITE),
            eval=EvalConfig(
                tasks=tuple(args.tasks.split(",")),
                seed=args.seed,
                probe=ProbeConfig(steps=args.probe_steps, seed=args.seed),
                ctc=CTCConfig(steps=args.probe_steps, seed=args.seed),
            ),
        )
        results[name] = run_robustness(str(out / name), manifest, out / name / "robustness", cfg)
    return results


def _f(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.3f}"


def comparison_markdown(results: dict[str, Any], seconds: dict[str, float]) -> str:
    """Degradation table: per task and condition, both models side by side."""
    lines = [
        "# Robustness regularisation: plain vs consistency + augmentation",
        "",
        f"pretraining wall time (s): {seconds}",
        "",
        "| task | condition | model | clean | scores (mild → severe) | AUC | worst rel. drop "
        "| CKA last layer (mild → severe) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    plain = results["plain"]
    last = str(plain["model"]["layers"][-1])
    for task, h in plain["headline"].items():
        for cond in plain["conditions"]:
            for name, res in results.items():
                block = res["conditions"][cond]
                s = block["summary"][task]
                drop = max((d for d in s["relative_drops"] if not math.isnan(d)), default=math.nan)
                cka = [
                    block["cells"][f"{v:g}"]["stability"]["layers"][last]["cka"]
                    for v in block["severities"]
                ]
                sev = ", ".join(f"{v:g}" for v in block["severities"])
                lines.append(
                    f"| {task} ({h['what'].split(' (')[0]}) | {cond} {sev} | {name} | "
                    f"{_f(res['headline'][task]['clean'])} | "
                    f"{', '.join(_f(v) for v in s['scores'])} | {_f(s['auc'])} | {_f(drop)} | "
                    f"{', '.join(_f(v) for v in cka)} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import torch

    from essl.data.synth import SynthConfig, build_corpus

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    manifest = out / "corpus" / "manifest.jsonl"
    t0 = time.perf_counter()
    if not manifest.exists():
        build_corpus(
            SynthConfig(minutes=args.minutes, speakers=args.speakers, seed=args.seed),
            out / "corpus",
        )
    seconds = pretrain_both(args, manifest, out)
    t1 = time.perf_counter()
    results = evaluate_both(args, manifest, out)
    seconds["robustness_suite"] = round(time.perf_counter() - t1, 1)
    seconds["total"] = round(time.perf_counter() - t0, 1)
    text = comparison_markdown(results, seconds)
    (out / "comparison.md").write_text(text)
    (out / "timings.json").write_text(json.dumps(seconds, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
