"""RankMe and α-ReQ on data with known spectra."""

from __future__ import annotations

import pytest
import torch

from essl.evaluation.spectrum import alpha_req, rankme


def test_rankme_of_isotropic_gaussian_is_close_to_dimension(seed):
    x = torch.randn(20_000, 32)
    assert rankme(x) == pytest.approx(32, rel=0.02)


def test_rankme_of_rank_r_data_is_close_to_r(seed):
    x = torch.randn(5000, 6) @ torch.randn(6, 64)
    r = rankme(x)
    assert 4.5 < r < 6.05


def test_rankme_of_rank_one_data_is_one(seed):
    x = torch.randn(1000, 1) @ torch.randn(1, 16)
    assert rankme(x) == pytest.approx(1.0, abs=1e-3)


def _with_spectrum(eigvals: torch.Tensor, n: int) -> torch.Tensor:
    """(n, D) centred data whose covariance has exactly ``eigvals``."""
    d = eigvals.shape[0]
    u, _ = torch.linalg.qr(torch.randn(n, d, dtype=torch.float64))
    u = u - u.mean(0)  # centring keeps orthogonality up to rank d: re-orthonormalise
    u, _ = torch.linalg.qr(u)
    v, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
    return u * (eigvals * (n - 1)).sqrt() @ v.T


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_alpha_req_recovers_a_power_law_exponent(seed, alpha):
    k = torch.arange(1, 65, dtype=torch.float64)
    x = _with_spectrum(k**-alpha, 300)
    r = alpha_req(x)
    assert r.alpha == pytest.approx(alpha, abs=1e-6)
    assert r.r2 == pytest.approx(1.0, abs=1e-9)
    assert r.ranks == (1, 64)


def test_alpha_req_on_sampled_power_law_data(seed):
    k = torch.arange(1, 33, dtype=torch.float64)
    x = torch.randn(50_000, 32, dtype=torch.float64) * k**-0.5  # variances k^-1
    r = alpha_req(x, max_samples=None, max_rank=16)
    assert r.alpha == pytest.approx(1.0, abs=0.05) and r.r2 > 0.99


def test_spectral_metrics_reject_a_single_row():
    with pytest.raises(ValueError, match="N >= 2"):
        rankme(torch.randn(1, 4))
