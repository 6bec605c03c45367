"""Robustness sweeps: every evaluation task under named perturbations at several severities.

``run_robustness`` backs ``essl robustness MODEL MANIFEST OUT_DIR --conditions noise,reverb``.

Protocol (the deployment scenario; fixed and seeded):

* **Clean features once.** Every utterance is encoded once, clean
  (:func:`~essl.evaluation.features.extract_corpus_features`).
* **Probes** (phone, CTC, speaker, sex, accent) keep the splits of
  :mod:`essl.evaluation.tasks`: they are trained on *clean* train features, their layer and
  learning rate chosen on *clean* dev, and scored on the *perturbed* test utterances. Only
  test audio is perturbed for them. With ``train_perturbed`` each training utterance is,
  with probability ½ (seeded), replaced by a perturbed copy (condition and severity drawn
  uniformly from the sweep): multi-condition training of the probe; dev stays clean.
* **Label-free metrics** (ABX, RankMe, α-ReQ, PNMI) are recomputed on the perturbed
  audio of every utterance.
* **Perturbation per utterance**, with its own generator seeded from (seed, condition,
  severity, utterance id): results do not depend on batching, and the same seed gives the
  same results. Babble talkers come from up to 16 clean utterances of the probes' train
  split (of the whole corpus when only label-free tasks run), never the utterance itself.
* **Length changes** (``speed``): the perturbed features of an utterance are linearly
  resampled along time to its clean frame count, so phone alignments, ABX items and the
  frame-wise comparisons below stay valid (a speed change is a uniform time warp).
* **Representation stability** per layer, between clean and perturbed features of the
  same utterances: linear CKA (Kornblith et al. 2019, §3) on at most
  ``stability_frames`` seeded frames and the mean cosine of matching frames.
* **Curves.** Each task has one headline score: the probe's best-layer test score (layer
  chosen on clean dev), ABX within-speaker error / PNMI / RankMe at the layer that is best
  on clean audio (α-ReQ has no preferred direction: per-layer values only). Per condition:
  score vs severity, relative drop, normalised area under the curve and worst case
  (:mod:`essl.evaluation.robustness_metrics`).

Results of each (condition, severity) cell are cached under ``OUT_DIR/cache``: re-running
the same command resumes. Outputs: ``results.json`` (schema ``essl.robustness/1``),
``summary.md`` and ``plots/*.png|svg``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from essl.config import to_dict
from essl.errors import ConfigError
from essl.evaluation.evaluate import EvalConfig

__all__ = [
    "SCHEMA",
    "Headline",
    "RobustnessConfig",
    "headline",
    "perturb_utterance",
    "plot_curves",
    "run_robustness",
    "summarise",
    "summary_markdown",
]

SCHEMA = "essl.robustness/1"
LABEL_FREE = ("abx", "rankme", "alpha_req", "pnmi")
"""Tasks recomputed on perturbed audio of every utterance."""


@dataclass(kw_only=True)
class RobustnessConfig:
    """What to sweep and how."""

    conditions: tuple[str, ...] = ("noise", "reverb")
    """Condition names of :data:`essl.perturb.CONDITIONS`, or ``identity`` (sanity check)."""
    severities: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per condition, severities mild to severe (default: the condition's defaults)."""
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(tasks=("rankme", "phone_probe")))
    """Tasks, layers, seed, device and probe protocol (as for ``essl evaluate``)."""
    train_perturbed: bool = False
    """Train probes on a seeded half-clean, half-perturbed mix of the training audio."""
    probe_layers: Literal["best", "all"] = "best"
    """Under perturbation, ``best`` evaluates each task only at the layer its headline uses
    (chosen on clean audio; probe scores equal a full run's best-layer scores, several
    times faster); ``all`` evaluates every layer and the weighted sum."""
    stability_frames: int = 4096
    """Frames sampled (seeded) for linear CKA."""
    sample_rate: int = 16000
    """Rate the audio is loaded at."""
    plots: bool = True
    """Write PNG and SVG plots under ``OUT_DIR/plots``."""

    def validate(self) -> None:
        from essl.perturb import get_condition

        self.eval.validate()
        if not self.conditions:
            raise ConfigError("conditions: empty; name at least one, e.g. noise,reverb")
        for c in self.conditions:
            if c != "identity":
                get_condition(c)
        for c, sev in self.severities.items():
            if c not in self.conditions or not sev:
                raise ConfigError(f"severities.{c}: give severities only for listed conditions")
        if self.stability_frames < 2:
            raise ConfigError("stability_frames: must be >= 2")

    def severities_of(self, name: str) -> tuple[float, ...]:
        from essl.perturb import CONDITIONS

        if name in self.severities:
            return tuple(float(s) for s in self.severities[name])
        return (0.0,) if name == "identity" else tuple(map(float, CONDITIONS[name].severities))


def _seed_of(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def perturb_utterance(
    wave: np.ndarray,
    condition: str,
    severity: float,
    seed: int,
    utt_id: str,
    sample_rate: int = 16000,
    babble_pool: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Perturb one (S,) waveform with a generator seeded from (seed, condition, severity, id)."""
    from essl.evaluation._threads import single_thread_if_small
    from essl.perturb import Identity, get_condition

    if condition == "identity":
        p: Any = Identity()
    elif condition == "babble":
        pool = [torch.from_numpy(w) for w in babble_pool] or None
        p = get_condition(condition).make(severity, sample_rate=sample_rate, sources=pool)
    else:
        p = get_condition(condition).make(severity, sample_rate=sample_rate)
    g = torch.Generator().manual_seed(_seed_of(seed, condition, severity, utt_id))
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None]
    with single_thread_if_small(x.numel()):
        y, n, rec = p(x, torch.tensor([x.shape[1]]), g)
    return y[0, : int(n[0])].numpy(), rec[0]


@dataclass
class _Corpus:
    """Clean audio and features shared by every cell."""

    model: Any
    utts: list[Any]
    manifest: Path
    waves: dict[int, np.ndarray]
    clean: Any  # CorpusFeatures
    pool: list[tuple[int, np.ndarray]]
    cfg: RobustnessConfig


def _load_waves(
    utts: list[Any], manifest: Path, idx: Sequence[int], sr: int
) -> dict[int, np.ndarray]:
    from essl.data.audio import load_audio
    from essl.data.manifest import resolve_audio_path

    return {i: load_audio(resolve_audio_path(manifest, utts[i]), sample_rate=sr) for i in idx}


def _extract(c: _Corpus, waves: dict[int, np.ndarray]) -> dict[int, list[torch.Tensor]]:
    """Features of ``waves`` per utterance index; resampled to the clean frame counts."""
    from essl.evaluation.features import _batches, _run_batch

    order = sorted(waves, key=lambda i: len(waves[i]))
    out: dict[int, list[torch.Tensor]] = {}
    sr = c.cfg.sample_rate
    for b in _batches([len(waves[i]) / sr for i in order], c.cfg.eval.batch_seconds):
        idx = [order[k] for k in b]
        feats, frames = _run_batch(
            c.model, [waves[i] for i in idx], c.cfg.eval.layers, c.cfg.eval.device
        )
        for row, i in enumerate(idx):
            T = c.clean.layers[0][i].shape[0]
            out[i] = [_to_frames(f[row, : int(frames[row])].float().cpu(), T) for f in feats]
    return out


def _to_frames(x: torch.Tensor, T: int) -> torch.Tensor:
    """(T', D) → (T, D) by linear interpolation along time (identity when T' == T)."""
    if x.shape[0] == T:
        return x
    y = torch.nn.functional.interpolate(x.T[None], size=T, mode="linear", align_corners=False)
    return y[0].T.contiguous()


def _perturbed(
    c: _Corpus, idx: Sequence[int], cond: str, sev: float
) -> tuple[dict[int, list[torch.Tensor]], dict[str, float]]:
    waves, recs = {}, []
    for i in idx:
        pool = [w for j, w in c.pool if j != i]
        waves[i], rec = perturb_utterance(
            c.waves[i], cond, sev, c.cfg.eval.seed, c.utts[i].id, c.cfg.sample_rate, pool
        )
        recs.append(rec)
    return _extract(c, waves), _realised(recs)


def _realised(records: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of every numeric field of the per-utterance records (e.g. the SNR reached)."""
    keys = {
        k
        for r in records
        for k, v in r.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    return {k: float(np.mean([r[k] for r in records if k in r])) for k in sorted(keys)}


def _with(feats: Any, replace_rows: dict[int, list[torch.Tensor]]) -> Any:
    """A copy of CorpusFeatures with some utterances' features replaced."""
    from essl.evaluation.features import CorpusFeatures

    layers = [list(lay) for lay in feats.layers]
    for i, per_layer in replace_rows.items():
        for li, f in enumerate(per_layer):
            layers[li][i] = f
    return CorpusFeatures(
        utts=feats.utts,
        layers=layers,
        layer_ids=feats.layer_ids,
        frame_rate=feats.frame_rate,
        seconds=feats.seconds,
    )


def _splits(task: str, utts: list[Any], seed: int) -> dict[str, list[int]]:
    from essl.evaluation.tasks import corpus_splits, speaker_splits

    return speaker_splits(utts, seed) if task == "speaker_probe" else corpus_splits(utts, seed)[0]


def _stability(c: _Corpus, pert: dict[int, list[torch.Tensor]]) -> dict[str, Any]:
    from essl.evaluation.robustness_metrics import frame_cosine_similarity, linear_cka

    idx = sorted(pert)
    out = {}
    for li, lid in enumerate(c.clean.layer_ids):
        a = torch.cat([c.clean.layers[li][i] for i in idx])
        b = torch.cat([pert[i][li] for i in idx])
        n = a.shape[0]
        rows = torch.randperm(n, generator=torch.Generator().manual_seed(c.cfg.eval.seed))
        rows = rows[: c.cfg.stability_frames]
        cos = frame_cosine_similarity(a[None], b[None], torch.tensor([n]))
        out[str(lid)] = {"cka": linear_cka(a[rows], b[rows]), "cosine": cos}
    return {"layers": out, "frames": int(sum(c.clean.layers[0][i].shape[0] for i in idx))}


@dataclass
class Headline:
    """A task's headline score."""

    score: float
    higher_is_better: bool
    what: str
    """What the score is, e.g. ``test accuracy (layer 3)``."""
    layer: int
    """Model layer it comes from."""


def headline(task: str, res: dict[str, Any], clean: dict[str, Any]) -> Headline | None:
    """The headline of a task result (None for α-ReQ); the layer is chosen on ``clean``."""
    if "best_layer" in res:
        per = res.get("metric") == "per" or task == "phone_ctc"
        layer = int(res["best_layer"]["layer"])
        what = f"test {'PER' if per else 'accuracy'} (layer {layer})"
        return Headline(float(res["best_layer"]["test"]), not per, what, layer)
    key, hib = {"abx": ("within", False), "pnmi": ("pnmi", True), "rankme": (None, True)}.get(
        task, (None, None)
    )
    if hib is None or "layers" not in res:
        return None

    def value(r: dict[str, Any], lid: str) -> float:
        v = r["layers"][lid]
        return float(v if key is None else v[key])

    pick = max if hib else min
    lid = pick(clean["layers"], key=lambda k: value(clean, k))
    return Headline(value(res, lid), bool(hib), f"{key or task} (layer {lid})", int(lid))


def _only(feats: Any, lid: int | None) -> Any:
    """``feats`` restricted to model layer ``lid`` (None: unchanged)."""
    from essl.evaluation.features import CorpusFeatures

    if lid is None:
        return feats
    li = feats.layer_ids.index(lid)
    return CorpusFeatures(
        utts=feats.utts,
        layers=[feats.layers[li]],
        layer_ids=[lid],
        frame_rate=feats.frame_rate,
        seconds=feats.seconds,
    )


def _run_tasks(
    c: _Corpus,
    train_view: Any,
    cells: dict[int, list[torch.Tensor]],
    chosen: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Every task on features where ``cells`` replace the clean ones (see module docstring);
    ``chosen``: task → the only model layer to evaluate."""
    from essl.evaluation.evaluate import evaluate_features

    out: dict[str, Any] = {}
    cfg = c.cfg.eval
    chosen = chosen or {}
    for t in cfg.tasks or ():
        if t in LABEL_FREE:
            feats = _with(c.clean, cells)
        else:
            test = _splits(t, c.utts, cfg.seed)["test"]
            feats = _with(train_view, {i: cells[i] for i in test if i in cells})
        out.update(evaluate_features(_only(feats, chosen.get(t)), [t], cfg)[0])
    return out


def _chosen_layers(clean_res: dict[str, Any]) -> dict[str, int]:
    """Task → the model layer its headline uses (chosen on clean audio)."""
    out = {}
    for t, r in clean_res.items():
        h = headline(t, r, r)
        if h is not None:
            out[t] = h.layer
    return out


def _needed(c: _Corpus) -> list[int]:
    tasks = list(c.cfg.eval.tasks or ())
    if any(t in LABEL_FREE for t in tasks):
        return list(range(len(c.utts)))
    return sorted({i for t in tasks for i in _splits(t, c.utts, c.cfg.eval.seed)["test"]})


def _train_view(c: _Corpus, sweep: list[tuple[str, float]]) -> Any:
    """Clean features, or (``train_perturbed``) half the probe training utterances perturbed."""
    if not c.cfg.train_perturbed:
        return c.clean
    tasks = [t for t in (c.cfg.eval.tasks or ()) if t not in LABEL_FREE]
    train = sorted({i for t in tasks for i in _splits(t, c.utts, c.cfg.eval.seed)["train"]})
    rng = np.random.default_rng(_seed_of(c.cfg.eval.seed, "train_perturbed"))
    groups: dict[tuple[str, float], list[int]] = {}
    for i in train:
        if rng.random() < 0.5:
            groups.setdefault(sweep[int(rng.integers(len(sweep)))], []).append(i)
    rows: dict[int, list[torch.Tensor]] = {}
    for (cond, sev), idx in sorted(groups.items()):
        rows.update(_perturbed(c, idx, cond, sev)[0])
    return _with(c.clean, rows)


def run_robustness(
    model_spec: str,
    manifest: str | Path,
    out_dir: str | Path,
    cfg: RobustnessConfig | None = None,
    progress: bool = True,
    model: Any = None,
) -> dict[str, Any]:
    """Run the sweep and write results.json, summary.md and plots (see module docstring).

    ``model``: an in-memory model to use instead of loading ``model_spec`` (then only a label).
    """
    from essl._io import atomic_open, write_json
    from essl.data.manifest import read_manifest
    from essl.evaluation.evaluate import _subset, resolve_tasks
    from essl.evaluation.features import extract_corpus_features, load_model

    cfg = cfg or RobustnessConfig()
    cfg.validate()
    t0 = time.perf_counter()
    out = Path(out_dir)
    utts = _subset(read_manifest(manifest), cfg.eval.max_utterances, cfg.eval.seed)
    tasks_run = tuple(resolve_tasks(cfg.eval.tasks, utts)[0])
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, tasks=tasks_run))
    model = model if model is not None else load_model(model_spec, cfg.eval.device, cfg.eval.seed)
    model.eval()
    clean = extract_corpus_features(
        model,
        utts,
        manifest,
        cfg.eval.layers,
        cfg.eval.device,
        cfg.eval.batch_seconds,
        cfg.sample_rate,
    )
    feat_s = time.perf_counter() - t0
    tasks = list(tasks_run)
    probe_train = {
        i for t in tasks if t not in LABEL_FREE for i in _splits(t, utts, cfg.eval.seed)["train"]
    }
    pool_idx = sorted(probe_train or range(len(utts)))[:16]
    c = _Corpus(model, utts, Path(manifest), {}, clean, [], cfg)
    sweep = [(cond, s) for cond in cfg.conditions for s in cfg.severities_of(cond)]
    need = set(_needed(c)) | set(pool_idx) | (probe_train if cfg.train_perturbed else set())
    c.waves = _load_waves(utts, Path(manifest), sorted(need), cfg.sample_rate)
    c.pool = [(i, c.waves[i]) for i in pool_idx]
    train_view = _train_view(c, sweep)
    clean_res = _run_tasks(c, train_view, {})
    chosen = _chosen_layers(clean_res) if cfg.probe_layers == "best" else {}
    fingerprint = {
        "model": model_spec,
        "manifest": str(manifest),
        "utterances": len(utts),
        "config": to_dict(cfg),
    }
    conditions: dict[str, Any] = {
        cond: {"severities": list(cfg.severities_of(cond)), "cells": {}} for cond in cfg.conditions
    }
    it: Any = sweep
    if progress:
        from tqdm import tqdm

        it = tqdm(sweep, desc="robustness", unit="cell")
    for cond, sev in it:
        conditions[cond]["cells"][f"{sev:g}"] = _cell(
            c, train_view, cond, sev, out, fingerprint, chosen
        )
    res = {
        "schema": SCHEMA,
        "model": {
            "spec": model_spec,
            "class": type(model).__name__,
            "frame_rate": clean.frame_rate,
            "layers": clean.layer_ids,
        },
        "manifest": {
            "path": str(manifest),
            "utterances": len(utts),
            "hours": round(sum(u.duration for u in utts) / 3600, 4),
        },
        "seed": cfg.eval.seed,
        "tasks": tasks,
        "clean": clean_res,
        "conditions": conditions,
        "config": to_dict(cfg),
    }
    summarise(res)
    plots = plot_curves(res, out / "plots") if cfg.plots else []
    res["plots"] = [str(p.relative_to(out)) for p in plots]
    res["timings"] = {
        "clean_features_s": round(feat_s, 3),
        "total_s": round(time.perf_counter() - t0, 3),
    }
    write_json(out / "results.json", res)
    with atomic_open(out / "summary.md") as f:
        f.write(summary_markdown(res))
    return res


def _cell(
    c: _Corpus,
    train_view: Any,
    cond: str,
    sev: float,
    out: Path,
    fingerprint: dict[str, Any],
    chosen: dict[str, int],
) -> dict[str, Any]:
    """One (condition, severity): task results, stability, realised perturbation (cached)."""
    import json

    from essl._io import write_json

    path = out / "cache" / f"{cond}@{sev:g}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("fingerprint") == fingerprint:
            return dict(cached["cell"])
    start = time.perf_counter()
    cells, realised = _perturbed(c, _needed(c), cond, sev)
    cell = {
        "tasks": _run_tasks(c, train_view, cells, chosen),
        "stability": _stability(c, cells),
        "realised": realised,
        "utterances": len(cells),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(path, {"fingerprint": fingerprint, "cell": cell})
    return cell


def _ordered(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A condition's cells, mild to severe."""
    return [block["cells"][f"{s:g}"] for s in block["severities"]]


def summarise(res: dict[str, Any]) -> None:
    """Add ``headline`` (per task) and each condition's ``unit`` and ``summary`` to ``res``."""
    from dataclasses import asdict

    from essl.evaluation.robustness_metrics import summarize_curve
    from essl.perturb import CONDITIONS

    res["headline"] = {}
    for t in res["tasks"]:
        h = headline(t, res["clean"][t], res["clean"][t])
        if h is not None:
            res["headline"][t] = {
                "clean": h.score,
                "higher_is_better": h.higher_is_better,
                "what": h.what,
                "layer": h.layer,
            }
    for cond, block in res["conditions"].items():
        block["unit"] = CONDITIONS[cond].unit if cond in CONDITIONS else "none"
        sevs = block["severities"]
        block["summary"] = {}
        for t, h in res["headline"].items():
            scores = []
            for cell in _ordered(block):
                v = headline(t, cell["tasks"][t], res["clean"][t])
                scores.append(float("nan") if v is None else v.score)
            s = summarize_curve(h["clean"], sevs, scores, h["higher_is_better"])
            block["summary"][t] = asdict(s)


def plot_curves(res: dict[str, Any], plot_dir: Path) -> list[Path]:
    """One plot per (task, condition): headline vs severity, and the clean score; one
    stability plot per condition: linear CKA vs severity, a line per layer."""
    from essl.reports.plots import line_plot

    paths: list[Path] = []
    for cond, block in res["conditions"].items():
        sev = np.array(block["severities"])
        for t, h in res["headline"].items():
            y = np.array(block["summary"][t]["scores"])
            clean = np.full_like(y, h["clean"])
            paths += line_plot(
                [(f"perturbed ({cond})", sev, y), ("clean", sev, clean)],
                plot_dir / f"{t}_{cond}",
                xlabel=block["unit"],
                ylabel=h["what"],
                title=f"{t} under {cond}",
            )
        layers = _ordered(block)[0]["stability"]["layers"]
        series = [
            (
                f"layer {lid}",
                sev,
                np.array([c["stability"]["layers"][lid]["cka"] for c in _ordered(block)]),
            )
            for lid in layers
        ]
        paths += line_plot(
            series,
            plot_dir / f"stability_{cond}",
            xlabel=block["unit"],
            ylabel="linear CKA (clean vs perturbed)",
            title=f"stability: {cond}",
        )
    return [p for p in paths if p.suffix == ".png"] + [p for p in paths if p.suffix == ".svg"]


def _f(v: float) -> str:
    return "–" if v is None or v != v else f"{v:.3f}"


def summary_markdown(res: dict[str, Any]) -> str:
    """Markdown: per task a degradation table (condition × severity), then stability."""
    out = [
        f"# essl robustness: {res['model']['spec']}",
        "",
        f"- manifest: {res['manifest']['path']} ({res['manifest']['utterances']} utterances)",
        f"- seed {res['seed']}; probes trained on clean features"
        + (" (mixed with perturbed training audio)" if res["config"]["train_perturbed"] else "")
        + ", scored on perturbed test audio; label-free metrics on perturbed audio",
        "",
    ]
    for t, h in res["headline"].items():
        out += [
            f"## {t}: {h['what']} ({'higher' if h['higher_is_better'] else 'lower'} is "
            f"better), clean {_f(h['clean'])}",
            "",
            "| condition | severities | scores | AUC | worst | worst rel. drop |",
            "|---|---|---|---|---|---|",
        ]
        for cond, block in res["conditions"].items():
            s = block["summary"][t]
            drop = max((d for d in s["relative_drops"] if d == d), default=float("nan"))
            out.append(
                f"| {cond} ({block['unit']}) | {', '.join(f'{v:g}' for v in s['severities'])}"
                f" | {', '.join(_f(v) for v in s['scores'])} | {_f(s['auc'])} | "
                f"{_f(s['worst'])} @ {s['worst_severity']:g} | {_f(drop)} |"
            )
        out.append("")
    out += [
        "## Representation stability (linear CKA / mean frame cosine, per layer)",
        "",
        "| condition | severity | "
        + " | ".join(f"L{lid}" for lid in res["model"]["layers"])
        + " |",
        "|---|---|" + "---|" * len(res["model"]["layers"]),
    ]
    for cond, block in res["conditions"].items():
        for sev, cell in zip(block["severities"], _ordered(block), strict=True):
            st = cell["stability"]["layers"]
            out.append(
                f"| {cond} | {sev:g} | "
                + " | ".join(
                    f"{st[str(lid)]['cka']:.3f} / {st[str(lid)]['cosine']:.3f}"
                    for lid in res["model"]["layers"]
                )
                + " |"
            )
    out += ["", f"Timings (s): {res['timings']}", ""]
    return "\n".join(out)
