"""Per-utterance scoring of a downstream task on frozen features (for group metrics).

:mod:`essl.evaluation.probes` and :mod:`essl.evaluation.ctc` report split-level scores; group
and counterfactual metrics need each utterance's errors and predictions. These functions
train the *same* probes with the same protocol (their model classes and training loops,
features standardised on train, SUPERB weighted sum of every extracted layer, learning rate
chosen on dev — on train when dev is empty) and then score utterances one by one:

* ``phone_ctc`` — edit distance of the greedy decode / reference phones;
* ``phone_probe`` — misclassified frames / frames;
* ``speaker_probe``, ``sex_probe``, ``accent_probe`` — 0/1 error of the mean-pooled
  utterance, with the predicted and true class ids;
* ``verification`` — no training: per utterance, nothing (EER is per trial, see
  :func:`verification_trials`).

Splits follow :mod:`essl.evaluation.tasks` (within-speaker for ``speaker_probe``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from essl.evaluation import ctc as ctc_mod
from essl.evaluation import probes
from essl.evaluation.frames import frame_phone_labels, phone_sequence, phone_vocabulary
from essl.evaluation.tasks import corpus_splits, speaker_splits

__all__ = ["Outcomes", "pooled_classifier", "score_task", "task_splits", "verification_trials"]

Splits = dict[str, list[int]]


@dataclass
class Outcomes:
    """Per-utterance results of a task on the scored utterances ``idx``."""

    idx: list[int]
    errors: np.ndarray
    """(U,) errors of each scored utterance (edits, wrong frames, 0/1)."""
    totals: np.ndarray
    """(U,) units the errors are counted over (reference phones, frames, 1)."""
    y_true: np.ndarray | None = None
    """(U,) class ids for utterance-level classification, else None."""
    y_pred: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)

    def take(self, keep: Sequence[int]) -> Outcomes:
        """The rows ``keep`` (positions in ``idx``)."""
        sel = np.asarray(keep, dtype=np.int64)
        return Outcomes(
            idx=[self.idx[k] for k in keep],
            errors=self.errors[sel],
            totals=self.totals[sel],
            classes=self.classes,
            y_true=None if self.y_true is None else self.y_true[sel],
            y_pred=None if self.y_pred is None else self.y_pred[sel],
        )


def task_splits(task: str, utts: Sequence[Any], seed: int) -> Splits:
    """Train/dev/test utterance indices for ``task`` (verification: everything is test)."""
    if task == "verification":
        return {"train": [], "dev": [], "test": list(range(len(utts)))}
    if task == "speaker_probe":
        return speaker_splits(utts, seed)
    return corpus_splits(utts, seed)[0]


def _pick_lr(fit: Any, lrs: Sequence[float]) -> Any:
    """The model of the best dev score over ``lrs`` (``fit(lr) → (model, dev score)``)."""
    return max((fit(lr) for lr in lrs), key=lambda r: r[1])[0]


def pooled_classifier(
    x: dict[str, list[torch.Tensor]],
    y: dict[str, torch.Tensor],
    num_classes: int,
    cfg: probes.ProbeConfig,
) -> tuple[torch.nn.Module, dict[str, list[torch.Tensor]]]:
    """Linear weighted-sum probe on per-split (N, D) rows per layer; returns it and the z-scored x."""
    z = probes.standardise(x)
    data = {k: probes.ProbeData(x=z[k], y=y[k]) for k in x}
    select = "dev" if data["dev"].y.numel() else "train"

    def fit(lr: float) -> tuple[torch.nn.Module, float]:
        torch.manual_seed(cfg.seed)
        model = probes._Linear(len(z["train"]), z["train"][0].shape[1], num_classes)
        probes._train(model, data["train"], lr, cfg)
        return model, probes._accuracy(model, data[select])

    return _pick_lr(fit, cfg.lrs).eval(), z


def _pooled(
    feats: Any, attr: str, splits: Splits, scored: list[int], cfg: probes.ProbeConfig
) -> Outcomes:
    values = [getattr(u, attr) for u in feats.utts]
    classes = sorted({v for v in values if v is not None})
    cid = {c: i for i, c in enumerate(classes)}
    pooled = [feats.pooled(li) for li in range(len(feats.layers))]
    scored = [i for i in scored if values[i] in cid]
    parts = {k: [i for i in v if values[i] is not None] for k, v in splits.items() if k != "test"}
    parts["test"] = scored
    x = {k: [p[idx] for p in pooled] for k, idx in parts.items()}
    y = {
        k: torch.tensor([cid[values[i]] for i in idx], dtype=torch.long) for k, idx in parts.items()
    }
    model, z = pooled_classifier(x, y, len(classes), cfg)
    with torch.no_grad():
        pred = model(z["test"]).argmax(-1).numpy()
    true = y["test"].numpy()
    return Outcomes(
        idx=scored,
        errors=(pred != true).astype(float),
        totals=np.ones(len(scored)),
        y_true=true,
        y_pred=pred,
        classes=classes,
    )


def _phone_frames(
    feats: Any, splits: Splits, scored: list[int], cfg: probes.ProbeConfig
) -> Outcomes:
    vocab = phone_vocabulary(feats.utts)
    index = {p: i for i, p in enumerate(vocab)}
    labels = [
        torch.from_numpy(frame_phone_labels(u.phones or (), f.shape[0], feats.frame_rate, index))
        for u, f in zip(feats.utts, feats.layers[0])
    ]
    parts = {"train": splits["train"], "dev": splits["dev"], "test": scored}
    x = {
        k: [
            torch.cat([lay[i] for i in idx]) if idx else torch.zeros(0, lay[0].shape[1])
            for lay in feats.layers
        ]
        for k, idx in parts.items()
    }
    y = {
        k: torch.cat([labels[i] for i in idx]) if idx else torch.zeros(0, dtype=torch.long)
        for k, idx in parts.items()
    }
    model, z = pooled_classifier(x, y, len(vocab), cfg)
    with torch.no_grad():
        wrong = (model(z["test"]).argmax(-1) != y["test"]).numpy()
    sizes = [labels[i].numel() for i in scored]
    ends = np.cumsum([0, *sizes])
    errors = np.array([wrong[ends[k] : ends[k + 1]].sum() for k in range(len(scored))], dtype=float)
    return Outcomes(idx=scored, errors=errors, totals=np.asarray(sizes, dtype=float))


def _phone_ctc(feats: Any, splits: Splits, scored: list[int], cfg: ctc_mod.CTCConfig) -> Outcomes:
    vocab = phone_vocabulary(feats.utts, with_silence=False)
    index = {p: i + 1 for i, p in enumerate(vocab)}
    parts = {"train": splits["train"], "dev": splits["dev"], "test": scored}
    raw = {
        k: ctc_mod.CTCData(
            x=[[lay[i] for i in idx] for lay in feats.layers],
            y=[[index[p] for p in phone_sequence(feats.utts[i].phones or ())] for i in idx],
        )
        for k, idx in parts.items()
    }
    data = ctc_mod._standardise(raw)
    select = "dev" if data["dev"].y else "train"

    def fit(lr: float) -> tuple[torch.nn.Module, float]:
        torch.manual_seed(cfg.seed)
        model = ctc_mod._CTCHead(len(feats.layers), data["train"].x[0][0].shape[1], len(vocab))
        ctc_mod._train(model, data["train"], lr, cfg)
        return model, -ctc_mod.phone_error_rate(model, data[select])

    model = _pick_lr(fit, cfg.lrs).eval()
    errors, totals = [], []
    with torch.no_grad():
        for u, ref in enumerate(data["test"].y):
            lp = model([layer[u][None] for layer in data["test"].x])[0]
            errors.append(ctc_mod.edit_distance(ctc_mod.greedy_decode(lp, lp.shape[0]), ref))
            totals.append(len(ref))
    return Outcomes(idx=scored, errors=np.asarray(errors, float), totals=np.asarray(totals, float))


def score_task(task: str, feats: Any, splits: Splits, extra: Sequence[int], cfg: Any) -> Outcomes:
    """Train ``task``'s probe on ``splits`` and score ``splits["test"] + extra`` per utterance.

    ``cfg`` carries ``probe`` (:class:`ProbeConfig`) and ``ctc`` (:class:`CTCConfig`).
    """
    scored = sorted({*splits["test"], *extra})
    if task == "phone_ctc":
        return _phone_ctc(feats, splits, scored, cfg.ctc)
    if task == "phone_probe":
        return _phone_frames(feats, splits, scored, cfg.probe)
    if task in ("speaker_probe", "sex_probe", "accent_probe"):
        return _pooled(feats, task.removesuffix("_probe"), splits, scored, cfg.probe)
    if task == "verification":
        return Outcomes(idx=scored, errors=np.zeros(len(scored)), totals=np.zeros(len(scored)))
    raise ValueError(f"unknown task {task}")


def verification_trials(
    emb: np.ndarray, speakers: Sequence[str], max_trials: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of (U, D) embeddings (seeded subsample above ``max_trials``).

    Returns (scores = cosine similarity, targets = same speaker, i, j), each (N,).
    """
    n = emb.shape[0]
    i, j = np.triu_indices(n, k=1)
    if len(i) > max_trials:
        keep = np.sort(np.random.default_rng(seed).choice(len(i), size=max_trials, replace=False))
        i, j = i[keep], j[keep]
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)
    spk = np.asarray(speakers)
    return (e[i] * e[j]).sum(1), spk[i] == spk[j], i, j
