"""``essl fairness``: group, counterfactual and leakage audit of any model on a labelled corpus.

``run_fairness(model_spec, manifest, out_dir, cfg)`` loads the model
(:func:`~essl.evaluation.features.load_model`), extracts every layer's frozen features once,
trains the task's probe on the train split (learning rate chosen on dev, SUPERB weighted sum
of the layers, :mod:`essl.evaluation.probes` / :mod:`essl.evaluation.ctc`) and scores the
test utterances one by one. Then:

* **groups** — per-group pooled error (:mod:`essl.evaluation.group_metrics`), gaps, per-speaker
  std, speaker-bootstrap CIs; DP and EO differences for classification tasks; for
  ``verification`` (no training: cosine scores of mean-pooled features of ``layer``, default the
  last) the per-group EER of all within-group trials (at most ``max_trials``, seeded), the
  bootstrap weighting trials by the multiplicities of their speakers;
* **counterfactual** — on twin pairs (manifest twins, else pitch-shifted copies of the test
  utterances, :mod:`essl.evaluation.counterfactual`): error gap, flip rate (pairs with the same
  label only), and per layer the twin / random representation distance;
* **leakage** — sex and accent probes per layer (:mod:`essl.evaluation.tasks`) against chance
  (majority rate) and the same architecture with random initialisation.

Writes ``OUT_DIR/results.json`` (schema ``essl.fairness/1``) and ``OUT_DIR/summary.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from essl.config import to_dict
from essl.errors import ConfigError, EsslError
from essl.evaluation import group_metrics as gm
from essl.evaluation.counterfactual import (
    counterfactual_error_gap,
    flip_rate,
    make_pitch_shifted_twins,
    representation_distance,
    twin_pairs,
)
from essl.evaluation.ctc import CTCConfig
from essl.evaluation.probes import ProbeConfig
from essl.fairness.scoring import Outcomes, score_task, task_splits, verification_trials

__all__ = [
    "SCHEMA",
    "TASKS",
    "FairnessConfig",
    "group_report",
    "random_init_model",
    "run_fairness",
    "verification_report",
]

SCHEMA = "essl.fairness/1"
TASKS = ("phone_probe", "phone_ctc", "speaker_probe", "sex_probe", "accent_probe", "verification")


@dataclass(kw_only=True)
class FairnessConfig:
    """What ``essl fairness`` measures and how."""

    attribute: str = "sex"
    """Protected attribute defining the groups: ``sex``, ``accent`` or ``age`` (decade bands)."""
    task: str = "phone_ctc"
    """Downstream task scored per group (see :data:`TASKS`)."""
    layers: tuple[int, ...] | None = None
    """Model layers extracted (None = all)."""
    layer: int | None = None
    """``verification`` embedding layer (None = the last extracted)."""
    bootstrap: int = 1000
    """Speaker-bootstrap resamples (0 = no intervals)."""
    confidence: float = 0.95
    """Level of the percentile intervals."""
    seed: int = 0
    device: str = "cpu"
    max_utterances: int | None = None
    """Seeded subset of at most this many utterances (None = all)."""
    leakage: bool = True
    """Also run the sex/accent leakage probes on the model and a random-init copy."""
    counterfactual: bool = True
    """Also run the counterfactual metrics (pitch-shifted copies when there are no twins)."""
    semitones: float = 4.0
    """Shift of the pitch-shifted counterfactual copies."""
    max_trials: int = 20_000
    """Verification trials per group (seeded subsample above this)."""
    batch_seconds: float = 16.0
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    ctc: CTCConfig = field(default_factory=CTCConfig)

    def validate(self) -> None:
        if self.attribute not in ("sex", "accent", "age"):
            raise ConfigError(f"attribute '{self.attribute}': use sex, accent or age")
        if self.task not in TASKS:
            raise ConfigError(f"task '{self.task}': use one of {', '.join(TASKS)}")
        if self.bootstrap < 0 or not 0 < self.confidence < 1:
            raise ConfigError("bootstrap must be >= 0 and confidence in (0, 1)")
        self.probe.validate()
        self.ctc.validate()


def random_init_model(spec: str, device: str | torch.device = "cpu", seed: int = 0) -> Any:
    """The architecture of ``spec`` with random weights (preset: another seed; run: its config)."""
    from essl.evaluation.features import load_model

    if spec.startswith("preset:"):
        return load_model(spec, device, seed + 1)
    torch.manual_seed(seed)
    if spec.startswith("hf:"):
        from essl.evaluation.hf import HFEncoder

        trained = load_model(spec, "cpu", seed)
        model: Any = HFEncoder(type(trained.model)(trained.model.config), trained.do_normalize)
        return model.to(device).eval()
    from essl.config import from_dict
    from essl.training.checkpoint import latest_checkpoint, load_checkpoint
    from essl.training.config import PretrainConfig
    from essl.training.trainer import build_task_for

    path = latest_checkpoint(Path(spec) / "checkpoints")
    if path is None:
        raise EsslError(f"{spec}: no checkpoint to read the architecture from")
    cfg = from_dict(PretrainConfig, load_checkpoint(path).config, f"{path} config")
    return build_task_for(cfg).encoder.to(device).eval()


def _clean(obj: Any) -> Any:
    """JSON-safe copy: nan/inf → None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def group_report(
    out: Outcomes, groups: list[str], speakers: list[str], cfg: FairnessConfig
) -> dict[str, Any]:
    """Per-group metrics, gaps, per-speaker std, DP/EO and bootstrap CIs of ``out``."""
    rates = gm.pooled_rate_by_group(out.errors, out.totals, groups)
    res: dict[str, Any] = {
        "metric": "error_rate",
        "per_group": rates,
        "gap": gm.gap(rates).to_dict(),
        "per_speaker_std": gm.per_speaker_std(out.errors, out.totals, speakers),
        "overall": float(out.errors.sum() / max(out.totals.sum(), 1e-12)),
        "utterances": {g: groups.count(g) for g in sorted(set(groups))},
        "speakers": {
            g: len({s for s, h in zip(speakers, groups) if h == g}) for g in sorted(set(groups))
        },
    }
    if out.y_true is not None and out.y_pred is not None:
        res["per_group_accuracy"] = {g: 1 - v for g, v in rates.items()}
        res["demographic_parity_difference"] = gm.demographic_parity_difference(
            out.y_pred, groups, y_true=out.y_true
        )
        res["equalized_odds_difference"] = gm.equalized_odds_difference(
            out.y_true, out.y_pred, groups
        )
    if cfg.bootstrap:
        res["ci"] = gm.bootstrap_pooled_rates(
            out.errors, out.totals, groups, speakers, cfg.bootstrap, cfg.seed, cfg.confidence
        )
    return res


def _counterfactual(
    feats: Any, out: Outcomes | None, pairs: list[tuple[int, int]], cfg: FairnessConfig, source: str
) -> dict[str, Any]:
    res: dict[str, Any] = {"source": source, "pairs": len(pairs), "representation": {}}
    for li, lid in enumerate(feats.layer_ids):
        res["representation"][str(lid)] = representation_distance(
            feats.pooled(li).numpy(), pairs, cfg.seed
        )
    if out is None:
        return res
    pos = {u: k for k, u in enumerate(out.idx)}
    local = [(pos[a], pos[b]) for a, b in pairs if a in pos and b in pos]
    groups = [_group(feats.utts[u], cfg.attribute) or "" for u in out.idx]
    res["scored_pairs"] = len(local)
    res["error_gap"] = counterfactual_error_gap(out.errors, out.totals, local, groups)
    if out.y_pred is not None and out.y_true is not None:
        same = [(a, b) for a, b in local if out.y_true[a] == out.y_true[b]]
        res["flip_rate"] = flip_rate(out.y_pred.tolist(), same)
        res["pairs_same_label"] = len(same)
    return res


def _leakage(model_spec: str, feats: Any, manifest: Path, cfg: FairnessConfig) -> dict[str, Any]:
    from essl.evaluation.evaluate import EvalConfig
    from essl.evaluation.features import extract_corpus_features
    from essl.evaluation.tasks import TASK_FUNCTIONS, unsupported_reason

    ecfg = EvalConfig(seed=cfg.seed, probe=cfg.probe, device=cfg.device)
    out: dict[str, Any] = {}
    runnable = [
        t for t in ("sex_probe", "accent_probe") if unsupported_reason(t, feats.utts) is None
    ]
    if not runnable:
        return {}  # no attribute with 2 or more values: nothing to probe
    rand = random_init_model(model_spec, cfg.device, cfg.seed)
    rfeats = extract_corpus_features(
        rand, feats.utts, manifest, cfg.layers, cfg.device, cfg.batch_seconds
    )
    for t in runnable:
        trained, baseline = TASK_FUNCTIONS[t](feats, ecfg), TASK_FUNCTIONS[t](rfeats, ecfg)
        out[t.removesuffix("_probe")] = {
            "chance": trained["chance"],
            "layers": {
                lid: {"accuracy": r["test"], "random_init": baseline["per_layer"][lid]["test"]}
                for lid, r in trained["per_layer"].items()
            },
            "weighted_sum": trained.get("weighted_sum", {}).get("test"),
            "weighted_sum_random_init": baseline.get("weighted_sum", {}).get("test"),
        }
    return out


def _with_pitch_twins(
    utts: list[Any], splits: dict[str, list[int]], manifest: Path, out_path: Path, semitones: float
) -> list[Any]:
    """``utts`` (absolute paths) with pitch-shifted copies of the test utterances appended."""
    from essl.data.manifest import resolve_audio_path

    test = [utts[i] for i in splits["test"]]
    _, made = make_pitch_shifted_twins(test, manifest, out_path / "counterfactual", semitones)
    linked = {u.id: u for u in made[: len(test)]}
    absolute = [
        linked.get(u.id, u).replace(path=str(resolve_audio_path(manifest, u).resolve()))
        for u in utts
    ]
    copies = [
        u.replace(path=str((out_path / "counterfactual" / u.path).resolve()))
        for u in made[len(test) :]
    ]
    return absolute + copies


def run_fairness(
    model_spec: str,
    manifest: str | Path,
    out_dir: str | Path,
    cfg: FairnessConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The audit of the module docstring; writes results.json and summary.md; returns the dict."""
    from essl._io import atomic_open, write_json
    from essl.data.manifest import read_manifest
    from essl.evaluation.evaluate import _subset
    from essl.evaluation.features import extract_corpus_features, load_model

    cfg = cfg or FairnessConfig()
    cfg.validate()
    t0 = time.perf_counter()
    manifest, out_path = Path(manifest), Path(out_dir)
    utts = _subset(read_manifest(manifest), cfg.max_utterances, cfg.seed)
    if len({g for u in utts if (g := _group(u, cfg.attribute)) is not None}) < 2:
        raise EsslError(
            f"{manifest}: fewer than 2 '{cfg.attribute}' groups; fairness needs a "
            "manifest with that attribute filled in for at least two groups"
        )
    splits = task_splits(cfg.task, utts, cfg.seed)  # indices stay valid: copies are appended
    pairs, source = twin_pairs(utts), "manifest twins"
    if cfg.counterfactual and not pairs:
        utts = _with_pitch_twins(utts, splits, manifest, out_path, cfg.semitones)
        pairs, source = twin_pairs(utts), f"pitch shift {cfg.semitones:+g} semitones"
    model = load_model(model_spec, cfg.device, cfg.seed)
    feats = extract_corpus_features(
        model, utts, manifest, cfg.layers, cfg.device, cfg.batch_seconds, progress=progress
    )
    timings = {"features_s": round(feats.seconds, 3)}
    t1 = time.perf_counter()
    test = set(splits["test"])
    extra = sorted({i for p in pairs for i in p} - test) if cfg.counterfactual else []
    out = score_task(cfg.task, feats, splits, extra, cfg)
    groups = [_group(feats.utts[i], cfg.attribute) for i in out.idx]
    test_out = out.take([k for k, i in enumerate(out.idx) if i in test and groups[k] is not None])
    tg = [str(_group(feats.utts[i], cfg.attribute)) for i in test_out.idx]
    speakers = [str(feats.utts[i].speaker) for i in test_out.idx]
    if cfg.task == "verification":
        res_groups = verification_report(feats, test_out.idx, tg, speakers, cfg)
    else:
        res_groups = group_report(test_out, tg, speakers, cfg)
    timings["task_s"] = round(time.perf_counter() - t1, 3)
    res: dict[str, Any] = {
        "schema": SCHEMA,
        "model": {"spec": model_spec, "layers": feats.layer_ids, "frame_rate": feats.frame_rate},
        "manifest": {"path": str(manifest), "utterances": len(utts)},
        "attribute": cfg.attribute,
        "task": cfg.task,
        "groups": res_groups,
    }
    if cfg.counterfactual:
        res["counterfactual"] = _counterfactual(
            feats, out if cfg.task != "verification" else None, pairs, cfg, source
        )
    if cfg.leakage:
        t2 = time.perf_counter()
        res["leakage"] = _leakage(model_spec, feats, manifest, cfg)
        timings["leakage_s"] = round(time.perf_counter() - t2, 3)
    res["timings"] = {**timings, "total_s": round(time.perf_counter() - t0, 3)}
    res["config"] = to_dict(cfg)
    res = _clean(res)
    write_json(out_path / "results.json", res)
    with atomic_open(out_path / "summary.md") as f:
        f.write(fairness_markdown(res))
    return res


def verification_report(
    feats: Any, idx: list[int], groups: list[str], speakers: list[str], cfg: FairnessConfig
) -> dict[str, Any]:
    """Per-group EER of within-group trials on mean-pooled features (module docstring)."""
    li = len(feats.layer_ids) - 1 if cfg.layer is None else feats.layer_ids.index(cfg.layer)
    emb = feats.pooled(li).numpy()
    names = sorted(set(groups))
    trials = {}
    for g in names:
        rows = [k for k, h in enumerate(groups) if h == g]
        s, t, i, j = verification_trials(
            emb[[idx[k] for k in rows]], [speakers[k] for k in rows], cfg.max_trials, cfg.seed
        )
        trials[g] = (
            s,
            t,
            np.asarray([speakers[rows[a]] for a in i]),
            np.asarray([speakers[rows[b]] for b in j]),
        )
    eer = {g: gm.equal_error_rate(s, t) for g, (s, t, _, _) in trials.items()}
    finite = {g: v for g, v in eer.items() if math.isfinite(v)}
    res: dict[str, Any] = {
        "metric": "eer",
        "utterances": {g: groups.count(g) for g in names},
        "speakers": {g: len({s for s, h in zip(speakers, groups) if h == g}) for g in names},
        "layer": feats.layer_ids[li],
        "per_group": eer,
        "gap": gm.gap(finite).to_dict() if len(finite) >= 2 else None,
        "trials": {
            g: {"target": int(t.sum()), "nontarget": int((~t).sum())}
            for g, (_, t, _, _) in trials.items()
        },
    }
    if cfg.bootstrap:
        spk_names = sorted(set(speakers))
        pos = {s: n for n, s in enumerate(spk_names)}
        spk_group = [groups[speakers.index(s)] for s in spk_names]

        def stat(counts: np.ndarray) -> dict[str, float]:
            out = {}
            for g, (s, t, a, b) in trials.items():
                ca = counts[[pos[x] for x in a]]
                cb = counts[[pos[x] for x in b]]
                out[g] = gm.equal_error_rate(s, t, np.where(t, ca, ca * cb))
            return out

        res["ci"] = gm.bootstrap_groups(stat, spk_group, cfg.bootstrap, cfg.seed, cfg.confidence)
    return res


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.2f}" if pct else f"{v:.3f}"


def fairness_markdown(res: dict[str, Any]) -> str:
    """Readable summary of an ``essl.fairness/1`` results dict."""
    g = res["groups"]
    ci = g.get("ci", {})
    lines = [
        f"# Fairness audit: {res['model']['spec']}",
        "",
        f"Task **{res['task']}**, groups by **{res['attribute']}**, metric {g['metric']} (%), "
        f"{int(100 * res['config']['confidence'])}% speaker-bootstrap CIs.",
        "",
        "| group | value | CI low | CI high |",
        "|---|---|---|---|",
    ]
    for name, v in g["per_group"].items():
        c = ci.get(name, {})
        lines.append(f"| {name} | {_fmt(v)} | {_fmt(c.get('low'))} | {_fmt(c.get('high'))} |")
    if g.get("gap"):
        c = ci.get("gap", {})
        lines.append(
            f"| **gap (max − min)** | {_fmt(g['gap']['absolute'])} | {_fmt(c.get('low'))} "
            f"| {_fmt(c.get('high'))} |"
        )
        lines += [
            "",
            f"Relative gap (max − min) / min: {_fmt(g['gap']['relative'], False)}; "
            f"worst group: {g['gap']['worst']}.",
        ]
    for key in ("per_speaker_std", "demographic_parity_difference", "equalized_odds_difference"):
        if key in g:
            lines.append(f"- {key.replace('_', ' ')}: {_fmt(g[key], False)}")
    cf = res.get("counterfactual")
    if cf:
        lines += ["", f"## Counterfactual ({cf['source']}, {cf['pairs']} pairs)", ""]
        if "error_gap" in cf:
            lines.append(f"- error gap |e − e_cf|: {_fmt(cf['error_gap'].get('absolute'))} %")
        if "flip_rate" in cf:
            lines.append(
                f"- flip rate: {_fmt(cf['flip_rate'])} % of {cf['pairs_same_label']} pairs"
            )
        lines += ["", "| layer | twin dist | random dist | ratio |", "|---|---|---|---|"]
        for lid, r in cf["representation"].items():
            lines.append(
                f"| {lid} | {_fmt(r['twin'], False)} | {_fmt(r['random'], False)} "
                f"| {_fmt(r['ratio'], False)} |"
            )
    for attr, r in (res.get("leakage") or {}).items():
        if not isinstance(r, dict):
            continue
        lines += [
            "",
            f"## Leakage: {attr} probe (chance {_fmt(r['chance'])} %)",
            "",
            "| layer | accuracy % | random init % |",
            "|---|---|---|",
        ]
        for lid, v in r["layers"].items():
            lines.append(f"| {lid} | {_fmt(v['accuracy'])} | {_fmt(v['random_init'])} |")
    return "\n".join(lines) + "\n"


def _group(utt: Any, attribute: str) -> str | None:
    from essl.fairness.adversarial import attribute_value

    return attribute_value(utt, attribute)
