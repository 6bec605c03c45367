"""Downstream debiasing: consistency loss, fair probes and the accuracy–gap Pareto front."""

from __future__ import annotations

import pytest
import torch

from essl.errors import ConfigError
from essl.fairness.downstream import (
    FairProbeConfig,
    ParetoPoint,
    consistency_loss,
    fit_fair_probe,
    pareto_front,
    sweep,
)


def test_pareto_front_keeps_exactly_the_non_dominated_points() -> None:
    pts = [
        ParetoPoint(0.0, 0.90, 0.20),
        ParetoPoint(0.1, 0.88, 0.10),
        ParetoPoint(0.3, 0.85, 0.12),
        ParetoPoint(1.0, 0.80, 0.02),
        ParetoPoint(3.0, 0.80, 0.05),
    ]
    front = pareto_front(pts)
    assert [p.weight for p in front] == [0.0, 0.1, 1.0]
    for p in front:  # nobody on the front is dominated
        assert not any(q.accuracy >= p.accuracy and q.gap <= p.gap and q != p for q in pts)
    for p in set(pts) - set(front):  # everybody off it is
        assert any(q.accuracy >= p.accuracy and q.gap <= p.gap for q in front)


def test_sweep_evaluates_every_weight() -> None:
    points, front = sweep(lambda w: (1 - w / 10, 1 / (1 + w)), [0, 1, 2])
    assert [p.weight for p in points] == [0, 1, 2] and front == points


def test_consistency_loss_is_zero_for_equal_posteriors_symmetric_and_positive() -> None:
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    for d in ("sym_kl", "l2"):
        assert float(consistency_loss(a, a + 3.0, d)) == pytest.approx(0.0, abs=1e-6)
        assert float(consistency_loss(a, b, d)) == pytest.approx(float(consistency_loss(b, a, d)))
        assert float(consistency_loss(a, b, d)) > 0


def _spurious(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """Content decides the label; the attribute dims correlate with it (spuriously) in training."""
    g = torch.Generator().manual_seed(seed)
    content = torch.randn(n, 4, generator=g)
    y = (content[:, 0] > 0).long()
    flip = torch.rand(n, generator=g) < 0.1
    group = torch.where(flip, 1 - y, y)  # group agrees with the label 90% of the time
    attr = (2.0 * group.float() - 1.0)[:, None] * torch.ones(1, 2) * 3.0
    x = torch.cat([content * 0.3, attr], 1)
    twins = torch.cat([content * 0.3, -attr], 1)  # same content, other group
    X = torch.cat([x, twins])
    Y = torch.cat([y, y])
    G = torch.cat([group, 1 - group])
    pairs = [(i, i + n) for i in range(n)]
    return X, Y, G, pairs


def test_counterfactual_probe_flips_fewer_predictions_between_twins_than_the_baseline() -> None:
    method = "counterfactual"
    X, Y, G, pairs = _spurious()
    cfg = dict(steps=300, lr=3e-3, hidden=32, seed=0)
    weight = 5.0
    # same rows (factual + twins) for both: only the consistency term differs
    base = fit_fair_probe(X, Y, G, 2, 2, FairProbeConfig(method="none", **cfg))
    fair = fit_fair_probe(
        X, Y, G, 2, 2, FairProbeConfig(method=method, weight=weight, **cfg), pairs=pairs
    )

    def flips(model: torch.nn.Module) -> float:
        with torch.no_grad():
            p = model(X).argmax(-1)
        return float((p[:400] != p[400:]).float().mean())

    assert flips(fair) < 0.5 * flips(base)


def test_counterfactual_method_without_pairs_is_rejected() -> None:
    X, Y, G, _ = _spurious(20)
    with pytest.raises(ConfigError, match="twin pairs"):
        fit_fair_probe(X, Y, G, 2, 2, FairProbeConfig(method="counterfactual"))


def test_gradient_reversal_makes_the_probe_attribute_head_less_accurate() -> None:
    g = torch.Generator().manual_seed(0)
    content = torch.randn(400, 4, generator=g)
    group = (torch.rand(400, generator=g) < 0.5).long()
    x = torch.cat(
        [content, (2.0 * group.float() - 1)[:, None] + torch.randn(400, 2, generator=g)], 1
    )
    y = (content[:, 0] > 0).long()

    def adversary_accuracy(weight: float) -> float:
        cfg = FairProbeConfig(method="adversarial", weight=weight, steps=400, lr=3e-3, hidden=32)
        m = fit_fair_probe(x, y, group, 2, 2, cfg)
        with torch.no_grad():
            return float((m.adversary(m.encode(x)).argmax(-1) == group).float().mean())

    # λ = 0 trains the same head without pushing back on the encoder
    assert adversary_accuracy(3.0) < adversary_accuracy(0.0) - 0.05
