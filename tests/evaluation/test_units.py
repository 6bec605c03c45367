"""Phone purity, cluster purity and PNMI (HuBERT §IV-E) on hand-built cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from essl.evaluation.units import joint_distribution, unit_quality


def test_codes_identical_to_phones_score_one_everywhere() -> None:
    phones = np.array([0, 0, 1, 2, 2, 2, 3, 1])
    q = unit_quality(phones, phones.copy())
    assert (q.phone_purity, q.cluster_purity, q.pnmi) == pytest.approx((1.0, 1.0, 1.0))
    assert (q.num_frames, q.num_phones, q.num_codes) == (8, 4, 4)


def test_renaming_codes_or_phones_leaves_every_score_unchanged() -> None:
    rng = np.random.default_rng(0)
    phones = rng.integers(0, 6, 500)
    codes = (phones + rng.integers(0, 3, 500)) % 9
    perm_codes, perm_phones = rng.permutation(9), rng.permutation(6) + 10
    a = unit_quality(phones, codes)
    b = unit_quality(perm_phones[phones], perm_codes[codes])
    assert a.to_dict() == pytest.approx(b.to_dict())


def test_independent_codes_have_pnmi_near_zero_and_purity_near_majority() -> None:
    rng = np.random.default_rng(1)
    phones = rng.integers(0, 4, 200_000)
    codes = rng.integers(0, 8, 200_000)
    q = unit_quality(phones, codes)
    assert q.pnmi < 1e-3
    assert q.phone_purity == pytest.approx(0.25, abs=0.01)
    assert q.cluster_purity == pytest.approx(1 / 8, abs=0.01)


def test_splitting_each_phone_into_two_codes_keeps_phone_purity_halves_cluster_purity() -> None:
    phones = np.repeat(np.arange(4), 10)
    codes = 2 * phones + np.tile(np.repeat([0, 1], 5), 4)
    q = unit_quality(phones, codes)
    assert q.phone_purity == pytest.approx(1.0)
    assert q.cluster_purity == pytest.approx(0.5)
    assert q.pnmi == pytest.approx(1.0)  # codes determine phones: I = H(phone)


def test_hand_computed_two_by_two_case() -> None:
    # p(y, z) = [[0.4, 0.1], [0.1, 0.4]]
    phones = np.array([0] * 5 + [1] * 5)
    codes = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    q = unit_quality(phones, codes)
    mi = 2 * 0.4 * math.log(0.4 / 0.25) + 2 * 0.1 * math.log(0.1 / 0.25)
    assert q.phone_purity == pytest.approx(0.8) and q.cluster_purity == pytest.approx(0.8)
    assert q.pnmi == pytest.approx(mi / math.log(2))


def test_negative_frames_are_ignored_and_joint_sums_to_one() -> None:
    phones = np.array([0, 1, -100, 1, 0])
    codes = np.array([3, 4, 4, -1, 3])
    p = joint_distribution(phones, codes)
    assert p.shape == (2, 2) and p.sum() == pytest.approx(1.0)
    assert unit_quality(phones, codes).num_frames == 3


def test_mismatched_or_empty_inputs_raise() -> None:
    with pytest.raises(ValueError, match="same frames"):
        unit_quality(np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(ValueError, match="nothing to score"):
        unit_quality(np.full(3, -1), np.zeros(3, int))
