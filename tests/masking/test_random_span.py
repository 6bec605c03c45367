"""Random span masking (wav2vec 2.0 §3.1 / fairseq compute_mask_indices)."""

from __future__ import annotations

import pytest
import torch

from essl.errors import ConfigError
from essl.masking import (
    MaskingConfig,
    RandomSpanConfig,
    RandomSpanMasker,
    build_masker,
    expected_mask_fraction,
)


def test_masked_fraction_matches_expectation_over_seeds() -> None:
    masker = RandomSpanMasker(RandomSpanConfig(mask_prob=0.65, mask_length=10))
    g = torch.Generator().manual_seed(0)
    fractions = torch.stack(
        [masker(torch.full((16,), 200), 200, generator=g).float().mean(1) for _ in range(20)]
    )
    expected = expected_mask_fraction(0.65, 10, 200)
    assert abs(float(fractions.mean()) - expected) < 0.03
    # at most int(0.65 * 200 / 10 + 1) = 14 spans of 10 frames: 70% of 200 frames
    assert float(fractions.max()) <= 0.7 and float(fractions.min()) > 0.2


def test_padding_is_never_masked_and_short_rows_stay_valid() -> None:
    masker = RandomSpanMasker(RandomSpanConfig())
    lengths = torch.tensor([120, 60, 11, 7, 0])
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        mask = masker(lengths, 120, generator=g)
        assert mask.shape == (5, 120) and mask.dtype == torch.bool
        pad = torch.arange(120)[None, :] >= lengths[:, None]
        assert not (mask & pad).any()
        assert not mask[4].any()


def test_at_least_min_masks_spans() -> None:
    masker = RandomSpanMasker(RandomSpanConfig(mask_prob=0.01, mask_length=5, min_masks=2))
    g = torch.Generator().manual_seed(2)
    for _ in range(30):
        mask = masker(torch.tensor([200]), 200, generator=g)[0]
        starts = int((mask & ~torch.nn.functional.pad(mask, (1, 0))[:-1]).sum())
        # two spans: either two runs, or one run of 6..10 frames when they overlap/touch
        assert starts == 2 or 5 < int(mask.sum()) <= 10
        assert int(mask.sum()) >= 5


def test_spans_are_whole_mask_length_runs() -> None:
    masker = RandomSpanMasker(RandomSpanConfig(mask_prob=0.2, mask_length=10))
    mask = masker(torch.tensor([300] * 8), 300, generator=torch.Generator().manual_seed(3))
    for row in mask:
        edges = torch.diff(torch.nn.functional.pad(row.int(), (1, 1)))
        runs = (edges == -1).nonzero().flatten() - (edges == 1).nonzero().flatten()
        assert (runs >= 10).all() and runs.numel() > 0


def test_same_generator_seed_gives_the_same_mask() -> None:
    masker = build_masker(MaskingConfig())
    lengths = torch.tensor([200, 150, 90])
    a = masker(lengths, 200, generator=torch.Generator().manual_seed(5))
    b = masker(lengths, 200, generator=torch.Generator().manual_seed(5))
    c = masker(lengths, 200, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(9)
    d = masker(lengths, 200)
    torch.manual_seed(9)
    assert torch.equal(d, masker(lengths, 200))  # default generator is restorable


def test_channel_mask_shape_and_disabled_by_default() -> None:
    off = RandomSpanMasker(RandomSpanConfig())
    assert not off.channel_mask(4, 256).any()
    on = RandomSpanMasker(RandomSpanConfig(channel_mask_prob=0.5, channel_mask_length=16))
    mask = on.channel_mask(4, 256, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (4, 256) and mask.any()


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="mask_prob"):
        build_masker(MaskingConfig(random_span=RandomSpanConfig(mask_prob=1.5)))
    with pytest.raises(ConfigError, match="mask_length"):
        RandomSpanConfig(mask_length=0).validate()
