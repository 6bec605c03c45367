import json

import pytest
import torch

from essl.targets.selection import (
    conditional_hsic,
    gaussian_kernel,
    hsic,
    optimise_weights,
    score_weights,
    select_pretext_tasks,
    sparsemax,
)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these small ops run faster than with contended threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sparsemax_is_a_sparse_distribution_that_keeps_the_order():
    z = torch.tensor([2.0, 1.5, 0.1, -1.0, 1.9], dtype=torch.float64)
    p = sparsemax(z)
    assert float(p.sum()) == pytest.approx(1.0)
    assert (p >= 0).all() and int((p == 0).sum()) >= 2
    order_p = torch.argsort(p, descending=True)[:3].tolist()
    assert order_p == torch.argsort(torch.softmax(z, -1), descending=True)[:3].tolist()
    torch.testing.assert_close(sparsemax(torch.tensor([0.5, 0.4])), torch.tensor([0.55, 0.45]))
    torch.testing.assert_close(sparsemax(torch.tensor([3.0, 0.0])), torch.tensor([1.0, 0.0]))
    batch = sparsemax(torch.randn(4, 6))
    torch.testing.assert_close(batch.sum(-1), torch.ones(4))


def test_hsic_is_near_zero_for_independent_and_large_for_dependent_variables(seed):
    x = torch.randn(200, 2)
    dep = hsic(gaussian_kernel(x), gaussian_kernel(x[:, :1] ** 2 + 0.05 * torch.randn(200, 1)))
    ind = hsic(gaussian_kernel(x), gaussian_kernel(torch.randn(200, 1)))
    assert float(dep) > 5 * float(ind)


def _planted(n_classes: int = 6, per_class: int = 30):
    """Data = class mean + noise u; 'leaky' tracks u (dependent given Y); 'label' and 'noise'
    are conditionally independent of the data given Y."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    means = torch.randn(n_classes, 4, generator=g) * 3
    u = torch.randn(len(y), 4, generator=g)
    data = means[y] + u
    pseudo = {
        "leaky": u[:, :1] + 0.1 * torch.randn(len(y), 1, generator=g),
        "label": y[:, None].double() + 0.3 * torch.randn(len(y), 1, generator=g),
        "noise": torch.randn(len(y), 1, generator=g),
    }
    return data, pseudo, [f"c{int(c)}" for c in y]


def test_selection_ranks_a_planted_conditionally_dependent_candidate_last():
    data, pseudo, labels = _planted()
    res = select_pretext_tasks(data, pseudo, labels, "custom")
    assert res.ranking[-1] == "leaky"
    assert res.scores["leaky"] > 3 * max(res.scores["label"], res.scores["noise"])
    assert res.weights["leaky"] == 0.0
    assert sum(res.weights.values()) == pytest.approx(1.0)
    assert res.num_classes == 6 and json.dumps(res.to_dict())


def test_optimised_weights_avoid_the_dependent_candidate():
    data, pseudo, labels = _planted(n_classes=4, per_class=20)
    weights = optimise_weights(data, pseudo, labels, steps=60)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["leaky"] < 0.2


def test_score_weights_softmax_is_dense_and_sparsemax_can_be_sparse():
    scores = {"a": 0.01, "b": 0.02, "c": 0.05}
    dense = score_weights(scores, sparse=False)
    sparse = score_weights(scores, sparse=True)
    assert all(v > 0 for v in dense.values())
    assert sparse["c"] == 0.0 and sparse["a"] >= sparse["b"]


def test_classes_too_small_are_skipped_and_none_left_is_an_error():
    data, pseudo, labels = _planted(n_classes=2, per_class=3)
    with pytest.raises(ValueError, match="4 or more"):
        conditional_hsic(data, pseudo["noise"], labels, min_group=4)


def test_cli_select_writes_weights_the_multitask_task_reads(tiny_corpus, tmp_path, capsys):
    import argparse

    from essl.cli.pretext import register
    from essl.objectives.multitask import read_pretext_weights

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    out = tmp_path / "weights.json"
    args = parser.parse_args(
        [
            "pretext",
            "select",
            str(tiny_corpus),
            "--downstream",
            "phone",
            "--candidates",
            "f0,voicing,rms,alpha_ratio",
            "--out",
            str(out),
        ]
    )
    assert args.handler(args) == 0
    assert "alpha_ratio" in capsys.readouterr().out
    weights = read_pretext_weights(out)
    assert set(weights) == {"f0", "voicing", "rms", "alpha_ratio"}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert json.loads(out.read_text())["downstream"] == "phone"
