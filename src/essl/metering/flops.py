"""Measured FLOPs with ``torch.utils.flop_counter.FlopCounterMode``, corrected and cached.

FlopCounterMode (torch 2.13) has two defects this module fixes with a ``custom_mapping``:

1. On CPU, ``scaled_dot_product_attention`` dispatches to
   ``aten._scaled_dot_product_flash_attention_for_cpu`` (and its backward), which have no
   formula and count as zero (about 17% of wav2vec2-base's FLOPs on 30 s of audio).
2. The ``convolution_backward`` formula ignores ``groups`` for the weight gradient, so the
   grouped positional convolution's backward counts ~``groups``× too much. The weight
   gradient of a convolution costs exactly its forward pass; we count it so.

FLOPs are multiply-adds × 2, as FlopCounterMode counts them (bias and elementwise ops are
not counted).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import torch
from torch.utils.flop_counter import (
    FlopCounterMode,
    conv_flop_count,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

__all__ = ["FlopCache", "count_flops", "flop_formulas"]

aten = torch.ops.aten
R = TypeVar("R")


def _sdpa_cpu_flop(
    query_shape: Any,
    key_shape: Any,
    value_shape: Any,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    return int(sdpa_flop_count(query_shape, key_shape, value_shape))


def _sdpa_cpu_backward_flop(
    grad_out_shape: Any,
    query_shape: Any,
    key_shape: Any,
    value_shape: Any,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    return int(sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape))


def _conv_backward_flop(
    grad_out_shape: Any,
    x_shape: Any,
    w_shape: Any,
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    groups: int,
    output_mask: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """Input gradient: a (transposed) conv with the same weight. Weight gradient: the same
    multiply-adds as the forward pass, i.e. B·T_out·C_out·(C_in/groups)·K, groups included."""
    flops = 0
    if output_mask[0]:
        grad_in = list(out_shape[0].shape) if hasattr(out_shape[0], "shape") else out_shape[0]
        flops += conv_flop_count(grad_out_shape, w_shape, grad_in, not transposed)
    if output_mask[1]:
        fwd_out = x_shape if transposed else grad_out_shape
        fwd_in = grad_out_shape if transposed else x_shape
        flops += conv_flop_count(fwd_in, w_shape, fwd_out, transposed)
    return int(flops)


def flop_formulas() -> dict[Any, Callable[..., int]]:
    """The corrected formulas, as a ``custom_mapping`` for FlopCounterMode."""
    return {
        aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flop,
        aten.convolution_backward: _conv_backward_flop,
    }


def count_flops(fn: Callable[[], R]) -> tuple[R, int, dict[str, int]]:
    """Run ``fn()`` under a corrected FlopCounterMode; return (result, total FLOPs, per op)."""
    mode = FlopCounterMode(display=False, custom_mapping=flop_formulas())
    with mode:
        result = fn()
    per_op = {str(op): int(n) for op, n in mode.get_flop_counts().get("Global", {}).items()}
    return result, int(mode.get_total_flops()), per_op


class FlopCache:
    """Counts FLOPs of a step once per distinct input shape, then reuses the count.

    ``run(key, fn)`` runs ``fn`` under the counter when ``key`` is new (and returns its
    measured FLOPs), otherwise runs it bare and returns the cached count.
    """

    def __init__(self) -> None:
        self.counts: dict[Hashable, int] = {}

    def run(self, key: Hashable, fn: Callable[[], R]) -> tuple[R, int]:
        if key in self.counts:
            return fn(), self.counts[key]
        result, flops, _ = count_flops(fn)
        self.counts[key] = flops
        return result, flops
