"""1-D convolution over time-major (B, T, C) activations as one GEMM per pass.

On CPU, oneDNN's convolution re-lays out its (B, C, T) input in both passes and its backward
runs well below GEMM speed; unfolding the k overlapping frames into a (B·T', k·C) matrix
(a free view when kernel == stride) and calling GEMM is faster, and the time-major layout is
what the Transformer wants anyway. The backward recomputes the unfolded input from the saved
activations and folds the input gradient back with k strided adds. Under autocast the matmuls
run in the autocast dtype, as a convolution would.

bf16 on a CPU without bf16 instructions: oneDNN emulates a bf16 GEMM at a fraction of fp32
GEMM speed. A bf16 GEMM computes exact products of bf16 values, accumulates them in fp32 and
rounds the result to bf16; :func:`_mm` computes exactly that through fp32 GEMM on the
bf16-rounded operands (same inputs, same accumulation precision, bf16 result and saved
activations), 5x faster here for the front end's backward GEMMs.
"""

from __future__ import annotations

from typing import Any

import torch

from essl._hardware import cpu_emulates_bf16

__all__ = ["conv1d_time_major"]


def _unfold(x: torch.Tensor, kernel: int, stride: int, frames: int) -> torch.Tensor:
    """(B, T, C) → (B·T', k·C): row t holds frames t·s .. t·s + k − 1."""
    B, T, C = x.shape
    if kernel == stride:
        return x[:, : frames * stride].reshape(B * frames, kernel * C)
    view = x.as_strided((B, frames, kernel * C), (T * C, stride * C, 1))
    return view.reshape(B * frames, kernel * C)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return x.dtype


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` in the operands' dtype, autocast off (see the module note on emulated bf16)."""
    with torch.autocast(a.device.type, enabled=False):
        if a.dtype == torch.bfloat16 and a.device.type == "cpu" and cpu_emulates_bf16():
            return (a.float() @ b.float()).to(torch.bfloat16)
        return a @ b


class _ConvGemm(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, kernel: int, stride: int
    ) -> torch.Tensor:
        B, T = x.shape[:2]
        dtype = _compute_dtype(x)
        frames = (T - kernel) // stride + 1
        xc, wc = x.contiguous().to(dtype), weight.to(dtype)
        y = _mm(_unfold(xc, kernel, stride, frames), wc)  # (B·T', C_out)
        ctx.save_for_backward(xc, wc)
        ctx.meta = (kernel, stride, frames, x.dtype, weight.dtype)
        return y.view(B, frames, -1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        xc, wc = ctx.saved_tensors
        kernel, stride, frames, x_dtype, w_dtype = ctx.meta
        B, T, C = xc.shape
        g = grad.reshape(B * frames, -1).to(wc.dtype)
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = _mm(_unfold(xc, kernel, stride, frames).t(), g).to(w_dtype)
        if ctx.needs_input_grad[0]:
            gu = _mm(g, wc.t()).view(B, frames, kernel, C)  # (B, T', k, C)
            if kernel == stride:
                gx = gu.reshape(B, frames * stride, C)
                if frames * stride < T:
                    gx = torch.nn.functional.pad(gx, (0, 0, 0, T - frames * stride))
            else:
                gx = xc.new_zeros(B, T, C)
                span = stride * (frames - 1) + 1
                for j in range(kernel):
                    gx[:, j : j + span : stride] += gu[:, :, j]
            grad_x = gx.to(x_dtype)
        return grad_x, grad_w, None, None


def conv1d_time_major(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int
) -> torch.Tensor:
    """Valid (unpadded) 1-D convolution of (B, T, C_in) by a Conv1d weight (C_out, C_in, k).

    Returns (B, T', C_out) with T' = (T − k) // stride + 1; same values as
    ``conv1d(x.transpose(1, 2), weight, bias, stride).transpose(1, 2)``.
    """
    c_out, c_in, kernel = weight.shape
    w = weight.permute(2, 1, 0).reshape(kernel * c_in, c_out)  # (k·C_in, C_out)
    y = _ConvGemm.apply(x, w, kernel, stride)
    return y if bias is None else y + bias.to(y.dtype)
