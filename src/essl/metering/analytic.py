"""Analytic FLOPs of the encoder, the cross-check of the measured counts.

FLOPs = 2 × multiply-adds of convolutions, linear layers and attention GEMMs (bias,
normalisation, activations and softmax are not counted, as in FlopCounterMode). Per utterance
of S samples, with conv layers (C_i, K_i, s_i) giving T_i frames and T = T_last:

- conv i: 2·T_i·C_i·C_{i-1}·K_i (C_0 = 1);
- projection: 2·T·C·D; positional conv (kernel P, G groups, padding P//2): 2·(T+1)·D·(D/G)·P;
- per Transformer layer: QKV 6·T·D², output 2·T·D², attention 4·T²·D, FFN 4·T·D·F.

A training step's backward costs 2× the forward for every layer except: the first conv gets
no input gradient (the waveform needs none), and fused attention's backward recomputes the
scores (5 GEMMs instead of 4, as torch counts it).
"""

from __future__ import annotations

from essl.models.config import EncoderConfig
from essl.models.frontend import conv_output_lengths

__all__ = ["encoder_flops"]


def _frames(cfg: EncoderConfig, num_samples: int) -> list[int]:
    import torch

    frames, n = [], torch.tensor([num_samples])
    for _, k, s in cfg.conv_layers:
        n = torch.div(n - k, s, rounding_mode="floor") + 1
        frames.append(int(n))
    final = int(conv_output_lengths(torch.tensor([num_samples]), cfg.conv_layers)[0])
    assert frames[-1] == final
    return frames


def encoder_flops(
    cfg: EncoderConfig,
    num_samples: int,
    batch: int = 1,
    training: bool = False,
    fused_attention: bool = True,
) -> int:
    """FLOPs of the encoder's forward (or forward + backward when ``training``) on a batch
    of ``batch`` utterances of ``num_samples`` samples each (no padding).

    ``fused_attention``: the fused SDPA kernel's backward recomputes the scores (5 GEMMs);
    the math path (used on CPU when attention dropout is active) keeps them (4 GEMMs).
    """
    frames = _frames(cfg, num_samples)
    fwd_conv, first_conv, c_in = 0, 0, 1
    for i, ((c_out, k, _), t) in enumerate(zip(cfg.conv_layers, frames)):
        f = 2 * t * c_out * c_in * k
        fwd_conv += f
        first_conv = f if i == 0 else first_conv
        c_in = c_out
    T, C, D, F = frames[-1], cfg.conv_dim, cfg.embed_dim, cfg.ffn_dim
    proj = 2 * T * C * D
    pos = 2 * (T + 1) * D * (D // cfg.pos_conv_groups) * cfg.pos_conv_kernel
    attn_gemms = 4 * T * T * D
    dense = 6 * T * D * D + 2 * T * D * D + 4 * T * D * F
    fwd = fwd_conv + proj + pos + cfg.num_layers * (dense + attn_gemms)
    if not training:
        return batch * fwd
    bwd = 2 * (fwd_conv - first_conv) + first_conv + 2 * (proj + pos)
    attn_bwd = attn_gemms // 2 * (5 if fused_attention else 4)
    bwd += cfg.num_layers * (2 * dense + attn_bwd)
    return batch * (fwd + bwd)
