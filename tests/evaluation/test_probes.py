"""Linear probes, the SUPERB layer mix and the CTC phone recogniser on constructed features."""

from __future__ import annotations

import pytest
import torch

from essl.evaluation.ctc import CTCConfig, CTCData, edit_distance, fit_ctc_suite, greedy_decode
from essl.evaluation.probes import LayerMix, ProbeConfig, ProbeData, fit_probe_suite

FAST = ProbeConfig(steps=100, batch_size=256)


def _split(n: int, informative: bool, classes: int = 4, dim: int = 8) -> ProbeData:
    y = torch.randint(0, classes, (n,))
    noise = torch.randn(n, dim)
    signal = torch.nn.functional.one_hot(y, dim).float() * 3 + noise if informative else noise
    return ProbeData(x=[torch.randn(n, dim), signal], y=y)  # layer 0: noise, layer 1: signal


def _splits(informative: bool) -> dict[str, ProbeData]:
    return {k: _split(n, informative) for k, n in (("train", 300), ("dev", 100), ("test", 100))}


def test_separable_features_are_probed_accurately_and_the_informative_layer_wins(seed):
    res = fit_probe_suite(_splits(True), 4, [0, 1], FAST)
    assert res["best_layer"]["layer"] == 1
    assert res["best_layer"]["test"] > 0.9 and res["weighted_sum"]["test"] > 0.9
    assert res["per_layer"]["0"]["test"] < 0.45
    assert res["weighted_sum"]["weights"]["1"] > 0.5
    assert res["selection"] == "dev" and res["sizes"] == {"train": 300, "dev": 100, "test": 100}


def test_random_features_probe_near_chance(seed):
    res = fit_probe_suite(_splits(False), 4, [0, 1], FAST)
    assert res["best_layer"]["test"] < 0.4 and res["weighted_sum"]["test"] < 0.4
    assert 0.2 < res["chance"] < 0.4


def test_layer_mix_weights_are_a_distribution(seed):
    mix = LayerMix(5)
    with torch.no_grad():
        mix.logits.copy_(torch.randn(5))
    w = mix.weights.detach()
    assert w.sum().item() == pytest.approx(1.0) and (w >= 0).all()
    xs = [torch.full((2, 3), float(i)) for i in range(5)]
    assert torch.allclose(
        mix(xs).detach(), torch.full((2, 3), float((w * torch.arange(5.0)).sum()))
    )


def test_probe_selects_on_train_when_dev_is_empty(seed):
    sp = _splits(True)
    sp["dev"] = ProbeData(x=[x[:0] for x in sp["dev"].x], y=sp["dev"].y[:0])
    res = fit_probe_suite(sp, 4, [0, 1], FAST, weighted=False)
    assert res["selection"] == "train" and res["weighted_sum"] == {}


def test_edit_distance_and_greedy_decoding():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2, 3], [3, 2, 1]) == 2
    scores = torch.tensor([[0, 5, 0], [0, 5, 0], [9, 0, 0], [0, 5, 0], [0, 0, 7], [0, 0, 7.0]])
    assert greedy_decode(scores, 6) == [1, 1, 2]
    assert greedy_decode(scores, 2) == [1]


def _ctc_split(n: int, g: torch.Generator) -> CTCData:
    """One-hot phone features (4 phones, 3-5 frames each, no phone repeated back to back)."""
    xs, ys = [], []
    for _ in range(n):
        seq = [int(torch.randint(1, 5, (1,), generator=g))]
        while len(seq) < 6:
            p = int(torch.randint(1, 5, (1,), generator=g))
            if p != seq[-1]:
                seq.append(p)
        frames = [p for p in seq for _ in range(int(torch.randint(3, 6, (1,), generator=g)))]
        xs.append(torch.nn.functional.one_hot(torch.tensor(frames), 6).float())
        ys.append(seq)
    return CTCData(x=[xs], y=ys)


def test_ctc_probe_on_perfect_features_has_near_zero_phone_error_rate(seed):
    g = torch.Generator().manual_seed(0)
    sp = {k: _ctc_split(n, g) for k, n in (("train", 32), ("dev", 8), ("test", 8))}
    res = fit_ctc_suite(sp, 4, [0], CTCConfig(steps=150, lrs=(3e-2,)))
    assert res["metric"] == "per" and res["best_layer"]["test"] < 0.05
