"""Phone recognition probe: a linear CTC head on frozen features, greedy decoding, PER.

Protocol (after SUPERB's PR task, Yang et al. 2021, §3, with a linear head as in its
"lightweight" setting; CTC of Graves et al. 2006): targets are each utterance's phone
sequence from its alignment with pauses removed (:func:`essl.evaluation.frames.phone_sequence`);
the head maps the (standardised, optionally layer-mixed) features to the phones plus a
blank (index 0); Adam for ``steps`` updates on minibatches of ``batch_size`` utterances;
greedy decoding (best class per frame, repeats merged, blanks dropped); phone error rate =
total Levenshtein distance / total reference phones. Learning rate and layer are chosen
on dev PER, reported on test (see :mod:`essl.evaluation.probes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from essl.evaluation._threads import single_thread_if_small
from essl.evaluation.probes import LayerMix, ProbeConfig, run_suite

__all__ = [
    "CTCConfig",
    "CTCData",
    "edit_distance",
    "fit_ctc_suite",
    "greedy_decode",
    "phone_error_rate",
]


@dataclass(kw_only=True)
class CTCConfig(ProbeConfig):
    """Probe protocol for CTC; ``batch_size`` counts utterances."""

    lrs: tuple[float, ...] = (1e-2, 3e-2)
    """Adam learning rates tried; higher than the classifiers' because a CTC head first sits
    on a blank-only plateau (with 300 steps, 1e-3 rarely leaves it)."""
    batch_size: int = 16
    """Utterances per update."""


@dataclass
class CTCData:
    """One split: ``x[l][u]`` (T_u, D) features of stored layer l; ``y[u]`` phone ids (1-based)."""

    x: list[list[torch.Tensor]]
    y: list[list[int]]


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance (unit substitution, insertion and deletion costs)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def greedy_decode(log_probs: torch.Tensor, frames: int, blank: int = 0) -> list[int]:
    """Best path of (T, C) scores over the first ``frames`` frames: merge repeats, drop blanks."""
    best = log_probs[:frames].argmax(-1).tolist()
    out, last = [], None
    for c in best:
        if c != last and c != blank:
            out.append(c)
        last = c
    return out


class _CTCHead(nn.Module):
    def __init__(self, num_layers: int, dim: int, num_phones: int) -> None:
        super().__init__()
        self.mix = LayerMix(num_layers)
        self.head = nn.Linear(dim, num_phones + 1)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head(self.mix(xs)).log_softmax(-1)  # (B, T, P + 1)


def _pad(seqs: Sequence[torch.Tensor]) -> torch.Tensor:
    return nn.utils.rnn.pad_sequence(list(seqs), batch_first=True)


def _train(model: nn.Module, data: CTCData, lr: float, cfg: CTCConfig) -> None:
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    n = len(data.y)
    perm, pos = torch.randperm(n, generator=g).tolist(), 0
    for _ in range(cfg.steps):
        if pos >= n:
            perm, pos = torch.randperm(n, generator=g).tolist(), 0
        idx = perm[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        xs = [_pad([layer[i] for i in idx]) for layer in data.x]
        lp = model(xs).transpose(0, 1)  # (T, B, C)
        frames = torch.tensor([data.x[0][i].shape[0] for i in idx])
        tgt = [torch.tensor(data.y[i], dtype=torch.long) for i in idx]
        loss = nn.functional.ctc_loss(
            lp,
            torch.cat(tgt),
            frames,
            torch.tensor([len(t) for t in tgt]),
            blank=0,
            zero_infinity=True,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def phone_error_rate(model: nn.Module, data: CTCData) -> float:
    """Total edit distance of greedy decodes over total reference length."""
    errors = total = 0
    for u, ref in enumerate(data.y):
        lp = model([layer[u][None] for layer in data.x])[0]
        errors += edit_distance(greedy_decode(lp, lp.shape[0]), ref)
        total += len(ref)
    return errors / max(total, 1)


def _standardise(splits: dict[str, CTCData]) -> dict[str, CTCData]:
    out = {k: CTCData(x=[], y=d.y) for k, d in splits.items()}
    for layer, ref in enumerate(splits["train"].x):
        cat = torch.cat(ref)
        mean, std = cat.mean(0), cat.std(0, unbiased=False).clamp_min(1e-5)
        for k, d in splits.items():
            out[k].x.append([(t - mean) / std for t in d.x[layer]])
    return out


def fit_ctc_suite(
    splits: dict[str, CTCData],
    num_phones: int,
    layer_ids: Sequence[int],
    cfg: CTCConfig | None = None,
    weighted: bool = True,
) -> dict[str, Any]:
    """PER per layer, best layer (on dev) and weighted sum; scores in the result are PERs."""
    cfg = cfg or CTCConfig()
    cfg.validate()
    data = _standardise(splits)
    select = "dev" if data["dev"].y else "train"
    dim = data["train"].x[0][0].shape[1]

    def fit(layers: list[int], lr: float) -> tuple[nn.Module, float, float]:
        torch.manual_seed(cfg.seed)
        model = _CTCHead(len(layers), dim, num_phones)
        sub = {k: CTCData(x=[d.x[i] for i in layers], y=d.y) for k, d in data.items()}
        longest = max(t.shape[0] for t in sub["train"].x[0])
        with single_thread_if_small(cfg.batch_size * longest * dim * len(layers)):
            _train(model, sub["train"], lr, cfg)
            return (
                model,
                -phone_error_rate(model, sub[select]),
                -phone_error_rate(model, sub["test"]),
            )

    out = run_suite(fit, len(layer_ids), cfg.lrs, layer_ids, weighted).to_dict()
    for rec in [*out["per_layer"].values(), out["best_layer"], out["weighted_sum"]]:
        for key in ("dev", "test"):
            if key in rec:
                rec[key] = -rec[key]  # back to PER (lower is better)
    out["metric"] = "per"
    out["selection"] = select
    out["sizes"] = {k: len(d.y) for k, d in data.items()}
    return out
