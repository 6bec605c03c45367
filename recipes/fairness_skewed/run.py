"""Fairness on a deliberately skewed corpus: measure the sex gap, debias, measure again.

    .venv/bin/python recipes/fairness_skewed/run.py /tmp/fair_recipe            # ~5-10 min, 2 cores
    .venv/bin/python recipes/fairness_skewed/run.py /tmp/fair_recipe --steps 80 --minutes 6

1. Corpus: ``essl corpus synth`` with counterfactual twins; the *training* split is skewed by
   keeping only ``--keep-female`` of its female utterances (test stays balanced, with twins).
2. SSL level: a micro wav2vec 2.0 is pretrained for ``--steps`` updates from one seed in five
   ways — plain, gradient reversal (AdversarialTask), Noé et al. alternating updates,
   group-balanced sampling, counterfactual augmentation (twins restored) — and each encoder
   is audited: frame phone-classification error per sex with speaker-bootstrap CIs, sex
   leakage.
3. Downstream level, on the plain encoder's frozen features: fair probes (reweighting,
   adversarial head, counterfactual consistency), RBA at inference, and a consistency-weight
   sweep with its accuracy–gap Pareto front.

Writes OUT/results.json and prints a Markdown table (OUT/table.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from essl.data.audio import load_audio
from essl.data.batch import Batch
from essl.data.manifest import Utterance, read_manifest, resolve_audio_path, write_manifest
from essl.evaluation import group_metrics as gm
from essl.evaluation.counterfactual import flip_rate, twin_pairs
from essl.evaluation.features import extract_corpus_features
from essl.evaluation.frames import frame_phone_labels, phone_vocabulary
from essl.evaluation.probes import ProbeConfig
from essl.fairness import (
    AdversarialTask,
    AlternatingAdversary,
    FairProbeConfig,
    WeightSchedule,
    attribute_ids,
    bias_amplification,
    bias_scores,
    fit_fair_probe,
    group_sampling_weights,
    rba_decode,
    sweep,
)
from essl.fairness.scoring import pooled_classifier
from essl.masking import MaskingConfig, RandomSpanConfig
from essl.models import EncoderConfig
from essl.objectives import ObjectiveConfig, Wav2Vec2LossConfig, build_task

MICRO = EncoderConfig(
    conv_layers=(
        (64, 10, 5),
        (64, 3, 2),
        (64, 3, 2),
        (64, 3, 2),
        (64, 3, 2),
        (64, 2, 2),
        (64, 2, 2),
    ),
    embed_dim=64,
    num_layers=2,
    num_heads=2,
    ffn_dim=128,
    pos_conv_kernel=32,
    pos_conv_groups=4,
    layer_drop=0.0,
    dropout=0.0,
    attention_dropout=0.0,
    dropout_input=0.0,
    dropout_features=0.0,
)
SEXES = ["female", "male"]


def build_corpus(
    out: Path, minutes: float, speakers: int, keep_female: float, seed: int
) -> tuple[Path, list[Utterance]]:
    """Synth corpus with twins; returns (manifest, skewed training utterances)."""
    manifest = out / "corpus" / "manifest.jsonl"
    if not manifest.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "essl",
                "corpus",
                "synth",
                str(out / "corpus"),
                "--minutes",
                str(minutes),
                "--speakers",
                str(speakers),
                "--seed",
                str(seed),
                "--counterfactual-pairs",
                "--female-ratio",
                "0.5",
            ],
            check=True,
        )
    utts = resplit(read_manifest(manifest), test_share=0.3, seed=seed)
    write_manifest(manifest.with_name("manifest_resplit.jsonl"), utts)
    rng = np.random.default_rng(seed)
    train = [
        u for u in utts if u.split == "train" and (u.sex == "male" or rng.random() < keep_female)
    ]
    return manifest.with_name("manifest_resplit.jsonl"), train


def resplit(utts: list[Utterance], test_share: float, seed: int) -> list[Utterance]:
    """Twin pairs (same sentence) go to test together with probability ``test_share``.

    The synth corpus holds out whole speakers (one per sex here); the recipe needs several
    speakers per group in the test split for speaker-bootstrap intervals, so it splits by
    sentence instead (every speaker appears in train and test).
    """
    rng = np.random.default_rng(seed)
    index = {u.id: u for u in utts}
    split: dict[str, str] = {}
    for u in sorted(utts, key=lambda u: u.id):
        if u.id in split:
            continue
        s = "test" if rng.random() < test_share else "train"
        split[u.id] = s
        if u.twin in index:
            split[str(u.twin)] = s
    return [u.replace(split=split[u.id]) for u in utts]


def _batches(
    waves: list[np.ndarray],
    utts: list[Utterance],
    weights: np.ndarray | None,
    steps: int,
    batch: int,
    crop: int,
    seed: int,
) -> list[Batch]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        idx = rng.choice(len(utts), size=batch, p=weights)
        rows = []
        for i in idx.tolist():
            w = waves[i]
            s = int(rng.integers(0, max(1, len(w) - crop)))
            rows.append(torch.from_numpy(w[s : s + crop]))
        lengths = torch.tensor([len(r) for r in rows])
        wavs = torch.zeros(batch, int(lengths.max()))
        for r, x in enumerate(rows):
            wavs[r, : len(x)] = x
        out.append(
            Batch(
                wavs=wavs,
                lengths=lengths,
                utterances=[utts[i] for i in idx.tolist()],
                offsets=torch.zeros(batch, dtype=torch.long),
            )
        )
    return out


def pretrain(
    variant: str,
    train: list[Utterance],
    waves: dict[str, np.ndarray],
    pool: dict[str, Utterance],
    args: argparse.Namespace,
) -> tuple[torch.nn.Module, float]:
    """One SSL variant from the same initial weights; returns (encoder, seconds)."""
    torch.manual_seed(args.seed)
    task: Any = build_task(
        MICRO,
        MaskingConfig(random_span=RandomSpanConfig(mask_prob=0.5, mask_length=5)),
        ObjectiveConfig(
            wav2vec2=Wav2Vec2LossConfig(
                num_vars=32, codevector_dim=32, final_dim=32, num_negatives=20
            )
        ),
    )
    data, weights = list(train), None
    if variant == "cf_augment":  # restore each training utterance's twin (Lu et al. 2020, CDA)
        have = {u.id for u in data}
        data += [pool[u.twin] for u in train if u.twin in pool and u.twin not in have]
    if variant == "balanced":
        weights = group_sampling_weights(data, "sex")
    sched = WeightSchedule(kind="ganin", weight=args.adv_weight, total_updates=args.steps)
    step_fn: Any = None
    if variant == "grl":
        task = AdversarialTask(task, "sex", SEXES, sched, head_hidden=64)
    opt = torch.optim.Adam(task.parameters(), lr=5e-4)
    if variant == "noe":
        adv = AlternatingAdversary(
            task,
            "sex",
            SEXES,
            discriminator_steps=2,
            head_hidden=64,
            schedule=WeightSchedule(
                kind="linear", weight=args.adv_weight, total_updates=args.steps, warmup=0.5
            ),
        )
        step_fn = adv.step
    batches = _batches([waves[u.id] for u in data], data, weights, args.steps, 8, 24000, args.seed)
    start = time.perf_counter()
    task.train()
    for k, b in enumerate(batches):
        if step_fn is not None:
            step_fn(b, opt, k)
            continue
        out = task(b)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        task.on_update(k + 1)
    return task.encoder.eval(), time.perf_counter() - start


def _ci_row(
    err: np.ndarray,
    totals: np.ndarray,
    groups: list[str],
    speakers: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    rates = gm.pooled_rate_by_group(err, totals, groups)
    ci = gm.bootstrap_pooled_rates(err, totals, groups, speakers, args.bootstrap, args.seed)
    return {
        "accuracy": float(1 - err.sum() / totals.sum()),
        "error": rates,
        "gap": gm.gap(rates).absolute,
        "gap_ci": [ci["gap"]["low"], ci["gap"]["high"]],
        "error_ci": {g: [ci[g]["low"], ci[g]["high"]] for g in rates},
    }


class Audit:
    """Frame-level phone classification on one encoder's frozen features (all layers concatenated).

    Rows are frames; an utterance's error is its misclassified frames over its frames (pooled
    per group). Twins say the same phones: the centre frames of their k-th phones are paired
    (for the consistency loss and the flip rate) when both alignments have the same phones.
    """

    def __init__(
        self, encoder: Any, utts: list[Utterance], manifest: Path, train_ids: set[str]
    ) -> None:
        feats = extract_corpus_features(encoder, utts, manifest, batch_seconds=32.0)
        self.seconds, self.utts = feats.seconds, utts
        self.pooled = torch.cat([feats.pooled(li) for li in range(len(feats.layers))], 1)
        per_utt = [torch.cat([lay[i] for lay in feats.layers], 1) for i in range(len(utts))]
        self.vocab = phone_vocabulary(utts)
        index = {p: i for i, p in enumerate(self.vocab)}
        labels = [
            torch.from_numpy(
                frame_phone_labels(u.phones or (), f.shape[0], feats.frame_rate, index)
            )
            for u, f in zip(utts, per_utt)
        ]
        self.start = np.cumsum([0, *[f.shape[0] for f in per_utt]])
        self.x, self.y = torch.cat(per_utt), torch.cat(labels)
        self.frame_utt = torch.cat([torch.full((f.shape[0],), i) for i, f in enumerate(per_utt)])
        self.g_utt = attribute_ids(utts, "sex", SEXES)
        self.g = self.g_utt[self.frame_utt]
        self.train_utts = [i for i, u in enumerate(utts) if u.id in train_ids]
        self.test_utts = [i for i, u in enumerate(utts) if u.split == "test"]
        self.train = self._frames(self.train_utts)
        self.test = self._frames(self.test_utts)
        mean, std = self.x[self.train].mean(0), self.x[self.train].std(0).clamp_min(1e-5)
        self.z = (self.x - mean) / std
        self.pairs = self._phone_pairs(feats.frame_rate)

    def _frames(self, idx: list[int]) -> torch.Tensor:
        return torch.cat([torch.arange(self.start[i], self.start[i + 1]) for i in idx])

    def _phone_pairs(self, rate: float) -> list[tuple[int, int]]:
        """Global frame rows of the centres of twins' k-th phones (same phone sequence only)."""
        out = []
        for a, b in twin_pairs(self.utts):
            pa, pb = self.utts[a].phones or (), self.utts[b].phones or ()
            if [p for p, _, _ in pa] != [p for p, _, _ in pb]:
                continue
            for (_, sa, ea), (_, sb, eb) in zip(pa, pb):
                fa = min(int((sa + ea) / 2 * rate), self.start[a + 1] - self.start[a] - 1)
                fb = min(int((sb + eb) / 2 * rate), self.start[b + 1] - self.start[b] - 1)
                out.append((int(self.start[a] + fa), int(self.start[b] + fb)))
        return out

    def leakage(self, cfg: ProbeConfig) -> float:
        """Sex probe test accuracy (linear, mean-pooled utterances; train = skewed split)."""
        tr, te = self.train_utts, self.test_utts
        x = {"train": [self.pooled[tr]], "dev": [self.pooled[[]]], "test": [self.pooled[te]]}
        y = {"train": self.g_utt[tr], "dev": self.g_utt[[]], "test": self.g_utt[te]}
        model, z = pooled_classifier(x, y, 2, cfg)
        with torch.no_grad():
            return float((model(z["test"]).argmax(-1) == y["test"]).float().mean())

    def report(self, pred: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
        wrong = pred != self.y[self.test].numpy()
        sizes = [int(self.start[i + 1] - self.start[i]) for i in self.test_utts]
        ends = np.cumsum([0, *sizes])
        err = np.array([wrong[ends[k] : ends[k + 1]].sum() for k in range(len(sizes))], float)
        row = _ci_row(
            err,
            np.asarray(sizes, float),
            [SEXES[int(self.g_utt[i])] for i in self.test_utts],
            [str(self.utts[i].speaker) for i in self.test_utts],
            args,
        )
        pos = {int(r): k for k, r in enumerate(self.test.tolist())}
        pairs = [(pos[a], pos[b]) for a, b in self.pairs if a in pos and b in pos]
        row["flip_rate"] = flip_rate(pred.tolist(), pairs)
        return row

    def fit(self, cfg: FairProbeConfig) -> np.ndarray:
        rows = self.train
        pos = {int(r): k for k, r in enumerate(rows.tolist())}
        pairs = [(pos[a], pos[b]) for a, b in self.pairs if a in pos and b in pos]
        model = fit_fair_probe(
            self.z[rows], self.y[rows], self.g[rows], len(self.vocab), 2, cfg, pairs=pairs
        )
        with torch.no_grad():
            return model(self.z[self.test]).log_softmax(-1).numpy()


def probe_base(args: argparse.Namespace) -> dict[str, Any]:
    """Settings shared by every frame probe of the recipe (only method and weight vary)."""
    return dict(steps=args.probe_steps, lr=3e-3, hidden=128, batch_size=512, seed=args.seed)


def downstream(audit: Audit, args: argparse.Namespace) -> dict[str, Any]:
    base = probe_base(args)
    out: dict[str, Any] = {}
    scores = audit.fit(FairProbeConfig(method="none", **base))
    out["probe: none"] = audit.report(scores.argmax(1), args)
    for method, w in (("reweight", 1.0), ("adversarial", 1.0), ("counterfactual", 1.0)):
        pred = audit.fit(FairProbeConfig(method=method, weight=w, **base)).argmax(1)
        out[f"probe: {method}"] = audit.report(pred, args)
    O = len(audit.vocab)
    train_bias = bias_scores(audit.y[audit.train].numpy(), audit.g[audit.train].numpy(), O, 2)
    test_g = audit.g[audit.test].numpy()
    res = rba_decode(scores, test_g, train_bias, margin=0.05)
    out["probe: none + RBA"] = audit.report(res.predictions, args)
    for key, pred in (("probe: none", scores.argmax(1)), ("probe: none + RBA", res.predictions)):
        out[key]["bias_amplification"] = bias_amplification(
            train_bias, bias_scores(pred, test_g, O, 2)
        )

    def fit_eval(w: float) -> tuple[float, float]:
        pred = audit.fit(FairProbeConfig(method="counterfactual", weight=w, **base)).argmax(1)
        r = audit.report(pred, args)
        return r["accuracy"], r["gap"]

    points, front = sweep(fit_eval, args.sweep)
    out["pareto"] = {"points": [p.__dict__ for p in points], "front": [p.weight for p in front]}
    return out


def _table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| method | phone frame acc % | err female % | err male % | gap (f−m abs) % [95% CI] | flip % | sex leakage % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        if "accuracy" not in r:
            continue
        e = r["error"]
        leak = f"{100 * r['leakage']:.1f}" if "leakage" in r else "–"
        lines.append(
            f"| {name} | {100 * r['accuracy']:.1f} | {100 * e.get('female', float('nan')):.1f} | "
            f"{100 * e.get('male', float('nan')):.1f} | {100 * r['gap']:.1f} "
            f"[{100 * r['gap_ci'][0]:.1f}, {100 * r['gap_ci'][1]:.1f}] | "
            f"{100 * r['flip_rate']:.1f} | {leak} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("out_dir")
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--speakers", type=int, default=12)
    p.add_argument(
        "--keep-female", type=float, default=0.2, help="share of female training utterances kept"
    )
    p.add_argument("--steps", type=int, default=30, help="pretraining updates per SSL variant")
    p.add_argument("--adv-weight", type=float, default=1.0)
    p.add_argument("--probe-steps", type=int, default=300)
    p.add_argument("--bootstrap", type=int, default=500)
    p.add_argument("--sweep", type=float, nargs="+", default=[0.0, 0.3, 1.0, 3.0, 10.0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    out = Path(args.out_dir)
    t0 = time.perf_counter()
    manifest, train = build_corpus(out, args.minutes, args.speakers, args.keep_female, args.seed)
    utts = read_manifest(manifest)
    write_manifest(
        out / "train_skewed.jsonl",
        [u.replace(path=str(resolve_audio_path(manifest, u).resolve())) for u in train],
    )
    pool = {u.id: u for u in utts}
    waves = {u.id: load_audio(resolve_audio_path(manifest, u)) for u in utts}
    share = sum(u.sex == "female" for u in train) / len(train)
    print(f"skewed training split: {len(train)} utterances, {100 * share:.0f}% female", flush=True)
    train_ids = {u.id for u in train}
    probe_cfg = ProbeConfig(steps=args.probe_steps, lrs=(1e-2,), seed=args.seed)
    rows: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for variant in ("plain", "grl", "noe", "balanced", "cf_augment"):
        enc, secs = pretrain(variant, train, waves, pool, args)
        audit = Audit(enc, utts, manifest, train_ids)
        scores = audit.fit(FairProbeConfig(method="none", **probe_base(args)))
        rows[f"SSL: {variant}"] = {
            **audit.report(scores.argmax(1), args),
            "leakage": audit.leakage(probe_cfg),
        }
        timings[f"pretrain_{variant}_s"] = round(secs, 1)
        print(f"SSL {variant}: pretrain {secs:.1f}s, features {audit.seconds:.1f}s", flush=True)
        if variant == "plain":
            t1 = time.perf_counter()
            rows.update(downstream(audit, args))
            timings["downstream_s"] = round(time.perf_counter() - t1, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    table = _table(rows)
    res = {
        "train_female_share": share,
        "train_utterances": len(train),
        "rows": rows,
        "timings": timings,
        "config": vars(args),
    }
    (out / "results.json").write_text(json.dumps(res, indent=2, default=float))
    (out / "table.md").write_text(table + "\n")
    print(table)
    print(
        "pareto (consistency weight, accuracy, gap):",
        [
            (q["weight"], round(q["accuracy"], 3), round(q["gap"], 3))
            for q in rows["pareto"]["points"]
        ],
        "front:",
        rows["pareto"]["front"],
    )
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
