"""WavLM: utterance mixing (spans, energy ratios, determinism) and the denoising task."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from essl.data.batch import Batch
from essl.errors import ConfigError
from essl.models import conv_output_lengths
from essl.objectives import (
    HubertLossConfig,
    ObjectiveConfig,
    WavLMConfig,
    WavLMTask,
    build_task,
    mix_utterances,
)
from essl.testing.configs import TINY_ENCODER, TINY_MASKING

TINY = replace(
    TINY_ENCODER,
    feature_grad_mult=0.1,
    relative_position="wavlm",
    num_buckets=32,
    max_distance=64,
)
MASK = TINY_MASKING
OBJ = ObjectiveConfig(name="wavlm", hubert=HubertLossConfig(num_classes=8, final_dim=16))


def padded(B: int = 6, S: int = 4000, step: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([S - step * i for i in range(B)])
    wavs = torch.randn(B, S) * (torch.arange(S)[None, :] < lengths[:, None])
    return wavs, lengths


def overlay_span(clean: torch.Tensor, mixed: torch.Tensor) -> tuple[int, int]:
    changed = (mixed != clean).nonzero().flatten()
    return int(changed.min()), int(changed.max()) + 1


@pytest.mark.parametrize(("noise_prob", "snr"), [(0.0, (-5.0, 5.0)), (1.0, (-5.0, 20.0))])
def test_overlays_cover_at_most_half_at_the_drawn_energy_ratio(
    noise_prob: float, snr: tuple[float, float], seed: int
) -> None:
    cfg = WavLMConfig(mix_prob=1.0, noise_prob=noise_prob)
    wavs, lengths = padded()
    for trial in range(5):
        mixed, rows = mix_utterances(wavs, lengths, cfg, torch.Generator().manual_seed(trial))
        assert rows.all()
        for i in range(wavs.shape[0]):
            n = int(lengths[i])
            start, end = overlay_span(wavs[i], mixed[i])
            assert end <= n and end - start <= n // 2  # padding untouched, ≤ half
            residual = (mixed[i] - wavs[i])[start:end]
            ratio = 10 * math.log10(wavs[i, :n].pow(2).mean() / residual.pow(2).mean())
            assert snr[0] - 0.05 <= ratio <= snr[1] + 0.05


def test_utterance_overlays_come_from_other_rows_of_the_batch(seed: int) -> None:
    cfg = WavLMConfig(mix_prob=1.0, noise_prob=0.0)
    wavs, lengths = padded(B=3)
    mixed, _ = mix_utterances(wavs, lengths, cfg, torch.Generator().manual_seed(3))
    for i in range(3):
        start, end = overlay_span(wavs[i], mixed[i])
        residual = (mixed[i] - wavs[i])[start:end]
        scale = None
        for j in (j for j in range(3) if j != i):
            for s0 in range(int(lengths[j]) - (end - start) + 1):
                src = wavs[j, s0 : s0 + end - start]
                k = residual @ src / (src @ src)
                if torch.allclose(k * src, residual, atol=1e-4):
                    scale = k
                    break
            if scale is not None:
                break
        assert scale is not None and scale > 0


def test_mixing_is_deterministic_and_respects_mix_prob(seed: int) -> None:
    wavs, lengths = padded(B=64, S=1000, step=5)
    cfg = WavLMConfig(mix_prob=0.2)
    a, rows = mix_utterances(wavs, lengths, cfg, torch.Generator().manual_seed(7))
    b, _ = mix_utterances(wavs, lengths, cfg, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert 3 <= int(rows.sum()) <= 25  # Binomial(64, 0.2): mean 12.8
    assert torch.equal(a[~rows], wavs[~rows])
    none, rows0 = mix_utterances(wavs, lengths, replace(cfg, mix_prob=0.0))
    assert torch.equal(none, wavs) and not rows0.any()


def make_batch(B: int = 3, S: int = 3200) -> Batch:
    wavs, lengths = padded(B, S)
    T = int(conv_output_lengths(torch.tensor([S]), TINY.conv_layers)[0])
    batch = Batch(wavs=wavs, lengths=lengths, utterances=[], offsets=torch.zeros(B).long())
    batch.labels = torch.randint(0, 8, (B, T))
    return batch


def test_task_predicts_clean_labels_and_mixes_only_in_training(seed: int) -> None:
    task = build_task(TINY, MASK, replace(OBJ, wavlm=WavLMConfig(mix_prob=1.0)))
    assert isinstance(task, WavLMTask) and task.required_fields == ("labels",)
    batch = make_batch()
    T = batch.labels.shape[1]  # type: ignore[union-attr]
    mask = task.masker(task.encoder.frame_lengths(batch.lengths), T)
    task.eval()
    clean = task(batch, mask=mask)
    assert clean.logs["mixed_fraction"] == 0.0
    task.train()
    noisy = task(batch, mask=mask)
    assert noisy.logs["mixed_fraction"] == 1.0
    assert noisy.loss.item() != pytest.approx(clean.loss.item(), abs=1e-6)
    noisy.loss.backward()
    gate = task.encoder.transformer.layers[1].rel_gate
    assert gate is not None and gate.linear.weight.grad is not None
    rel = task.encoder.transformer.rel_pos
    assert rel is not None and rel.embed.weight.grad is not None


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="mix_prob"):
        WavLMConfig(mix_prob=1.5).validate()
    with pytest.raises(ConfigError, match="noise_snr"):
        WavLMConfig(noise_snr=(20.0, -5.0)).validate()
    with pytest.raises(ConfigError, match="num_classes"):
        ObjectiveConfig(name="wavlm").validate()
