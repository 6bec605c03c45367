"""Linear probes on frozen features, single best layer and SUPERB weighted sum of layers.

Protocol (fixed, seeded; after SUPERB, Yang et al. 2021, §3 "weighted sum" of layers):

* features of each layer are standardised with the training split's mean and std;
* a probe is a linear classifier, fed either one layer or ``Σ_l softmax(w)_l · x_l`` with
  learnable ``w`` (initialised equal);
* Adam, ``steps`` updates on shuffled minibatches of ``batch_size`` rows (full batch when the
  split is smaller), learning rate from ``lrs`` chosen by dev accuracy;
* **single layer**: every layer × every learning rate is trained; the best (layer, lr) on
  dev is reported on test. **weighted sum**: every learning rate; best on dev, on test.

Rows are frames (frame-level phone classification) or mean-pooled utterances (speaker,
sex, accent). Accuracy is reported with ``chance``: the majority-class rate of the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from essl.errors import ConfigError
from essl.evaluation._threads import single_thread_if_small

__all__ = [
    "LayerMix",
    "ProbeConfig",
    "ProbeData",
    "SuiteResult",
    "fit_probe_suite",
    "run_suite",
    "standardise",
]


@dataclass(kw_only=True)
class ProbeConfig:
    """Training protocol shared by the probes."""

    lrs: tuple[float, ...] = (1e-3, 1e-2)
    """Adam learning rates tried; the best on dev is kept."""
    steps: int = 300
    """Optimizer updates per probe."""
    batch_size: int = 1024
    """Rows (frames or utterances; utterances for CTC) per update."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    seed: int = 0
    """Seed of initialisation and shuffling (each probe restarts from it)."""

    def validate(self) -> None:
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ConfigError("probe.lrs: give one or more positive learning rates, e.g. 1e-3,1e-2")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("probe.steps and probe.batch_size must be >= 1")


@dataclass
class ProbeData:
    """Rows of one split: ``x[l]`` is (N, D) for stored layer l; ``y`` (N,) class indices."""

    x: list[torch.Tensor]
    y: torch.Tensor


class LayerMix(nn.Module):
    """Softmax-weighted sum of L layers (SUPERB); with one layer, the identity."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))

    @property
    def weights(self) -> torch.Tensor:
        """(L,) non-negative, summing to 1."""
        return torch.softmax(self.logits, 0)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(xs) == 1:
            return xs[0]
        w = self.weights
        return sum((w[i] * x for i, x in enumerate(xs)), torch.zeros_like(xs[0]))


def standardise(splits: dict[str, list[torch.Tensor]]) -> dict[str, list[torch.Tensor]]:
    """Per-layer z-scores of every split's (N, D) rows with the ``train`` split's statistics."""
    out: dict[str, list[torch.Tensor]] = {k: [] for k in splits}
    for layer, ref in enumerate(splits["train"]):
        mean, std = ref.mean(0), ref.std(0, unbiased=False).clamp_min(1e-5)
        for k, xs in splits.items():
            out[k].append((xs[layer] - mean) / std)
    return out


class _Linear(nn.Module):
    def __init__(self, num_layers: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.mix = LayerMix(num_layers)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head(self.mix(xs))


def _train(model: nn.Module, data: ProbeData, lr: float, cfg: ProbeConfig) -> nn.Module:
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    n = data.y.shape[0]
    perm, pos = torch.randperm(n, generator=g), 0
    for _ in range(cfg.steps):
        if pos >= n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        loss = nn.functional.cross_entropy(model([x[idx] for x in data.x]), data.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def _accuracy(model: nn.Module, data: ProbeData, chunk: int = 65_536) -> float:
    if data.y.numel() == 0:
        return float("nan")
    hits = 0
    for s in range(0, data.y.shape[0], chunk):
        pred = model([x[s : s + chunk] for x in data.x]).argmax(-1)
        hits += int((pred == data.y[s : s + chunk]).sum())
    return hits / data.y.shape[0]


Fit = Callable[[list[int], float], tuple[nn.Module, float, float]]
"""(layers, lr) → (probe, dev score, test score) where higher is better."""


@dataclass
class SuiteResult:
    """Single best layer and weighted-sum results of one probe task."""

    per_layer: dict[int, dict[str, float]] = field(default_factory=dict)
    best_layer: dict[str, Any] = field(default_factory=dict)
    weighted_sum: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_layer": {str(k): v for k, v in self.per_layer.items()},
            "best_layer": self.best_layer,
            "weighted_sum": self.weighted_sum,
        }


def run_suite(
    fit: Fit, num_layers: int, lrs: Sequence[float], layer_ids: Sequence[int], weighted: bool = True
) -> SuiteResult:
    """Try every (layer, lr) and, if ``weighted``, every lr for the mix; pick on dev."""
    res = SuiteResult()
    best: tuple[float, int, float, float] | None = None
    for layer in range(num_layers):
        runs = [(lr, *fit([layer], lr)[1:]) for lr in lrs]
        lr, dev, test = max(runs, key=lambda r: r[1])
        res.per_layer[layer_ids[layer]] = {"dev": dev, "test": test, "lr": lr}
        if best is None or dev > best[0]:
            best = (dev, layer_ids[layer], lr, test)
    assert best is not None
    res.best_layer = {"layer": best[1], "lr": best[2], "dev": best[0], "test": best[3]}
    if weighted and num_layers > 1:
        runs_w = [(lr, *fit(list(range(num_layers)), lr)) for lr in lrs]
        lr, model, dev, test = max(runs_w, key=lambda r: float(r[2]))
        mix = getattr(model, "mix", None)
        w = mix.weights.detach().tolist() if isinstance(mix, LayerMix) else []
        res.weighted_sum = {
            "lr": lr,
            "dev": dev,
            "test": test,
            "weights": {str(layer_ids[i]): v for i, v in enumerate(w)},
        }
    return res


def fit_probe_suite(
    splits: dict[str, ProbeData],
    num_classes: int,
    layer_ids: Sequence[int],
    cfg: ProbeConfig | None = None,
    weighted: bool = True,
) -> dict[str, Any]:
    """Linear-probe accuracy per layer, best layer and weighted sum (see module docstring).

    ``splits`` has ``train``, ``dev`` and ``test`` :class:`ProbeData` (dev may be empty:
    selection then uses train accuracy, reported as ``selection: "train"``).
    """
    cfg = cfg or ProbeConfig()
    cfg.validate()
    z = standardise({k: v.x for k, v in splits.items()})
    data = {k: ProbeData(x=z[k], y=splits[k].y) for k in splits}
    select = "dev" if data["dev"].y.numel() else "train"
    dim = data["train"].x[0].shape[1]

    def fit(layers: list[int], lr: float) -> tuple[nn.Module, float, float]:
        torch.manual_seed(cfg.seed)
        model = _Linear(len(layers), dim, num_classes)
        sub = {k: ProbeData(x=[d.x[i] for i in layers], y=d.y) for k, d in data.items()}
        rows = min(cfg.batch_size, int(sub["train"].y.numel()))
        with single_thread_if_small(rows * dim * len(layers)):
            _train(model, sub["train"], lr, cfg)
            return model, _accuracy(model, sub[select]), _accuracy(model, sub["test"])

    out = run_suite(fit, len(layer_ids), cfg.lrs, layer_ids, weighted).to_dict()
    out["chance"] = _chance(data["test"].y)
    out["selection"] = select
    out["sizes"] = {k: int(d.y.numel()) for k, d in data.items()}
    return out


def _chance(test_y: torch.Tensor) -> float:
    """Majority-class rate of the test split."""
    if test_y.numel() == 0:
        return float("nan")
    return float(torch.bincount(test_y).max()) / test_y.numel()
