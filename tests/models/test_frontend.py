"""Front-end kernels: GEMM convolution and the length-aware group norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from essl.models import _conv_gemm
from essl.models._conv_gemm import conv1d_time_major
from essl.models.frontend import masked_channel_norm


@pytest.mark.parametrize(("kernel", "stride", "c_in"), [(3, 2, 4), (2, 2, 4), (10, 5, 1)])
@pytest.mark.parametrize("steps", [30, 31])
def test_gemm_convolution_matches_conv1d_with_exact_gradients(
    seed: int, kernel: int, stride: int, c_in: int, steps: int
) -> None:
    x = torch.randn(2, steps, c_in, dtype=torch.double, requires_grad=True)
    w = torch.randn(5, c_in, kernel, dtype=torch.double, requires_grad=True)
    b = torch.randn(5, dtype=torch.double, requires_grad=True)
    ref = F.conv1d(x.transpose(1, 2), w, b, stride=stride).transpose(1, 2)
    assert torch.allclose(conv1d_time_major(x, w, b, stride), ref)
    assert torch.autograd.gradcheck(lambda x, w, b: conv1d_time_major(x, w, b, stride), (x, w, b))


def test_gemm_convolution_follows_autocast(seed: int) -> None:
    x, w = torch.randn(2, 40, 8, requires_grad=True), torch.randn(6, 8, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv1d_time_major(x, w, None, 2)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32
    assert w.grad is not None and w.grad.dtype == torch.float32


@pytest.mark.parametrize("emulated", [False, True])
def test_bf16_gemm_convolution_computes_what_a_bf16_gemm_computes(
    seed: int, emulated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both bf16 routes (native bf16 GEMM, or fp32 GEMM on bf16-rounded operands where the
    CPU only emulates bf16) agree with an fp64 convolution of the bf16-rounded operands to
    bf16 output rounding, forward and backward."""
    monkeypatch.setattr(_conv_gemm, "cpu_emulates_bf16", lambda: emulated)
    x = torch.randn(2, 301, 64).bfloat16().float().requires_grad_()
    w = torch.randn(32, 64, 3).bfloat16().float().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv1d_time_major(x, w, None, 2)
    g = torch.randn_like(y)
    y.backward(g)
    xd, wd = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    ref = F.conv1d(xd.transpose(1, 2), wd, stride=2).transpose(1, 2)
    ref.backward(g.double())
    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a.detach().double() - b.detach()).norm() / b.detach().norm())

    assert y.dtype == torch.bfloat16
    assert x.grad is not None and w.grad is not None and xd.grad is not None
    # bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.002 per value)
    assert rel(y, ref) < 4e-3
    assert rel(x.grad, xd.grad) < 4e-3
    assert rel(w.grad, wd.grad) < 4e-3


def test_channel_norm_equals_group_norm_without_padding(seed: int) -> None:
    x, w, b = torch.randn(3, 50, 8), torch.randn(8), torch.randn(8)
    ref = F.group_norm(x.transpose(1, 2), 8, w, b, 1e-5).transpose(1, 2)
    assert torch.allclose(masked_channel_norm(x, None, w, b, 1e-5), ref, atol=1e-5)
    full = torch.full((3,), 50)
    assert torch.allclose(masked_channel_norm(x, full, w, b, 1e-5), ref, atol=1e-5)


def test_channel_norm_statistics_ignore_padding(seed: int) -> None:
    x, w, b = torch.randn(2, 50, 8), torch.randn(8), torch.randn(8)
    lengths = torch.tensor([50, 20])
    padded = x.clone()
    padded[1, 20:] = 1e3
    out = masked_channel_norm(padded, lengths, w, b, 1e-5)
    alone = masked_channel_norm(x[1:, :20], None, w, b, 1e-5)
    assert torch.allclose(out[1, :20], alone[0], atol=1e-5)
