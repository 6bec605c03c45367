"""data2vec: EMA teacher schedule and state, top-K instance-normalised targets, exact resume."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from essl.data.batch import Batch
from essl.errors import ConfigError
from essl.masking import MaskingConfig, RandomSpanConfig
from essl.models import EncoderConfig
from essl.objectives import (
    Data2VecLossConfig,
    Data2VecTask,
    ObjectiveConfig,
    build_task,
    instance_norm_frames,
    regression_loss,
)

TINY = EncoderConfig(
    conv_layers=((32, 10, 5), (32, 3, 2), (32, 3, 2)),
    embed_dim=32,
    num_layers=3,
    num_heads=2,
    ffn_dim=64,
    pos_conv_kernel=16,
    pos_conv_groups=4,
    layer_drop=0.0,
    dropout=0.1,
    attention_dropout=0.1,
    feature_grad_mult=1.0,
)
MASK = MaskingConfig(random_span=RandomSpanConfig(mask_prob=0.5, mask_length=4))
D2V = Data2VecLossConfig(top_k=2, ema_anneal_updates=10)
OBJ = ObjectiveConfig(name="data2vec", data2vec=D2V)


def make_batch(B: int = 3, S: int = 3200) -> Batch:
    lengths = torch.tensor([S - 400 * i for i in range(B)])
    wavs = torch.randn(B, S) * (torch.arange(S)[None, :] < lengths[:, None])
    return Batch(wavs=wavs, lengths=lengths, utterances=[], offsets=torch.zeros(B).long())


def new_task(seed: int = 0) -> Data2VecTask:
    torch.manual_seed(seed)
    task = build_task(TINY, MASK, OBJ)
    assert isinstance(task, Data2VecTask)
    return task


def test_tau_rises_linearly_then_stays_constant() -> None:
    cfg = Data2VecLossConfig(ema_start=0.999, ema_end=0.9999, ema_anneal_updates=100)
    assert cfg.tau(0) == 0.999
    assert cfg.tau(50) == pytest.approx(0.99945)
    assert cfg.tau(100) == cfg.tau(10_000) == 0.9999
    assert Data2VecLossConfig(ema_anneal_updates=0).tau(0) == 0.9999


def test_ema_weights_are_checkpointed_buffers_not_parameters() -> None:
    task = new_task()
    D = TINY.embed_dim
    enc = sum(p.numel() for p in task.encoder.parameters())
    assert sum(p.numel() for p in task.parameters()) == enc + D * D + D
    keys = [k for k in task.state_dict() if k.startswith("ema.")]
    assert "ema_updates" in task.state_dict()
    transformer = [n for n, _ in task.encoder.named_parameters() if n.startswith("transformer.")]
    assert len(keys) == len(transformer)  # ema_transformer_only: front end is the student's


def test_teacher_targets_equal_the_students_eval_layers_before_any_update(seed: int) -> None:
    task = new_task()
    batch = make_batch()
    task.train()
    target, pad = task.teacher_targets(batch)
    assert task.encoder.training and not target.requires_grad
    again, _ = task.teacher_targets(batch)
    assert torch.equal(target, again)  # eval mode: no dropout
    task.encoder.eval()
    with torch.no_grad():
        out = task.encoder(batch.wavs, batch.lengths, layers=[2, 3])
    expected = torch.stack([instance_norm_frames(s, pad) for s in out.layer_states]).mean(0)
    torch.testing.assert_close(target, expected)


def test_on_update_moves_the_teacher_by_one_minus_tau(seed: int) -> None:
    task = new_task()
    name = "transformer.layers.0.fc1.weight"
    before = task.ema.get_buffer(name.replace(".", "__")).clone()
    student = dict(task.encoder.named_parameters())[name]
    with torch.no_grad():
        student.add_(1.0)
    task.on_update(5)
    tau = D2V.tau(5)
    after = task.ema.get_buffer(name.replace(".", "__"))
    torch.testing.assert_close(after, tau * before + (1 - tau) * student.detach())
    assert task.tau == tau


def test_training_then_resuming_from_state_dict_is_exact(seed: int) -> None:
    task = new_task()
    opt = torch.optim.SGD(task.parameters(), lr=0.1)
    batch = make_batch(B=2, S=2400)
    T = 119
    mask = task.masker(task.encoder.frame_lengths(batch.lengths), T)
    for step in range(1, 3):
        task(batch, mask=mask).loss.backward()
        opt.step()
        opt.zero_grad()
        task.on_update(step)
    resumed = new_task(seed=99)
    resumed.load_state_dict(task.state_dict())
    assert resumed.tau == task.tau == D2V.tau(2)
    for t in (task, resumed):
        t.eval()
    a, b = task(batch, mask=mask), resumed(batch, mask=mask)
    assert a.loss.item() == b.loss.item()
    assert torch.equal(task.teacher_targets(batch)[0], resumed.teacher_targets(batch)[0])


def test_loss_reaches_student_and_head_but_not_the_teacher(seed: int) -> None:
    task = new_task()
    out = task(make_batch())
    assert torch.isfinite(out.loss) and out.logs["target_var"] > 0
    out.loss.backward()
    assert task.final_proj.weight.grad is not None
    assert task.encoder.mask_embedding.grad is not None
    assert all(not b.requires_grad for b in task.ema.buffers())


def test_instance_norm_uses_valid_frames_only() -> None:
    x = torch.randn(2, 10, 4) * 3 + 1
    pad = torch.arange(10)[None, :] >= torch.tensor([10, 6])[:, None]
    y = instance_norm_frames(x, pad)
    valid = y[1, :6]
    torch.testing.assert_close(valid.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(valid.var(0, correction=0), torch.ones(4), atol=1e-3, rtol=0)
    assert y[1, 6:].abs().max() == 0
    torch.testing.assert_close(instance_norm_frames(x[1:, :6], pad[1:, :6]), y[1:, :6])


def test_regression_losses_on_hand_built_values() -> None:
    pred, target = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.1, 3.0]])
    assert regression_loss(pred, target).item() == pytest.approx((0.01 + 4.0) / 2)
    smooth = regression_loss(pred, target, "smooth_l1", beta=0.25)
    assert smooth.item() == pytest.approx((0.5 * 0.01 / 0.25 + (2.0 - 0.125)) / 2)
    assert regression_loss(pred[:0], target[:0]).item() == 0.0


def test_config_and_task_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="ema_start"):
        Data2VecLossConfig(ema_start=0.9999, ema_end=0.999).validate()
    with pytest.raises(ConfigError, match="loss"):
        Data2VecLossConfig(loss="l1").validate()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k"):
        build_task(TINY, MASK, replace(OBJ, data2vec=Data2VecLossConfig(top_k=4)))


def test_teacher_runs_on_the_ema_weights_not_the_students(seed: int) -> None:
    task = new_task()
    batch = make_batch(B=2)
    target, _ = task.teacher_targets(batch)
    with torch.no_grad():
        for name, p in task.encoder.named_parameters():
            if name.startswith("transformer."):
                p.mul_(1.5)
    assert torch.equal(task.teacher_targets(batch)[0], target)
    key = "transformer__pos_conv__conv__parametrizations__weight__original1"
    with torch.no_grad():
        task.ema.get_buffer(key).mul_(-1.0)  # weight-normed conv: the direction flips
    assert not torch.allclose(task.teacher_targets(batch)[0], target)
