"""Gumbel product quantizer: perplexity sanity, hard codes, straight-through gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from essl.models import GumbelVectorQuantizer


def make(G: int = 2, V: int = 16, d: int = 8) -> GumbelVectorQuantizer:
    return GumbelVectorQuantizer(input_dim=12, num_groups=G, num_vars=V, codevector_dim=d)


def test_random_init_perplexity_is_high_and_bounded(seed: int) -> None:
    q = make().train()
    out = q(torch.randn(4000, 12))
    G, V = 2, 16
    for p in (out.prob_perplexity, out.code_perplexity):
        assert 1.0 <= float(p.detach()) <= G * V + 1e-3
    assert float(out.code_perplexity) > 0.5 * G * V


def test_collapsed_codes_have_perplexity_one_per_group(seed: int) -> None:
    q = make().eval()
    with torch.no_grad():
        q.weight_proj.weight.zero_()
        q.weight_proj.bias.zero_()
        q.weight_proj.bias[[3, 16 + 5]] = 50.0
    out = q(torch.randn(100, 12))
    assert torch.allclose(out.code_perplexity, torch.tensor(2.0))
    assert (out.codes == torch.tensor([3, 5])).all()


def test_hard_codes_select_one_entry_per_group(seed: int) -> None:
    q = make()
    for mode in (q.train, q.eval):
        mode()
        out = q(torch.randn(50, 12))
        assert out.codes.shape == (50, 2) and out.quantized.shape == (50, 8)
        expect = torch.cat([q.codevectors[g, out.codes[:, g]] for g in range(2)], dim=-1)
        assert torch.equal(out.quantized, expect)


def test_straight_through_gradient_equals_one_hot_product(seed: int) -> None:
    q = make().train()
    x, w = torch.randn(30, 12), torch.randn(30, 8)
    torch.manual_seed(7)
    (q(x).quantized * w).sum().backward()
    got = (q.weight_proj.weight.grad.clone(), q.codevectors.grad.clone())
    q.zero_grad()
    torch.manual_seed(7)  # same Gumbel noise, reference formulation (fairseq / HF)
    logits = q.weight_proj(x).view(30, 2, 16)
    u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
    soft = torch.softmax((logits - torch.log(-torch.log(u))) / q.temperature, -1)
    hard = F.one_hot(soft.argmax(-1), 16).float()
    y = hard - soft.detach() + soft
    ref = torch.einsum("ngv,gvd->ngd", y, q.codevectors).reshape(30, 8)
    (ref * w).sum().backward()
    assert torch.allclose(got[0], q.weight_proj.weight.grad, atol=1e-5)
    assert torch.allclose(got[1], q.codevectors.grad, atol=1e-5)


def test_temperature_is_a_function_of_the_update_count() -> None:
    q = make()
    assert q.temperature == 2.0
    q.set_num_updates(1000)
    assert abs(q.temperature - 2.0 * 0.999995**1000) < 1e-12
    q.set_num_updates(10**6)
    assert q.temperature == 0.5
    q.set_num_updates(0)
    assert q.temperature == 2.0
