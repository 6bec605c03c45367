"""BEST-RQ: frozen random-projection targets of stacked log-Mel frames, noise-filled masks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from essl.data.batch import Batch
from essl.errors import ConfigError
from essl.models import STANDARD_CONV_LAYERS, conv_output_lengths
from essl.objectives import (
    BestRQLossConfig,
    BestRQTask,
    ObjectiveConfig,
    RandomProjectionQuantizer,
    build_task,
    stacked_log_mel,
)
from essl.testing.configs import TINY_ENCODER, TINY_MASKING

TINY = replace(
    TINY_ENCODER,
    conv_layers=tuple((32, k, s) for _, k, s in STANDARD_CONV_LAYERS),
    feature_grad_mult=0.1,
)
"""The standard front end's geometry (320-sample hop, 50 Hz) at 32 channels."""
MASK = TINY_MASKING
RQ = BestRQLossConfig(num_codebooks=2, codebook_size=64, codebook_dim=8)


def make_batch(B: int = 3, S: int = 16000) -> Batch:
    lengths = torch.tensor([S - 1200 * i for i in range(B)])
    t = torch.arange(S) / 16000
    f0 = torch.tensor([150.0, 220.0, 300.0])[:B, None]
    wavs = torch.sin(2 * torch.pi * f0 * t) * (1 + torch.sin(2 * torch.pi * 3 * t))
    wavs = (wavs + 0.05 * torch.randn(B, S)) * (torch.arange(S)[None, :] < lengths[:, None])
    return Batch(wavs=wavs, lengths=lengths, utterances=[], offsets=torch.zeros(B).long())


def test_quantizer_is_frozen_and_picks_the_nearest_codeword_by_cosine(seed: int) -> None:
    q = RandomProjectionQuantizer(input_dim=20, num_codebooks=3, size=50, dim=8)
    assert list(q.parameters()) == []
    assert set(q.state_dict()) == {"projection", "codebooks"}
    torch.testing.assert_close(q.codebooks.norm(dim=-1), torch.ones(3, 50))
    x = torch.randn(30, 20)
    codes = q(x)
    assert codes.shape == (30, 3)
    for g in range(3):
        z = F.normalize(x @ q.projection[g], dim=-1)
        cos = z @ q.codebooks[g].t()
        expected = torch.cdist(z, q.codebooks[g]).argmin(-1)  # unit vectors: same ranking
        assert torch.equal(codes[:, g], cos.argmax(-1)) and torch.equal(codes[:, g], expected)
    assert torch.equal(q(2.5 * x), codes)  # scale invariant (cosine after projection)


def test_stacked_log_mel_aligns_to_encoder_frames_and_is_normalised(seed: int) -> None:
    batch = make_batch()
    T = int(conv_output_lengths(torch.tensor([16000]), TINY.conv_layers)[0])
    x, ok = stacked_log_mel(batch.wavs, batch.lengths, 80, 2, T)
    assert x.shape == (3, T, 160) and ok.shape == (3, T)
    frames = conv_output_lengths(batch.lengths, TINY.conv_layers)
    assert ((ok.sum(1) - frames).abs() <= 1).all()  # 100 Hz / 2 vs the conv front end
    first = x[0][ok[0]][:, :80]  # first stacked half = even mel frames of row 0
    assert first.mean(0).abs().max() < 0.3 and (first.std(0) - 1).abs().max() < 0.3
    assert x[~ok].abs().max() == 0


def test_task_predicts_codes_with_one_head_per_codebook(seed: int) -> None:
    task = build_task(TINY, MASK, ObjectiveConfig(name="best_rq", best_rq=RQ))
    assert isinstance(task, BestRQTask) and len(task.heads) == 2
    enc = sum(p.numel() for p in task.encoder.parameters())
    assert sum(p.numel() for p in task.parameters()) == enc + 2 * (32 * 64 + 64)
    out = task(make_batch())
    assert torch.isfinite(out.loss) and out.masked_frames > 0
    assert out.logs["masked_loss"] == pytest.approx(out.loss.item())
    assert 0 < out.logs["mask_fraction"] < 1


def test_masked_frames_get_noise_not_the_mask_embedding(seed: int) -> None:
    task = build_task(TINY, MASK, ObjectiveConfig(name="best_rq", best_rq=RQ))
    before = {k: v.clone() for k, v in task.quantizer.state_dict().items()}
    task(make_batch()).loss.backward()
    assert task.encoder.mask_embedding.grad is None
    assert task.heads[0].weight.grad is not None
    assert task.encoder.projection.weight.grad is not None
    for k, v in task.quantizer.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.slow
def test_loss_falls_when_overfitting_one_batch(seed: int) -> None:
    task = build_task(TINY, MASK, ObjectiveConfig(name="best_rq", best_rq=RQ))
    batch = make_batch(B=2, S=8000)
    T = int(conv_output_lengths(torch.tensor([8000]), TINY.conv_layers)[0])
    frames = conv_output_lengths(batch.lengths, TINY.conv_layers)
    mask = task.masker(frames, T, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(task.parameters(), lr=5e-3)
    losses = []
    for _ in range(6):
        out = task(batch, mask=mask)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="codebook_size"):
        BestRQLossConfig(codebook_size=0).validate()
    with pytest.raises(ConfigError, match="noise_std"):
        BestRQLossConfig(noise_std=-1.0).validate()
