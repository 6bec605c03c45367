"""Pure losses: wav2vec 2.0 contrastive (§3.2) and HuBERT masked prediction (§II-B)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from essl.objectives import losses
from essl.objectives.losses import (
    contrastive_loss,
    masked_prediction_loss,
    sample_negatives,
    wav2vec2_loss,
)


def test_distractors_are_other_masked_frames_of_the_same_utterance(seed: int) -> None:
    mask = torch.rand(4, 60) < 0.4
    idx, valid = sample_negatives(mask, 50, generator=torch.Generator().manual_seed(0))
    rows, _ = mask.nonzero(as_tuple=True)  # row of each masked frame, row-major
    N = rows.numel()
    assert idx.shape == (N, 50) and valid.all()
    assert (idx != torch.arange(N)[:, None]).all()  # never the positive
    assert (rows[idx] == rows[:, None]).all()  # same utterance
    assert idx.min() >= 0 and idx.max() < N  # masked frames only (indices into them)
    counts = torch.bincount(idx.flatten(), minlength=N)
    assert (counts > 0).all()  # every other masked frame gets drawn


def test_lone_masked_frame_has_no_valid_distractor() -> None:
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, 3] = True
    mask[1, 2:5] = True
    _, valid = sample_negatives(mask, 4)
    assert not valid[0].any() and valid[1:].all()


def test_logits_of_a_constructed_case() -> None:
    context = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    targets = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    negatives = torch.tensor([[1], [0]])
    out = contrastive_loss(context, targets, negatives, logit_temp=0.5)
    c = 2**-0.5
    expect = torch.tensor([[c, 0.0], [0.0, c]]) / 0.5
    assert torch.allclose(out.logits, expect, atol=1e-6)
    manual = F.cross_entropy(expect, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(out.loss, manual, atol=1e-6)
    assert float(out.accuracy) == 0.5  # row 0 ranks its positive first, row 1 does not


def test_accuracy_is_one_when_context_equals_target(seed: int) -> None:
    targets = torch.randn(40, 16)
    idx, valid = sample_negatives(torch.ones(2, 20, dtype=torch.bool), 10)
    out = contrastive_loss(targets.clone(), targets, idx, 0.1, negatives_valid=valid)
    assert float(out.accuracy) == 1.0
    assert torch.allclose(out.logits[:, 0], torch.full((40,), 10.0), atol=1e-4)


def test_distractor_identical_to_positive_gets_minus_inf(seed: int) -> None:
    targets = torch.randn(4, 8)
    targets[2] = targets[0]
    codes = torch.tensor([[1, 2], [3, 4], [1, 2], [5, 6]])
    negatives = torch.tensor([[1, 2], [0, 3], [0, 1], [0, 1]])
    for ids in (codes, None):
        out = contrastive_loss(torch.randn(4, 8), targets, negatives, 0.1, target_ids=ids)
        assert torch.isinf(out.logits[0, 2]) and torch.isinf(out.logits[2, 1])
        assert torch.isfinite(out.logits[[1, 3]]).all() and torch.isfinite(out.loss)


def test_gathered_and_full_similarity_paths_agree(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, targets = torch.randn(30, 8), torch.randn(30, 8)
    idx, _ = sample_negatives(torch.ones(3, 10, dtype=torch.bool), 5)
    a = contrastive_loss(context, targets, idx)
    monkeypatch.setattr(losses, "_FULL_SIMILARITY_MAX_ROWS", 0)
    b = contrastive_loss(context, targets, idx)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)


def test_wav2vec2_total_weights_its_parts() -> None:
    out = wav2vec2_loss(torch.tensor(2.0), torch.tensor(160.0), 640, torch.tensor(0.5), 0.1, 10.0)
    assert float(out.diversity) == pytest.approx(0.75)
    assert float(out.total) == pytest.approx(2.0 + 0.075 + 5.0)


def test_masked_prediction_equals_manual_cross_entropy(seed: int) -> None:
    logits, targets = torch.randn(6, 5), torch.tensor([0, 4, -100, 2, 2, 1])
    out = masked_prediction_loss(logits, targets)
    keep = targets != -100
    assert torch.allclose(out.masked, F.cross_entropy(logits[keep], targets[keep]))
    assert torch.allclose(out.total, out.masked)
    acc = (logits[keep].argmax(-1) == targets[keep]).float().mean()
    assert torch.allclose(out.masked_accuracy, acc)


def test_unmasked_frames_count_only_with_a_positive_weight(seed: int) -> None:
    m_logits, m_t = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    u_logits, u_t = torch.randn(5, 3), torch.tensor([1, 1, 2, 0, 0])
    zero = masked_prediction_loss(m_logits, m_t, u_logits, u_t, 1.0, 0.0)
    assert torch.allclose(zero.total, F.cross_entropy(m_logits, m_t))
    half = masked_prediction_loss(m_logits, m_t, u_logits, u_t, 0.5, 0.5)
    expect = 0.5 * F.cross_entropy(m_logits, m_t) + 0.5 * F.cross_entropy(u_logits, u_t)
    assert torch.allclose(half.total, expect)


def test_no_labelled_frames_gives_zero_not_nan() -> None:
    out = masked_prediction_loss(torch.randn(3, 4), torch.full((3,), -100))
    assert float(out.total) == 0.0
