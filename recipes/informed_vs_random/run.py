"""Knowledge-informed vs blind SSL at equal cost: random spans vs phone-segment masks, and
unselected vs selected multitask pretext heads, over several seeds.

Every arm trains the same tiny model on the same synthesized corpus for the same number of
updates; only the masks or the pretext heads differ. Each run scores itself every
``--eval-every`` updates (ABX and a frame-level phone probe on a fixed utterance subset,
``evaluation.*`` of ``essl pretrain``), so every arm gets efficiency curves with training
FLOPs and audio seen on the x axis, a mean ± sd band over seeds, and the cost at which it
reaches the baseline's final score. See README.md next to this file.

    python recipes/informed_vs_random/run.py --out runs/informed_vs_random
    python recipes/informed_vs_random/run.py --out /tmp/ivr --steps 20 --eval-every 10 \\
        --seeds 0 --minutes 2 --speakers 4          # smoke test, ~2 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

CANDIDATES = (
    "loudness",
    "f0",
    "voicing",
    "rms",
    "zcr",
    "alpha_ratio",
    "hammarberg",
    "spectral_slope",
    "spectral_flux",
    "log_hnr",
    "mfcc",
)
"""Signal pretext targets of the multitask arms (every candidate of ``essl pretext``)."""
ARMS = ("random-span", "phone-segments", "multitask-all", "multitask-selected")
METRICS = {
    "phone_probe/best_layer": "phone probe accuracy",
    "abx_across/best": "ABX error (across speakers)",
}
"""Headline metrics. ABX is scored across speakers: on an evaluation subset of ~100
utterances few triphone pairs share a speaker, and within-speaker ABX rests on a handful of
triplets (it is logged too, as ``abx_within/*`` in each run's eval.jsonl)."""
COSTS = {"flops": "training FLOPs", "audio": "audio seen (s)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/informed_vs_random", help="output folder")
    p.add_argument("--preset", default="hubert-tiny-iter1", help="model + objective preset")
    p.add_argument("--arms", default=",".join(ARMS), help=f"subset of {','.join(ARMS)}")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (>= 3 for the claim)")
    p.add_argument("--steps", type=int, default=400, help="updates per run (same for all)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-utterances", type=int, default=80)
    p.add_argument("--probe-steps", type=int, default=150)
    p.add_argument("--minutes", type=float, default=10.0, help="synthesized corpus size")
    p.add_argument("--speakers", type=int, default=20)
    p.add_argument("--clusters", type=int, default=100, help="k-means units (HuBERT presets)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (1 thread each)")
    p.add_argument("--set", action="append", default=[], help="extra override for every run")
    return p.parse_args(argv)


def essl(*args: str, capture: bool = False) -> str:
    """Run ``essl ARGS`` in a child process; stop the recipe with its message on failure."""
    cmd = [sys.executable, "-m", "essl", *args]
    res = subprocess.run(cmd, text=True, capture_output=capture)
    if res.returncode != 0:
        detail = (res.stderr or "").strip().splitlines()[-3:] if capture else []
        raise SystemExit(f"failed ({res.returncode}): {' '.join(args)}\n" + "\n".join(detail))
    return res.stdout if capture else ""


def prepare(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Corpus, unsupervised boundaries (+ their scores), k-means labels, pretext weights."""
    corpus = out / "corpus"
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        essl("corpus", "synth", str(corpus), "--minutes", f"{args.minutes:g}",
             "--speakers", str(args.speakers), "--seed", "0")  # fmt: skip
    boundaries = corpus / "boundaries.jsonl"
    if not boundaries.is_file():
        essl("boundaries", "detect", str(manifest), "--detector", "spectral", "--no-progress")
    scores = out / "boundary_scores.json"
    if not scores.is_file():
        text = essl("boundaries", "evaluate", str(manifest), "--detector", "spectral",
                    "--no-progress", "--json", capture=True)  # fmt: skip
        scores.write_text(text)
    labels = out / "kmeans" / "labels.safetensors"
    if "hubert" in args.preset and not labels.is_file():
        essl("targets", "kmeans", str(manifest), str(out / "kmeans"),
             "--clusters", str(args.clusters))  # fmt: skip
    selected = out / "pretext_phone.json"
    if not selected.is_file():
        essl("pretext", "select", str(manifest), "--downstream", "phone",
             "--candidates", ",".join(CANDIDATES), "--out", str(selected))  # fmt: skip
    uniform = out / "pretext_uniform.json"
    if not uniform.is_file():
        uniform.write_text(json.dumps({"weights": {c: 1 / len(CANDIDATES) for c in CANDIDATES}}))
    return {
        "manifest": manifest,
        "boundaries": boundaries,
        "boundary_scores": json.loads(scores.read_text()),
        "labels": labels if "hubert" in args.preset else None,
        "selected": selected,
        "uniform": uniform,
    }


def arm_overrides(arm: str, prep: dict[str, Any]) -> list[str]:
    """What differs between arms; everything else is shared."""
    targets = f"objective.multitask.targets=[{','.join(CANDIDATES)}]"
    return {
        "random-span": [],
        "phone-segments": ["masking.name=segment", f"data.boundaries={prep['boundaries']}"],
        "multitask-all": [targets, f"objective.multitask.weights_file={prep['uniform']}"],
        "multitask-selected": [targets, f"objective.multitask.weights_file={prep['selected']}"],
    }[arm]


def train(args: argparse.Namespace, prep: dict[str, Any], arm: str, seed: int, out: Path) -> Path:
    run = out / "runs" / f"{arm}_seed{seed}"
    shared = [
        f"optim.total_steps={args.steps}",
        f"optim.warmup_steps={max(1, args.steps // 10)}",
        f"train.checkpoint_every={args.steps}",
        f"train.seed={seed}",
        "train.threads=1",
        f"evaluation.every={args.eval_every}",
        "evaluation.tasks=[abx,phone_probe]",
        f"evaluation.max_utterances={args.eval_utterances}",
        f"evaluation.probe_steps={args.probe_steps}",
        *([f"data.labels={prep['labels']}"] if prep["labels"] else []),
        *([f"objective.hubert.num_classes={args.clusters}"] if prep["labels"] else []),
        *args.set,
        *arm_overrides(arm, prep),
    ]
    sets = [a for kv in shared for a in ("--set", kv)]
    log = run.with_suffix(".log")
    run.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "essl", "pretrain", args.preset, str(run),
           "--manifest", str(prep["manifest"]), "--max-steps", str(args.steps),
           "--no-progress", *sets]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        raise SystemExit(f"{arm} seed {seed} failed ({rc}); see {log}")
    return run


def summarise(args: argparse.Namespace, arms: list[str], seeds: list[int], out: Path) -> dict:
    """Bands over seeds, cost-to-target of the baseline's final mean, paired differences."""
    import numpy as np

    from essl.metering.efficiency import lower_is_better, read_curve, seed_band
    from essl.metering.efficiency import seed_costs_to_target as costs_to
    from essl.reports.plots import line_plot

    base = arms[0]
    res: dict[str, Any] = {}
    for metric, what in METRICS.items():
        lower = lower_is_better(metric)
        res[metric] = {}
        for cost, axis in COSTS.items():
            bands = {
                arm: seed_band(
                    arm,
                    [read_curve(out / "runs" / f"{arm}_seed{s}", metric, cost) for s in seeds],
                )
                for arm in arms
            }
            target = float(bands[base].y[-1])
            stem = out / "plots" / f"{metric.replace('/', '_')}_vs_{cost}"
            line_plot(
                [(a, b.x, b.y) for a, b in bands.items()],
                stem,
                xlabel=axis,
                ylabel=what,
                title=f"{what}: mean ± sd over {len(seeds)} seeds",
                target=target,
                bands=[b.sd for b in bands.values()],
            )
            rows = {}
            for arm, b in bands.items():
                finals = np.array([c.y[-1] for c in b.runs])
                ref = np.array([c.y[-1] for c in bands[base].runs])
                sign = -1.0 if lower else 1.0
                diff = sign * (finals - ref)  # > 0 = this arm better than the baseline
                reached = costs_to(b, target, lower)
                hit = [c for c in reached if c is not None]
                rows[arm] = {
                    "final_mean": float(finals.mean()),
                    "final_sd": float(finals.std(ddof=1)) if len(finals) > 1 else 0.0,
                    "final_per_seed": finals.tolist(),
                    "gain_vs_baseline_mean": float(diff.mean()),
                    "seeds_better_than_baseline": int((diff > 0).sum()),
                    "cost_to_target_per_seed": reached,
                    "cost_to_target_mean": float(np.mean(hit)) if hit else None,
                    "seeds_reaching_target": len(hit),
                    "final_cost_mean": float(b.x[-1]),
                }
            base_ctt = rows[base]["cost_to_target_mean"]
            for r in rows.values():
                ctt = r["cost_to_target_mean"]
                r["cost_ratio_vs_baseline"] = ctt / base_ctt if ctt and base_ctt else None
            res[metric][cost] = {"target": target, "lower_is_better": lower, "arms": rows}
    return res


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def markdown(summary: dict, prep: dict[str, Any], args: argparse.Namespace, seeds: list[int],
             timings: dict[str, float]) -> str:  # fmt: skip
    b = prep["boundary_scores"]
    lines = [
        "# Informed vs random: results",
        "",
        f"preset `{args.preset}`, {args.steps} updates per run, seeds {seeds}, "
        f"corpus {args.minutes:g} min / {args.speakers} speakers; evaluation every "
        f"{args.eval_every} updates on {args.eval_utterances} utterances.",
        "",
        "Unsupervised boundaries (spectral detector, test split, 20 ms): "
        + ", ".join(f"{k} {_fmt(b.get(k))}" for k in ("precision", "recall", "f1", "r_value")),
        "",
    ]
    for metric, what in METRICS.items():
        for cost, axis in COSTS.items():
            s = summary[metric][cost]
            better = "lower" if s["lower_is_better"] else "higher"
            lines += [
                f"## {what} ({metric}, {better} is better) vs {axis}",
                "",
                f"target = baseline's final mean {s['target']:.4f}",
                "",
                "| arm | final mean ± sd | per seed | gain vs baseline | seeds better | "
                "cost to target (mean) | seeds reaching | cost ratio vs baseline |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for arm, r in s["arms"].items():
                per = ", ".join(f"{v:.3f}" for v in r["final_per_seed"])
                lines.append(
                    f"| {arm} | {r['final_mean']:.4f} ± {r['final_sd']:.4f} | {per} | "
                    f"{r['gain_vs_baseline_mean']:+.4f} | {r['seeds_better_than_baseline']}/"
                    f"{len(seeds)} | {_fmt(r['cost_to_target_mean'], '.3g')} | "
                    f"{r['seeds_reaching_target']}/{len(seeds)} | "
                    f"{_fmt(r['cost_ratio_vs_baseline'], '.2f')} |"
                )
            lines.append("")
    lines.append(f"Wall time (s): {json.dumps(timings)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise SystemExit(f"--arms: unknown arm '{bad[0] if bad else ''}'; valid: {','.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prep = prepare(args, out)
    timings = {"prepare": round(time.perf_counter() - t0, 1)}
    jobs = [(arm, s) for s in seeds for arm in arms]
    t1 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(lambda j: train(args, prep, j[0], j[1], out), jobs))
    timings["train_and_eval"] = round(time.perf_counter() - t1, 1)
    summary = summarise(args, arms, seeds, out)
    timings["total"] = round(time.perf_counter() - t0, 1)
    result = {"args": vars(args), "seeds": seeds, "arms": arms, "summary": summary,
              "boundary_scores": prep["boundary_scores"], "timings": timings}  # fmt: skip
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "results.md").write_text(markdown(summary, prep, args, seeds, timings))
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
