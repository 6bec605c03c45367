"""The bf16-on-an-emulating-CPU note."""

import torch

from essl._hardware import cpu_has_native_bf16
from essl.training.precision import bf16_note


def test_cpu_flags_decide_native_bf16(tmp_path):
    skylake, sapphire = tmp_path / "skx", tmp_path / "spr"
    skylake.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512bw avx512_vnni\n")
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert cpu_has_native_bf16(skylake) is False
    assert cpu_has_native_bf16(sapphire) is True
    assert cpu_has_native_bf16(tmp_path / "missing") is None


def test_note_only_for_bf16_on_an_emulating_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    note = bf16_note("bf16", cpu, native=False)
    assert note is not None and "train.precision=fp32" in note
    assert bf16_note("bf16", cpu, native=True) is None
    assert bf16_note("fp32", cpu, native=False) is None
    assert bf16_note("bf16", cuda, native=False) is None
