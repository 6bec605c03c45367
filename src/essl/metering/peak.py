"""Measured machine peaks (FLOP/s), the denominators of model FLOPs utilisation (MFU).

A dense fp32 GEMM (MKL/cuBLAS) and a large 1×1 convolution (oneDNN/cuDNN) are timed; on this
CPU kind oneDNN's 1×1 convolution runs faster than MKL's GEMM, so both are reported.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

__all__ = ["measure_peaks"]


def _best_rate(fn: object, flops: float, device: torch.device, repeats: int) -> float:
    assert callable(fn)
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return flops / best


@torch.no_grad()
def measure_peaks(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    size: int = 1024,
    repeats: int = 5,
) -> dict[str, float]:
    """FLOP/s of a ``size``² GEMM and of a 1×1 conv (size channels, 8×size frames)."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)  # leaves the training RNG stream alone
    a = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    mm = _best_rate(lambda: a @ b, 2.0 * size**3, device, repeats)
    x = torch.randn(1, size, 8 * size, device=device, dtype=dtype, generator=g)
    w = torch.randn(size, size, 1, device=device, dtype=dtype, generator=g)
    conv = _best_rate(lambda: F.conv1d(x, w), 2.0 * size * size * 8 * size, device, repeats)
    return {"matmul_flops_per_s": mm, "conv1x1_flops_per_s": conv}
