import dataclasses

import pytest
import torch

from essl.metering.analytic import encoder_flops
from essl.metering.flops import count_flops
from essl.models import Encoder, encoder_preset


@pytest.fixture
def tiny_cfg():
    cfg = encoder_preset("tiny")
    return dataclasses.replace(
        cfg,
        conv_layers=tuple((64, k, s) for _, k, s in cfg.conv_layers),
        embed_dim=64,
        ffn_dim=128,
        num_heads=2,
        num_layers=2,
        pos_conv_groups=4,
        layer_drop=0.0,
    )


def test_measured_forward_flops_equal_the_formula(tiny_cfg, seed):
    enc = Encoder(tiny_cfg).eval()
    S = 16000
    with torch.no_grad():
        _, measured, _ = count_flops(
            lambda: enc.extract_features(torch.randn(2, S), torch.tensor([S, S]))
        )
    assert measured == encoder_flops(tiny_cfg, S, batch=2)


@pytest.mark.parametrize("attention_dropout", [0.0, 0.1])
def test_measured_training_flops_agree_with_the_formula_within_1_percent(
    tiny_cfg, seed, attention_dropout
):
    cfg = dataclasses.replace(tiny_cfg, attention_dropout=attention_dropout)
    enc = Encoder(cfg).train()
    S = 16000
    x, lengths = torch.randn(2, S), torch.tensor([S, S])
    _, measured, _ = count_flops(lambda: enc(x, lengths).hidden.sum().backward())
    expected = encoder_flops(cfg, S, batch=2, training=True, fused_attention=attention_dropout == 0)
    assert abs(measured - expected) / expected < 0.01
