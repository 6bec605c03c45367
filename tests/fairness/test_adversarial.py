"""SSL-level adversarial disentanglement: GRL task wrapper and Noé et al. alternating updates."""

from __future__ import annotations

import pytest
import torch

from essl.data.batch import Batch
from essl.data.manifest import Utterance
from essl.evaluation._threads import single_thread_if_small
from essl.fairness.adversarial import (
    AdversarialTask,
    AlternatingAdversary,
    attribute_ids,
    attribute_value,
)
from essl.fairness.grl import WeightSchedule
from essl.objectives import ObjectiveConfig, Wav2Vec2LossConfig, build_task
from essl.testing.configs import TINY_ENCODER, TINY_MASKING

TINY = TINY_ENCODER
MASK = TINY_MASKING
W2V = ObjectiveConfig(
    wav2vec2=Wav2Vec2LossConfig(num_vars=16, codevector_dim=16, final_dim=16, num_negatives=10)
)


def _batch(sexes: list[str | None]) -> Batch:
    B, S = len(sexes), 3200
    utts = [Utterance(id=f"u{i}", path="x.wav", duration=0.2, sex=s) for i, s in enumerate(sexes)]
    # the attribute is audible: louder rows are "male"
    gain = torch.tensor([2.0 if s == "male" else 0.5 for s in sexes])[:, None]
    return Batch(
        wavs=torch.randn(B, S) * gain,
        lengths=torch.full((B,), S),
        utterances=utts,
        offsets=torch.zeros(B, dtype=torch.long),
    )


def test_attribute_ids_map_groups_and_unknowns() -> None:
    utts = [
        Utterance(id=str(i), path="x", duration=1, sex=s, age=a)
        for i, (s, a) in enumerate([("male", 34), ("female", None), (None, "teens")])
    ]
    assert attribute_ids(utts, "sex", ["female", "male"]).tolist() == [1, 0, -100]
    assert [attribute_value(u, "age") for u in utts] == ["30s", None, "teens"]


def test_adversarial_task_adds_the_attribute_loss_and_reverses_its_encoder_gradient(
    seed: int,
) -> None:
    base = build_task(TINY, MASK, W2V)
    task = AdversarialTask(
        base, "sex", ["female", "male"], WeightSchedule(kind="constant", weight=0.5)
    )
    calls = []
    base.encoder.register_forward_hook(lambda *a: calls.append(1))
    batch = _batch(["male", "female", "male", None])
    torch.manual_seed(0)
    out = task(batch)
    assert len(calls) == 1  # the encoder ran once; the head reuses its output
    torch.manual_seed(0)
    base_out = base(batch)
    ce = out.loss - base_out.loss
    assert (
        float(ce.detach()) == pytest.approx(out.logs["adv_ce"], rel=1e-4) and "adv_acc" in out.logs
    )
    # gradient of the adversarial term alone: head descends, encoder gets −λ × that gradient
    p = base.encoder.projection.weight
    g_rev = torch.autograd.grad(ce, [p, task.head.net[0].weight], retain_graph=True)
    task.lambd = -1.0  # grad_reverse with −1 is the identity: the plain gradient
    torch.manual_seed(0)
    ce_plain = task(batch).loss - base_out.loss
    g_plain = torch.autograd.grad(ce_plain, [p, task.head.net[0].weight])
    torch.testing.assert_close(g_rev[0], -0.5 * g_plain[0], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(g_rev[1], g_plain[1])


def test_adversarial_task_updates_its_weight_and_the_base_on_update() -> None:
    base = build_task(TINY, MASK, W2V)
    task = AdversarialTask(
        base, "sex", ["female", "male"], WeightSchedule(kind="linear", total_updates=10)
    )
    task.on_update(5)
    assert task.lambd == pytest.approx(0.5)
    assert task.required_fields == base.required_fields


def test_alternating_adversary_trains_the_discriminator_k_times_then_the_encoder(seed: int) -> None:
    task = build_task(TINY, MASK, W2V)
    adv = AlternatingAdversary(
        task,
        "sex",
        ["female", "male"],
        discriminator_steps=3,
        schedule=WeightSchedule(kind="constant", weight=1.0),
        head_hidden=0,
    )
    opt = torch.optim.Adam(task.parameters(), lr=1e-3)
    disc_before = adv.disc.net.weight.detach().clone()
    enc_before = task.encoder.projection.weight.detach().clone()
    batch = _batch(["male", "female"] * 3)
    with single_thread_if_small(0):  # tiny ops: a second thread only stalls on a busy machine
        logs = adv.step(batch, opt, 0)
    assert adv.disc_opt.state[adv.disc.net.weight]["step"] == 3
    assert not torch.equal(disc_before, adv.disc.net.weight)
    assert not torch.equal(enc_before, task.encoder.projection.weight)
    assert adv.disc.net.weight.requires_grad  # unfrozen after the encoder step
    assert logs["adv_loss"] < 0  # the negated discriminator cross-entropy
    with single_thread_if_small(0):
        for step in range(1, 4):
            logs = adv.step(batch, opt, step)
    assert 0.0 <= logs["disc_acc"] <= 1.0
