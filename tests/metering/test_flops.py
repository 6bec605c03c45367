import pytest
import torch
import torch.nn.functional as F
from torch import nn

from essl.metering.flops import FlopCache, count_flops


def test_linear_forward_and_backward_flops_are_exact():
    B, T, I, O = 3, 7, 16, 24
    lin = nn.Linear(I, O)
    x = torch.randn(B, T, I, requires_grad=True)
    _, fwd, _ = count_flops(lambda: lin(x))
    assert fwd == 2 * B * T * I * O
    _, total, _ = count_flops(lambda: lin(x).sum().backward())
    assert total == 3 * fwd  # grad input + grad weight, each a GEMM of the same size


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_conv_backward_counts_groups_for_the_weight_gradient(groups):
    B, C, T, K = 2, 64, 50, 9
    conv = nn.Conv1d(C, C, K, padding=K // 2, groups=groups)
    x = torch.randn(B, C, T, requires_grad=True)
    fwd_expected = 2 * B * T * C * (C // groups) * K
    _, fwd, _ = count_flops(lambda: conv(x))
    assert fwd == fwd_expected
    _, total, per_op = count_flops(lambda: conv(x).sum().backward())
    # torch 2.13's own formula gives (2 + groups) x forward here; correct is 3x.
    assert total == 3 * fwd_expected, per_op


def test_cpu_fused_attention_is_counted():
    B, H, T, D = 2, 4, 30, 16
    q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
    _, fwd, per_op = count_flops(lambda: F.scaled_dot_product_attention(q, k, v))
    assert fwd == 2 * (2 * B * H * T * T * D), per_op  # QK^T and AV
    _, total, _ = count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    # backward recomputes the scores and runs 4 GEMMs: 5 GEMMs of T·T·D per head
    assert total == fwd + 5 * (2 * B * H * T * T * D)


def test_cache_counts_each_shape_once():
    lin = nn.Linear(8, 8)
    cache = FlopCache()
    calls = []
    for shape in [(2, 8), (2, 8), (3, 8), (2, 8)]:
        x = torch.randn(*shape)
        _, f = cache.run(shape, lambda x=x: calls.append(1) or lin(x))
        assert f == 2 * shape[0] * 8 * 8
    assert len(cache.counts) == 2 and len(calls) == 4
