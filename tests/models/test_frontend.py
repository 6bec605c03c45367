"""Front-end kernels: GEMM convolution and the length-aware group norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

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
