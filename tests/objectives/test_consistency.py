"""ConsistencyTask / AugmentedTask: zero for identical views, gradients, both objectives."""

from __future__ import annotations

import math

import pytest
import torch

from essl.data.batch import Batch
from essl.data.manifest import Utterance
from essl.errors import ConfigError
from essl.models import conv_output_lengths
from essl.objectives import HubertLossConfig, ObjectiveConfig, Wav2Vec2LossConfig, build_task
from essl.objectives.consistency import (
    AugmentedTask,
    ConsistencyConfig,
    ConsistencyTask,
    consistency_loss,
    regularise,
)
from essl.perturb import Identity
from essl.perturb.augment import AugmentConfig
from essl.testing.configs import TINY_ENCODER, TINY_MASKING

TINY = TINY_ENCODER
MASK = TINY_MASKING
OBJECTIVES = {
    "wav2vec2": ObjectiveConfig(
        wav2vec2=Wav2Vec2LossConfig(num_vars=16, codevector_dim=16, final_dim=16, num_negatives=10)
    ),
    "hubert": ObjectiveConfig(name="hubert", hubert=HubertLossConfig(num_classes=8, final_dim=16)),
}
NOISE = AugmentConfig(conditions=("noise",), severity_ranges={"noise": (0.0, 5.0)}, probability=1.0)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny kernels: one thread avoids OpenMP stalls on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_batch(B: int = 3, S: int = 3200) -> Batch:
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([S - 400 * i for i in range(B)])
    wavs = 0.1 * torch.randn(B, S, generator=g) * (torch.arange(S)[None, :] < lengths[:, None])
    T = int(conv_output_lengths(torch.tensor([S]), TINY.conv_layers)[0])
    utts = [Utterance(id=f"u{i}", path=f"u{i}.wav", duration=0.2) for i in range(B)]
    return Batch(
        wavs=wavs,
        lengths=lengths,
        utterances=utts,
        offsets=torch.zeros(B).long(),
        labels=torch.randint(0, 8, (B, T), generator=g),
    )


def _task(objective: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_task(TINY, MASK, OBJECTIVES[objective])


@pytest.mark.parametrize("objective", ["wav2vec2", "hubert"])
@pytest.mark.parametrize("layer", [None, 1])
def test_identical_views_give_zero_consistency_and_leave_the_base_loss_unchanged(objective, layer):
    base = _task(objective)
    batch = make_batch()
    torch.manual_seed(1)
    plain = base(batch)
    task = ConsistencyTask(base, Identity(), weight=2.0, layer=layer)
    torch.manual_seed(1)
    out = task(batch)
    assert out.logs["consistency"] == pytest.approx(0.0, abs=1e-6)
    assert float(out.loss.detach()) == pytest.approx(float(plain.loss.detach()), rel=1e-6)
    assert out.masked_frames == plain.masked_frames


@pytest.mark.parametrize("objective", ["wav2vec2", "hubert"])
def test_perturbed_view_gives_positive_consistency_and_gradients_reach_the_encoder(objective):
    task = ConsistencyTask(_task(objective), NOISE, weight=1.0)
    torch.manual_seed(2)
    out = task(make_batch())
    assert out.logs["consistency"] > 1e-4
    assert out.logs["loss"] == pytest.approx(out.logs["base_loss"] + out.logs["consistency"])
    assert out.logs["loss"] == pytest.approx(float(out.loss.detach()))
    out.loss.backward()
    grads = [p.grad for p in task.encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_the_consistency_gradient_flows_through_the_perturbed_view_only_with_stop_gradient():
    z1 = torch.randn(2, 5, 4, requires_grad=True)
    z2 = torch.randn(2, 5, 4, requires_grad=True)
    frames = torch.tensor([5, 3])
    consistency_loss(z1.detach(), z2, frames).backward()
    assert z2.grad is not None and z1.grad is None
    assert (z2.grad[1, 3:] == 0).all(), "padded frames must not contribute"


def test_wrappers_keep_the_base_state_dict_so_checkpoints_load_into_the_plain_task():
    base = _task("wav2vec2")
    wrapped = regularise(base, ConsistencyConfig(perturbations=NOISE), NOISE)
    assert isinstance(wrapped, AugmentedTask)
    assert list(wrapped.state_dict()) == list(base.state_dict())
    fresh = _task("wav2vec2")
    fresh.load_state_dict(wrapped.state_dict())
    assert wrapped.encoder is base.encoder
    assert sum(1 for _ in wrapped.parameters()) == sum(1 for _ in base.parameters())


def test_augmented_consistent_task_is_deterministic_under_the_default_generator():
    wrapped = regularise(
        _task("hubert"),
        ConsistencyConfig(perturbations=NOISE),
        AugmentConfig(conditions=("noise", "bandlimit"), probability=0.5),
    )
    batch = make_batch()
    torch.manual_seed(4)
    a = wrapped(batch)
    torch.manual_seed(4)
    b = wrapped(batch)
    assert float(a.loss.detach()) == float(b.loss.detach()) and a.logs == b.logs
    assert 0.0 <= a.logs["augmented_fraction"] <= 1.0


def test_speed_is_refused_for_consistency():
    with pytest.raises(ConfigError, match="speed"):
        ConsistencyConfig(perturbations=AugmentConfig(conditions=("speed",))).validate()


def test_contrastive_consistency_is_lowest_when_frames_match_and_a_collapsed_encoder_scores_log_t():
    torch.manual_seed(0)
    z = torch.randn(2, 6, 8)
    frames = torch.tensor([6, 4])
    same = consistency_loss(z, z, frames, "contrastive", temperature=0.1)
    shuffled = consistency_loss(z, z[:, torch.randperm(6)], frames, "contrastive", 0.1)
    assert float(same) < float(shuffled)
    flat = torch.ones(2, 6, 8)
    collapsed = consistency_loss(flat, flat, frames, "contrastive", 0.1)
    expect = (6 * math.log(6) + 4 * math.log(4)) / 10
    assert float(collapsed) == pytest.approx(expect, rel=1e-5)


def test_contrastive_consistency_task_trains_both_objectives():
    for objective in ("wav2vec2", "hubert"):
        task = ConsistencyTask(_task(objective), NOISE, weight=0.5, distance="contrastive")
        out = task(make_batch())
        out.loss.backward()
        assert out.logs["consistency"] > 0
        assert any(p.grad is not None for p in task.encoder.parameters())
