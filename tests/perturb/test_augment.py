"""augment_batch: probability, lengths, records in extras, determinism per generator state."""

from __future__ import annotations

import math

import pytest
import torch

from essl.data.batch import Batch
from essl.data.manifest import Utterance
from essl.errors import ConfigError, EsslError
from essl.perturb.augment import AugmentConfig, augment_batch

CONDITIONS = ("noise", "bandlimit", "clipping", "babble")


def _batch(B: int = 4, S: int = 8000, labels: bool = False) -> Batch:
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([S - 1000 * i for i in range(B)])
    wavs = 0.1 * torch.randn(B, S, generator=g)
    wavs *= torch.arange(S)[None, :] < lengths[:, None]
    utts = [Utterance(id=f"u{i}", path=f"u{i}.wav", duration=1.0) for i in range(B)]
    lab = torch.zeros(B, S // 320, dtype=torch.long) if labels else None
    return Batch(wavs=wavs, lengths=lengths, utterances=utts, offsets=torch.zeros(B), labels=lab)


def test_probability_zero_leaves_the_batch_unchanged_and_records_nothing_applied():
    b = _batch()
    out = augment_batch(b, AugmentConfig(conditions=CONDITIONS, probability=0.0), None)
    assert torch.equal(out.wavs, b.wavs) and torch.equal(out.lengths, b.lengths)
    assert (out.extras["augment_condition"] == -1).all()
    assert torch.isnan(out.extras["augment_severity"]).all()


def test_probability_one_perturbs_every_row_and_keeps_padding_zero():
    b = _batch()
    cfg = AugmentConfig(conditions=CONDITIONS, probability=1.0)
    out = augment_batch(b, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(out.lengths, b.lengths) and out.wavs.shape == b.wavs.shape
    for r in range(4):
        n = int(b.lengths[r])
        assert not torch.equal(out.wavs[r, :n], b.wavs[r, :n]), f"row {r} unchanged"
        assert (out.wavs[r, n:] == 0).all()
    kinds = out.extras["augment_condition"]
    assert ((kinds >= 0) & (kinds < len(CONDITIONS))).all()
    for k, s in zip(kinds.tolist(), out.extras["augment_severity"].tolist(), strict=True):
        lo, hi = cfg.range_of(CONDITIONS[k])
        assert lo <= s <= hi


def test_same_generator_state_gives_the_same_batch_and_another_state_differs():
    b = _batch()
    cfg = AugmentConfig(conditions=CONDITIONS, probability=0.7)
    a1 = augment_batch(b, cfg, torch.Generator().manual_seed(5))
    a2 = augment_batch(b, cfg, torch.Generator().manual_seed(5))
    a3 = augment_batch(b, cfg, torch.Generator().manual_seed(6))
    assert torch.equal(a1.wavs, a2.wavs)
    assert torch.equal(a1.extras["augment_condition"], a2.extras["augment_condition"])
    assert not torch.equal(a1.wavs, a3.wavs)


def test_default_generator_is_used_and_replayed_after_restoring_its_state():
    b = _batch()
    cfg = AugmentConfig(conditions=CONDITIONS, probability=0.5)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    first = augment_batch(b, cfg, None)
    torch.set_rng_state(state)
    again = augment_batch(b, cfg, None)
    assert torch.equal(first.wavs, again.wavs)


def test_seeded_config_ties_the_augmentation_to_the_crop_not_the_stream():
    b = _batch()
    cfg = AugmentConfig(conditions=CONDITIONS, probability=1.0, seed=7)
    a1 = augment_batch(b, cfg, torch.Generator().manual_seed(1))
    a2 = augment_batch(b, cfg, torch.Generator().manual_seed(2))
    assert torch.equal(a1.wavs, a2.wavs)


def test_speed_updates_lengths_and_is_refused_with_frame_labels():
    cfg = AugmentConfig(
        conditions=("speed",), severity_ranges={"speed": (0.8, 0.8)}, probability=1.0
    )
    b = _batch()
    out = augment_batch(b, cfg, torch.Generator().manual_seed(0))
    expect = [round(n / 0.8) for n in b.lengths.tolist()]
    assert all(abs(a - e) <= 1 for a, e in zip(out.lengths.tolist(), expect, strict=True))
    assert out.wavs.shape[1] >= int(out.lengths.max())
    assert math.isclose(float(out.extras["augment_severity"][0]), 0.8, rel_tol=1e-6)
    with pytest.raises(EsslError, match="speed"):
        augment_batch(_batch(labels=True), cfg, torch.Generator().manual_seed(0))


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="probability"):
        AugmentConfig(conditions=("noise",), probability=1.5).validate()
    with pytest.raises(ConfigError, match="severity_ranges"):
        AugmentConfig(conditions=("noise",), severity_ranges={"reverb": (0.3, 0.6)}).validate()
    with pytest.raises(ConfigError, match="unknown perturbation condition"):
        AugmentConfig(conditions=("nosie",)).validate()
