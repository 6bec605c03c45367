"""Gradient reversal and adversarial weight schedules."""

from __future__ import annotations

import math

import pytest
import torch

from essl.errors import ConfigError
from essl.fairness.grl import GradientReversal, WeightSchedule, grad_reverse


def test_gradient_wrt_input_is_minus_lambda_times_the_normal_gradient(seed: int) -> None:
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(3, 2)
    (torch.tanh(x @ w).pow(2).sum()).backward()
    normal = x.grad.clone()
    x.grad = None
    (torch.tanh(grad_reverse(x, 0.7) @ w).pow(2).sum()).backward()
    torch.testing.assert_close(x.grad, -0.7 * normal)


def test_reversal_is_the_identity_forward() -> None:
    x = torch.randn(4, 2)
    torch.testing.assert_close(GradientReversal(3.0)(x), x)


def test_ganin_schedule_ramps_from_zero_to_the_weight() -> None:
    s = WeightSchedule(kind="ganin", weight=0.5, total_updates=100)
    assert s(0) == 0.0
    assert s(50) == pytest.approx(0.5 * (2 / (1 + math.exp(-5)) - 1))
    assert s(100) == pytest.approx(0.5, abs=1e-4) and s(1000) == s(100)
    values = [s(i) for i in range(0, 101, 10)]
    assert values == sorted(values)


def test_linear_and_constant_schedules() -> None:
    lin = WeightSchedule(kind="linear", weight=2.0, total_updates=100, warmup=0.5)
    assert (lin(0), lin(25), lin(50), lin(90)) == (0.0, 1.0, 2.0, 2.0)
    assert WeightSchedule(kind="constant", weight=0.3)(0) == 0.3


def test_unknown_schedule_is_rejected_with_the_valid_kinds() -> None:
    with pytest.raises(ConfigError, match="constant, linear or ganin"):
        WeightSchedule(kind="cosine").validate()
