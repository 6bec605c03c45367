"""Whether bf16 pays off on the device at hand.

CPUs without AVX512-BF16 or AMX (e.g. the Skylake/Cascade Lake Xeons of many clouds) run
bf16 matrix products through oneDNN's emulation: converted to fp32 and back, so autocast
makes a step slower, not faster (``benchmarks/train_step.py`` prints both precisions; on the
2-vCPU AVX-512 development machine the tiny wav2vec 2.0's bf16 step takes 1.5x longer than
its fp32 step, HF transformers' 1.9x). The trainer says so before training instead of
letting a user pay for it silently.
"""

from __future__ import annotations

import torch

from essl._hardware import cpu_emulates_bf16

__all__ = ["bf16_note"]


def bf16_note(precision: str, device: torch.device, native: bool | None = None) -> str | None:
    """A one-line warning when ``precision`` is bf16 on a CPU that emulates it, else None;
    ``native`` overrides this CPU's flags (None: read once, :func:`cpu_emulates_bf16`)."""
    if precision != "bf16" or device.type != "cpu":
        return None
    emulated = cpu_emulates_bf16() if native is None else not native
    if not emulated:
        return None
    return (
        "essl pretrain: train.precision=bf16 on a CPU without AVX512-BF16/AMX: bf16 matrix "
        "products are emulated and slower than fp32 here; use train.precision=fp32 on this "
        "machine (bf16 pays off on CUDA and on CPUs with those instructions)"
    )
