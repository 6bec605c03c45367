"""What the CPU can do natively (read once per process)."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["cpu_emulates_bf16", "cpu_has_native_bf16"]

_NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool | None:
    """True/False from the CPU flags in ``cpuinfo``; None where that file is not readable."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return any(f in flags.split() for f in _NATIVE_FLAGS)


@functools.cache
def cpu_emulates_bf16() -> bool:
    """True when this CPU is known to lack bf16 instructions (oneDNN then emulates them)."""
    return cpu_has_native_bf16() is False
