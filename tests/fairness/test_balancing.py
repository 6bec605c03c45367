"""Group-balanced sampling weights, balanced manifests and loss reweighting."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from essl.data.manifest import Utterance, read_manifest
from essl.fairness.balancing import (
    balanced_manifest,
    group_loss_weights,
    group_sampling_weights,
    reweighted_loss,
)


def _utts(n_f: int, n_m: int) -> list[Utterance]:
    return [
        Utterance(
            id=f"u{i}",
            path=f"/a/u{i}.wav",
            duration=1.0 + i % 3,
            sex="female" if i < n_f else "male",
        )
        for i in range(n_f + n_m)
    ]


def test_sampling_weights_give_every_group_equal_mass() -> None:
    utts = _utts(2, 8)
    w = group_sampling_weights(utts, "sex")
    assert w.sum() == pytest.approx(1.0)
    assert w[:2].sum() == pytest.approx(0.5) and w[2:].sum() == pytest.approx(0.5)
    wd = group_sampling_weights(utts, "sex", by="duration")
    assert wd[:2].sum() == pytest.approx(0.5) and wd[0] / wd[1] == pytest.approx(1 / 2)


def test_balanced_manifest_draws_groups_equally_with_unique_ids(tmp_path: Path) -> None:
    utts = _utts(20, 180)
    out = balanced_manifest(
        utts, tmp_path / "m.jsonl", tmp_path / "bal.jsonl", "sex", num=2000, seed=0
    )
    back = read_manifest(tmp_path / "bal.jsonl")
    assert len(back) == 2000 and len({u.id for u in back}) == 2000 and out == back
    share = Counter(u.sex for u in back)["female"] / 2000
    assert share == pytest.approx(0.5, abs=0.04)


def test_loss_weights_average_one_and_equalise_group_totals() -> None:
    g = torch.tensor([0, 0, 0, 1, -100])
    w = group_loss_weights(g, 2)
    assert w[-1] == 0 and w[:4].mean() == pytest.approx(1.0)
    assert w[:3].sum() == pytest.approx(w[3])
    loss = torch.tensor([1.0, 1.0, 1.0, 3.0, 100.0])
    assert float(reweighted_loss(loss, g, 2)) == pytest.approx(2.0)
    fixed = group_loss_weights(g, 2, counts=torch.tensor([1, 1]))
    np.testing.assert_allclose(fixed[:4].numpy(), 1.0)
