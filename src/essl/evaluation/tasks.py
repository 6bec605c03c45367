"""One function per evaluation task, all on frozen :class:`CorpusFeatures`.

Each returns a JSON-ready dict. Layer-wise metrics put one entry per model layer under
``"layers"`` (keys are layer indices as strings); probes follow
:func:`essl.evaluation.probes.fit_probe_suite`.

Data splits (documented protocol):

* phone, CTC, sex and accent probes use the manifest's ``split`` (train/dev/test); when it is
  missing or lacks train or test utterances, a seeded 80/10/10 split of the utterances;
* the speaker probe needs every speaker in train and test, so it splits *each speaker's*
  utterances (seeded): 1 train + 1 test for 2 utterances; otherwise 20% test and 20% dev
  (at least one each) and the rest train; speakers with a single utterance are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from essl.evaluation.frames import SILENCE, frame_phone_labels, phone_sequence, phone_vocabulary
from essl.evaluation.probes import ProbeData, fit_probe_suite

if TYPE_CHECKING:
    from essl.evaluation.evaluate import EvalConfig
    from essl.evaluation.features import CorpusFeatures

__all__ = ["TASK_FUNCTIONS", "corpus_splits", "speaker_splits"]

Splits = dict[str, list[int]]


def corpus_splits(utts: Sequence[Any], seed: int) -> tuple[Splits, str]:
    """Utterance indices per split and where they came from (``manifest`` or ``random``)."""
    sp: Splits = {"train": [], "dev": [], "test": []}
    for i, u in enumerate(utts):
        if u.split in sp:
            sp[u.split].append(i)
    if sp["train"] and sp["test"]:
        return sp, "manifest"
    perm = np.random.default_rng(seed).permutation(len(utts)).tolist()
    n_test = n_dev = max(1, round(0.1 * len(utts)))
    return {
        "test": sorted(perm[:n_test]),
        "dev": sorted(perm[n_test : n_test + n_dev]),
        "train": sorted(perm[n_test + n_dev :]),
    }, "random"


def speaker_splits(utts: Sequence[Any], seed: int) -> Splits:
    """Within-speaker split of the utterances (see module docstring)."""
    by_spk: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(utts):
        if u.speaker is not None:
            by_spk[u.speaker].append(i)
    rng = np.random.default_rng(seed)
    sp: Splits = {"train": [], "dev": [], "test": []}
    for spk in sorted(by_spk):
        idx = [by_spk[spk][k] for k in rng.permutation(len(by_spk[spk])).tolist()]
        if len(idx) < 2:
            continue
        n_test = max(1, round(0.2 * len(idx)))
        n_dev = 0 if len(idx) == 2 else max(1, round(0.2 * len(idx)))
        sp["test"] += idx[:n_test]
        sp["dev"] += idx[n_test : n_test + n_dev]
        sp["train"] += idx[n_test + n_dev :]
    return {k: sorted(v) for k, v in sp.items()}


def _frames_of(feats: CorpusFeatures, layer: int, idx: Sequence[int]) -> torch.Tensor:
    d = feats.layers[layer][0].shape[1]
    return torch.cat([feats.layers[layer][i] for i in idx]) if idx else torch.zeros(0, d)


def _per_layer(feats: CorpusFeatures, fn: Any) -> dict[str, Any]:
    return {"layers": {str(lid): fn(li) for li, lid in enumerate(feats.layer_ids)}}


def task_rankme(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    from essl.evaluation.spectrum import rankme

    every = range(len(feats.utts))
    return _per_layer(
        feats, lambda li: rankme(_frames_of(feats, li, every), cfg.rank_samples, cfg.seed)
    )


def task_alpha_req(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    from essl.evaluation.spectrum import alpha_req

    def one(li: int) -> dict[str, Any]:
        r = alpha_req(
            _frames_of(feats, li, range(len(feats.utts))),
            max_samples=cfg.rank_samples,
            seed=cfg.seed,
        )
        return {"alpha": r.alpha, "r2": r.r2, "ranks": list(r.ranks)}

    return _per_layer(feats, one)


def task_abx(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    from essl.evaluation.abx import abx, abx_items

    items = abx_items(feats.utts)

    def one(li: int) -> dict[str, Any]:
        r = abx(feats.layers[li], items, feats.frame_rate, cfg.abx, device=cfg.device)
        return {
            "within": r.within,
            "across": r.across,
            "items": r.num_items,
            "groups": r.num_triplet_groups,
        }

    out = _per_layer(feats, one)
    out["frame_rate"] = feats.frame_rate
    out["config"] = {
        "max_size_group": cfg.abx.max_size_group,
        "max_x_across": cfg.abx.max_x_across,
        "seed": cfg.abx.seed,
    }
    return out


def _frame_labels(feats: CorpusFeatures) -> tuple[list[np.ndarray], list[str]]:
    vocab = phone_vocabulary(feats.utts)
    index = {p: i for i, p in enumerate(vocab)}
    labels = [
        frame_phone_labels(u.phones or (), f.shape[0], feats.frame_rate, index)
        for u, f in zip(feats.utts, feats.layers[0])
    ]
    return labels, vocab


def task_pnmi(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    from essl.evaluation.units import unit_quality
    from essl.targets.kmeans import KMeansConfig, fit_kmeans

    labels, _ = _frame_labels(feats)
    y = np.concatenate(labels)
    k = max(1, min(cfg.kmeans_clusters, len(y) // 4))

    def one(li: int) -> dict[str, Any]:
        x = _frames_of(feats, li, range(len(feats.utts))).numpy()
        km = fit_kmeans(x, KMeansConfig(num_clusters=k, seed=cfg.seed))
        return unit_quality(y, km.predict(x)).to_dict()

    out = _per_layer(feats, one)
    out["num_clusters"] = k
    return out


def task_phone_probe(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    labels, vocab = _frame_labels(feats)
    splits, source = corpus_splits(feats.utts, cfg.seed)
    data = {}
    for name, idx in splits.items():
        y = torch.from_numpy(np.concatenate([labels[i] for i in idx] or [np.zeros(0, np.int64)]))
        data[name] = ProbeData(
            x=[_frames_of(feats, li, idx) for li in range(len(feats.layers))], y=y
        )
    out = fit_probe_suite(data, len(vocab), feats.layer_ids, cfg.probe)
    return {**out, "split_source": source, "classes": vocab, "metric": "frame_accuracy"}


def task_phone_ctc(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    from essl.evaluation.ctc import CTCData, fit_ctc_suite

    vocab = phone_vocabulary(feats.utts, with_silence=False)
    index = {p: i + 1 for i, p in enumerate(vocab)}
    splits, source = corpus_splits(feats.utts, cfg.seed)
    data = {
        name: CTCData(
            x=[[lay[i] for i in idx] for lay in feats.layers],
            y=[[index[p] for p in phone_sequence(feats.utts[i].phones or ())] for i in idx],
        )
        for name, idx in splits.items()
    }
    out = fit_ctc_suite(data, len(vocab), feats.layer_ids, cfg.ctc)
    return {**out, "split_source": source, "classes": vocab}


def _pooled_probe(
    feats: CorpusFeatures, cfg: EvalConfig, attr: str, splits: Splits, source: str
) -> dict[str, Any]:
    values = [getattr(u, attr) for u in feats.utts]
    classes = sorted({v for v in values if v is not None})
    cid = {c: i for i, c in enumerate(classes)}
    pooled = [feats.pooled(li) for li in range(len(feats.layers))]
    data = {}
    for name, idx in splits.items():
        keep = [i for i in idx if values[i] is not None]
        data[name] = ProbeData(
            x=[p[keep] for p in pooled],
            y=torch.tensor([cid[values[i]] for i in keep], dtype=torch.long),
        )
    out = fit_probe_suite(data, len(classes), feats.layer_ids, cfg.probe)
    return {**out, "split_source": source, "classes": classes, "metric": "accuracy"}


def task_speaker_probe(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    return _pooled_probe(
        feats, cfg, "speaker", speaker_splits(feats.utts, cfg.seed), "within_speaker"
    )


def task_sex_probe(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    return _pooled_probe(feats, cfg, "sex", *corpus_splits(feats.utts, cfg.seed))


def task_accent_probe(feats: CorpusFeatures, cfg: EvalConfig) -> dict[str, Any]:
    return _pooled_probe(feats, cfg, "accent", *corpus_splits(feats.utts, cfg.seed))


TASK_FUNCTIONS = {
    "abx": task_abx,
    "rankme": task_rankme,
    "alpha_req": task_alpha_req,
    "pnmi": task_pnmi,
    "phone_probe": task_phone_probe,
    "phone_ctc": task_phone_ctc,
    "speaker_probe": task_speaker_probe,
    "sex_probe": task_sex_probe,
    "accent_probe": task_accent_probe,
}


def unsupported_reason(task: str, utts: Sequence[Any]) -> str | None:
    """Why ``task`` cannot run on ``utts`` (None if it can)."""
    aligned = [u for u in utts if u.phones]
    if task in ("abx", "pnmi", "phone_probe", "phone_ctc") and len(aligned) < len(utts):
        return (
            f"{len(utts) - len(aligned)} of {len(utts)} utterances have no phone alignments "
            "('phones' in the manifest)"
        )
    if task == "phone_ctc" and not any(
        p not in SILENCE for u in aligned for p, _, _ in u.phones or ()
    ):
        return "no non-pause phones in the alignments"
    attr = {
        "abx": "speaker",
        "speaker_probe": "speaker",
        "sex_probe": "sex",
        "accent_probe": "accent",
    }.get(task)
    if attr is None:
        return None
    values = {getattr(u, attr) for u in utts} - {None}
    if task == "abx":
        return None if values else "no speaker labels"
    if len(values) < 2:
        return f"fewer than 2 distinct '{attr}' values in the manifest ({len(values)})"
    if task == "speaker_probe" and not speaker_splits(utts, 0)["test"]:
        return "no speaker has 2 or more utterances"
    return None
