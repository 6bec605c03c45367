"""Pretext-task selection by conditional independence (Zaiem, Parcollet & Essid 2021,
"Conditional independence for pretext task selection in self-supervised speech representation
learning", Interspeech, §2–3; and 2022, "Pretext tasks selection for multitask self-supervised
audio representation learning", IEEE JSTSP, §III-C for the sparsemax weighting).

A good pretext pseudo-label ``Z`` is (close to) conditionally independent of the data ``X``
given the downstream label ``Y``. The estimator: for every downstream class ``y`` with at least
``min_group`` items, compute the HSIC (Gretton et al. 2005) between Gaussian kernels of the
items' data and of their pseudo-labels (bandwidth: median heuristic, per class and variable),
``HSIC = tr(K H L H) / (n − 1)²`` with ``H = I − 11ᵀ / n``; the score is the mean over
classes weighted by class size. **Lower = better.** Weights for a multitask combination are
``sparsemax(−z / temperature)`` of the z-normalised scores (sparse, sums to 1), or, with
``method="optimise"``, the 2022 recipe: λ = sparsemax(W) minimising the class-averaged HSIC
of the combined kernel ``exp(Σ_i λ_i log L_i)`` by gradient descent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "SelectionResult",
    "conditional_hsic",
    "corpus_items",
    "gaussian_kernel",
    "hsic",
    "optimise_weights",
    "score_weights",
    "select_pretext_tasks",
    "sparsemax",
]


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean projection of ``z`` onto the simplex (Martins & Astudillo 2016, Alg. 1)."""
    zs, _ = torch.sort(z, dim=dim, descending=True)
    k = torch.arange(1, z.shape[dim] + 1, device=z.device, dtype=z.dtype)
    shape = [1] * z.dim()
    shape[dim] = -1
    k = k.view(shape)
    cssv = zs.cumsum(dim) - 1
    support = (zs - cssv / k) > 0
    k_z = support.sum(dim=dim, keepdim=True).clamp(min=1)
    tau = cssv.gather(dim, k_z - 1) / k_z.to(z.dtype)
    return (z - tau).clamp(min=0)


def _sq_dists(x: torch.Tensor) -> torch.Tensor:
    x = x.reshape(x.shape[0], -1).double()
    return torch.cdist(x, x).pow(2)


def gaussian_kernel(x: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """(N, N) ``exp(−‖xi − xj‖² / (2σ²))``; σ = median of the non-zero pairwise distances."""
    d2 = _sq_dists(x)
    if bandwidth is None:
        nz = d2[d2 > 1e-12]
        bandwidth = float(nz.median().sqrt()) if nz.numel() else 1.0
    return torch.exp(-d2 / (2.0 * bandwidth**2))


def hsic(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Biased HSIC ``tr(K H L H) / (n − 1)²`` of two (n, n) kernel matrices."""
    n = K.shape[0]
    Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
    return (Kc * L).sum() / max(n - 1, 1) ** 2


def _groups(labels: Sequence[object], min_group: int) -> list[np.ndarray]:
    lab = np.asarray([str(x) for x in labels])
    out = []
    for y in sorted(set(lab.tolist())):
        idx = np.flatnonzero(lab == y)
        if len(idx) >= min_group:
            out.append(idx)
    return out


def conditional_hsic(
    data: torch.Tensor, pseudo: torch.Tensor, labels: Sequence[object], min_group: int = 4
) -> float:
    """Class-size-weighted mean of the within-class HSIC of (N, D) data and (N, d) pseudo-labels."""
    groups = _groups(labels, min_group)
    if not groups:
        raise ValueError(f"no downstream class has {min_group} or more items")
    total, count = 0.0, 0
    for idx in groups:
        i = torch.from_numpy(idx)
        total += len(idx) * float(hsic(gaussian_kernel(data[i]), gaussian_kernel(pseudo[i])))
        count += len(idx)
    return total / count


def score_weights(
    scores: Mapping[str, float], temperature: float = 1.0, sparse: bool = True
) -> dict[str, float]:
    """Sparsemax (or softmax) of ``−z`` / temperature, z = the scores standardised."""
    names = list(scores)
    s = torch.tensor([scores[n] for n in names], dtype=torch.float64)
    z = (s - s.mean()) / s.std() if len(s) > 1 and float(s.std()) > 0 else torch.zeros_like(s)
    logits = -z / temperature
    w = sparsemax(logits) if sparse else torch.softmax(logits, -1)
    return {n: float(v) for n, v in zip(names, w)}


def optimise_weights(
    data: torch.Tensor,
    pseudo: Mapping[str, torch.Tensor],
    labels: Sequence[object],
    steps: int = 200,
    lr: float = 0.1,
    min_group: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """λ = sparsemax(W) minimising the class-averaged HSIC of ``exp(Σ λ_i log L_i)`` (2022)."""
    names = list(pseudo)
    groups = [torch.from_numpy(g) for g in _groups(labels, min_group)]
    Ks = [gaussian_kernel(data[g]) for g in groups]
    logLs = [
        torch.stack([gaussian_kernel(pseudo[n][g]).log().clamp(-10, 0) for n in names])
        for g in groups
    ]  # each (C, n, n)
    gen = torch.Generator().manual_seed(seed)
    W = torch.nn.Parameter(
        torch.ones(len(names), dtype=torch.float64)
        + 0.05 * torch.randn(len(names), generator=gen, dtype=torch.float64)
    )
    opt = torch.optim.SGD([W], lr=lr, momentum=0.9)

    def objective() -> torch.Tensor:
        lam = sparsemax(W)
        parts = [hsic(K, torch.exp((lam[:, None, None] * lL).sum(0))) for K, lL in zip(Ks, logLs)]
        return torch.stack(parts).mean()

    scale = float(objective().detach()) or 1.0  # relative objective: lr independent of HSIC size
    for _ in range(steps):
        opt.zero_grad()
        (objective() / scale).backward()
        opt.step()
    return {n: float(v) for n, v in zip(names, sparsemax(W.detach()))}


@dataclass
class SelectionResult:
    """Ranking (best first: lowest conditional dependence) and weights of the candidates."""

    scores: dict[str, float]
    weights: dict[str, float]
    downstream: str
    num_items: int
    num_classes: int

    @property
    def ranking(self) -> list[str]:
        return sorted(self.scores, key=lambda n: self.scores[n])

    def to_dict(self) -> dict[str, object]:
        return {
            "downstream": self.downstream,
            "scores": self.scores,
            "weights": self.weights,
            "ranking": self.ranking,
            "num_items": self.num_items,
            "num_classes": self.num_classes,
        }


def select_pretext_tasks(
    data: torch.Tensor,
    pseudo: Mapping[str, torch.Tensor],
    labels: Sequence[object],
    downstream: str = "custom",
    method: str = "scores",
    temperature: float = 1.0,
    min_group: int = 4,
) -> SelectionResult:
    """Score every candidate and weight them (``method``: ``scores``, ``softmax`` or ``optimise``)."""
    scores = {n: conditional_hsic(data, p, labels, min_group) for n, p in pseudo.items()}
    if method == "optimise":
        weights = optimise_weights(data, pseudo, labels, min_group=min_group)
    elif method in ("scores", "softmax"):
        weights = score_weights(scores, temperature, sparse=method == "scores")
    else:
        raise ValueError(f"method '{method}': use scores, softmax or optimise")
    return SelectionResult(
        scores=scores,
        weights=weights,
        downstream=downstream,
        num_items=len(labels),
        num_classes=len(_groups(labels, min_group)),
    )


def corpus_items(
    manifest_path: str,
    downstream: str,
    candidates: Sequence[str],
    max_per_class: int = 40,
    max_utterances: int = 400,
    seed: int = 0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[str]]:
    """Items of a corpus for selection: (N, 40) mean log-Mel data, pseudo-labels, class labels.

    ``downstream="speaker"``: one item per utterance (utterance means), class = speaker.
    ``"phone"`` / ``"word"``: one item per aligned phone / word token (pauses skipped), its
    frames being those whose centre lies in the span; class = the phone / word label. At most
    ``max_per_class`` items per class are kept (random, seeded).
    """
    from essl.data.manifest import read_manifest
    from essl.errors import EsslError
    from essl.masking.boundaries.detect import load_waves
    from essl.targets.pretext import pretext_targets

    utts = read_manifest(manifest_path)
    rng = np.random.default_rng(seed)
    if len(utts) > max_utterances:
        utts = [utts[i] for i in sorted(rng.choice(len(utts), max_utterances, replace=False))]
    names = ["log_mel", *candidates]
    data, pseudo, labels = [], {n: [] for n in candidates}, []  # type: ignore[var-annotated]
    for start in range(0, len(utts), 16):
        chunk = utts[start : start + 16]
        waves = load_waves(manifest_path, chunk)
        lengths = torch.tensor([len(w) for w in waves])
        wavs = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            wavs[i, : len(w)] = torch.from_numpy(w)
        tg = pretext_targets(wavs, lengths, names)
        for i, u in enumerate(chunk):
            for lab, lo, hi in _item_spans(u, downstream, int(tg.lengths[i])):
                data.append(tg.get("log_mel")[i, lo:hi].mean(0))
                for n in candidates:
                    pseudo[n].append(tg.get(n)[i, lo:hi].mean(0))
                labels.append(lab)
    if not labels:
        raise EsslError(
            f"{manifest_path}: no items for downstream '{downstream}' (needs "
            f"{'speakers' if downstream == 'speaker' else downstream + ' alignments'})"
        )
    keep = _cap_per_class(labels, max_per_class, rng)
    return (
        torch.stack(data)[keep],
        {n: torch.stack(v)[keep] for n, v in pseudo.items()},
        [labels[i] for i in keep],
    )


def _item_spans(utt: object, downstream: str, frames: int) -> list[tuple[str, int, int]]:
    from essl.evaluation.frames import SILENCE

    if downstream == "speaker":
        spk = getattr(utt, "speaker", None)
        return [(spk, 0, frames)] if spk and frames > 0 else []
    spans = getattr(utt, "phones" if downstream == "phone" else "words", None) or ()
    out = []
    for lab, s, e in spans:
        # frame t (samples [320 t, 320 t + 400)) has its centre at t / 50 + 0.0125 s
        lo, hi = int(np.ceil(s * 50 - 0.625)), min(int(np.ceil(e * 50 - 0.625)), frames)
        if lab not in SILENCE and hi > lo:
            out.append((lab, lo, hi))
    return out


def _cap_per_class(labels: Sequence[str], cap: int, rng: np.random.Generator) -> list[int]:
    lab = np.asarray(labels)
    keep: list[int] = []
    for y in sorted(set(labels)):
        idx = np.flatnonzero(lab == y)
        keep.extend(
            rng.choice(idx, cap, replace=False).tolist() if len(idx) > cap else idx.tolist()
        )
    return sorted(keep)
