"""wav2vec 2.0 and HuBERT tasks: assembly, labels, logs, autocast, overfitting a batch."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from essl.config import apply_overrides, from_dict, to_dict
from essl.data.batch import Batch
from essl.errors import ConfigError, EsslError
from essl.masking import MaskingConfig
from essl.models import conv_output_lengths, encoder_preset
from essl.objectives import (
    HubertLossConfig,
    HubertTask,
    ObjectiveConfig,
    Wav2Vec2LossConfig,
    Wav2Vec2Task,
    align_labels,
    build_task,
)
from essl.testing.configs import TINY_ENCODER, TINY_MASKING

TINY = TINY_ENCODER
MASK = TINY_MASKING
W2V = ObjectiveConfig(
    wav2vec2=Wav2Vec2LossConfig(num_vars=16, codevector_dim=16, final_dim=16, num_negatives=10)
)
HUB = ObjectiveConfig(name="hubert", hubert=HubertLossConfig(num_classes=8, final_dim=16))


def make_batch(B: int = 4, S: int = 3200, labels: bool = False) -> Batch:
    """B rows of S samples and shorter; labels at the encoder frame rate (159 for 3200)."""
    lengths = torch.tensor([S] + [S - 400 * i for i in range(1, B)])
    wavs = torch.randn(B, S) * (torch.arange(S)[None, :] < lengths[:, None])
    batch = Batch(wavs=wavs, lengths=lengths, utterances=[], offsets=torch.zeros(B).long())
    if labels:
        T = int(conv_output_lengths(torch.tensor([S]), TINY.conv_layers)[0])
        batch.labels = torch.randint(0, 8, (B, T))
    return batch


def test_objective_config_round_trips_through_dicts_and_overrides() -> None:
    cfg = apply_overrides(ObjectiveConfig(), ["wav2vec2.num_negatives=10"])
    assert cfg.wav2vec2.num_negatives == 10 and cfg.hubert.num_classes == 0
    hub = apply_overrides(cfg, ["name=hubert", "hubert.num_classes=100"])
    assert from_dict(ObjectiveConfig, to_dict(hub)) == hub
    with pytest.raises(ConfigError, match="num_classes"):
        apply_overrides(cfg, ["name=hubert"])


def test_build_task_picks_the_objective() -> None:
    assert isinstance(build_task(TINY, MASK, W2V), Wav2Vec2Task)
    hub = build_task(TINY, MASK, HUB)
    assert isinstance(hub, HubertTask) and hub.required_fields == ("labels",)
    with pytest.raises(ConfigError, match="num_classes"):
        build_task(TINY, MASK, ObjectiveConfig(name="hubert"))


def test_tiny_wav2vec2_task_has_hf_parameter_count() -> None:
    task = build_task(encoder_preset("tiny"), MaskingConfig(), ObjectiveConfig())
    assert sum(p.numel() for p in task.parameters()) == 5_180_416  # REFERENCE.md: 5.18M


def test_wav2vec2_logs_every_part(seed: int) -> None:
    task = build_task(TINY, MASK, W2V)
    out = task(make_batch())
    out.loss.backward()
    for key in ("loss", "contrastive", "diversity", "feature_penalty", "code_perplexity"):
        assert key in out.logs
    assert out.logs["temperature"] == 2.0
    assert 0.2 < out.logs["mask_fraction"] < 0.6
    assert out.num_frames == int(task.encoder.frame_lengths(make_batch().lengths).sum())
    assert 0 < out.masked_frames < out.num_frames
    task.on_update(10**7)
    assert task(make_batch()).logs["temperature"] == 0.5


def test_hubert_needs_labels_at_the_frame_rate(seed: int) -> None:
    task = build_task(TINY, MASK, HUB)
    with pytest.raises(EsslError, match=r"batch\.labels"):
        task(make_batch())
    batch = make_batch(labels=True)
    batch.labels = batch.labels[:, :150]
    with pytest.raises(EsslError, match="150 frames"):
        task(batch)
    batch.labels = make_batch(labels=True).labels[:, :157]  # 2 short: padded with -100
    assert torch.isfinite(task(batch).loss)


def test_align_labels_pads_truncates_and_blanks_padding() -> None:
    labels = torch.arange(12).view(2, 6)
    out = align_labels(labels, torch.tensor([5, 3]), 5)
    assert out.tolist() == [[0, 1, 2, 3, 4], [6, 7, 8, -100, -100]]
    out = align_labels(labels, torch.tensor([7, 7]), 7)
    assert out[:, 6].tolist() == [-100, -100]


def test_hubert_ignores_unmasked_labels_with_zero_weight(seed: int) -> None:
    task = build_task(TINY, MASK, HUB).eval()
    batch = make_batch(labels=True)
    mask = task.masker(task.encoder.frame_lengths(batch.lengths), 159)
    a = task(batch, mask=mask).loss
    batch.labels = torch.where(mask, batch.labels, (batch.labels + 1) % 8)
    assert torch.allclose(task(batch, mask=mask).loss, a)
    weighted = HubertTask(task.encoder, task.masker, replace(HUB.hubert, unmasked_weight=0.5))
    weighted.final_proj, weighted.label_embeddings = task.final_proj, task.label_embeddings
    assert not torch.allclose(weighted.eval()(batch, mask=mask).loss, a)


@pytest.mark.parametrize("objective", [W2V, HUB])
def test_task_runs_under_bf16_autocast(seed: int, objective: ObjectiveConfig) -> None:
    task = build_task(TINY, MASK, objective)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = task(make_batch(labels=True))
    out.loss.backward()
    assert torch.isfinite(out.loss)


@pytest.mark.slow
@pytest.mark.parametrize("objective", [W2V, HUB])
def test_tiny_model_overfits_a_fixed_batch(seed: int, objective: ObjectiveConfig) -> None:
    task = build_task(TINY, MASK, objective)
    batch = make_batch(B=2, S=2400, labels=True)
    opt = torch.optim.Adam(task.parameters(), lr=4e-3)
    losses = []
    for _ in range(16):
        torch.manual_seed(0)  # same mask, negatives and Gumbel noise each step
        out = task(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.logs["contrastive" if objective.name == "wav2vec2" else "masked_loss"])
    assert min(losses[-3:]) < 0.6 * losses[0], losses
