import itertools
import math

import pytest

from essl.errors import ConfigError
from essl.training.config import OptimConfig
from essl.training.schedule import lr_at


def cfg(**kw):
    base = dict(lr=1.0, warmup_steps=10, total_steps=110)
    base.update(kw)
    c = OptimConfig(**base)
    c.validate()
    return c


def test_warmup_rises_linearly_to_the_peak():
    c = cfg()
    lrs = [lr_at(s, c) for s in range(10)]
    assert lrs == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(b > a for a, b in itertools.pairwise(lrs))


def test_polynomial_decays_linearly_to_end_lr_at_total_steps():
    c = cfg(end_lr_scale=0.1)
    assert lr_at(10, c) == pytest.approx(1.0)
    assert lr_at(60, c) == pytest.approx(0.55)
    assert lr_at(110, c) == pytest.approx(0.1)
    assert lr_at(500, c) == pytest.approx(0.1)  # stays at the end value


def test_polynomial_power_two_is_below_linear_mid_decay():
    assert lr_at(60, cfg(power=2.0)) == pytest.approx(0.25)


def test_cosine_is_half_a_cosine_from_peak_to_end():
    c = cfg(schedule="cosine")
    assert lr_at(10, c) == pytest.approx(1.0)
    assert lr_at(60, c) == pytest.approx(0.5)
    assert lr_at(110, c) == pytest.approx(0.0, abs=1e-12)
    decay = [lr_at(s, c) for s in range(10, 111)]
    assert all(b <= a for a, b in itertools.pairwise(decay))


def test_tri_stage_warms_holds_then_decays_exponentially():
    c = cfg(
        schedule="tri_stage",
        total_steps=100,
        tri_stage_ratios=(0.1, 0.4, 0.5),
        init_lr_scale=0.01,
        end_lr_scale=0.05,
    )
    assert lr_at(0, c) == pytest.approx(0.01)
    assert lr_at(10, c) == pytest.approx(1.0)
    assert lr_at(49, c) == pytest.approx(1.0)
    assert lr_at(75, c) == pytest.approx(math.exp(math.log(0.05) * 25 / 50))
    assert lr_at(100, c) == pytest.approx(0.05)
    assert lr_at(1000, c) == pytest.approx(0.05)


def test_schedule_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="optim.warmup_steps"):
        cfg(warmup_steps=200)
    with pytest.raises(ConfigError, match="tri_stage"):
        cfg(schedule="tri_stage", end_lr_scale=0.0)
    with pytest.raises(ConfigError, match="optim.tri_stage_ratios"):
        cfg(schedule="tri_stage", end_lr_scale=0.05, tri_stage_ratios=(0.5, 0.5, 0.5))
