"""Shared fixtures for perturbation tests: a ragged speech-like batch and a tiny RIR bank."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from essl.perturb import RirBank, RirBankConfig
from essl.testing import PHONE_FORMANTS, synthetic_vowels

SR = 16000


def speech(seconds: float, seed: int, f0: float = 120.0) -> np.ndarray:
    """A speech-like waveform of ``seconds`` (synthetic vowels with silences)."""
    rng = np.random.default_rng(seed)
    labels = list(PHONE_FORMANTS)
    n = max(1, int(seconds / 0.1) - 2)
    seq = [("sil", 0.05)] + [(labels[rng.integers(len(labels))], 0.1) for _ in range(n)]
    seq += [("sil", max(0.01, seconds - 0.05 - 0.1 * n))]
    return synthetic_vowels(seq, f0=f0, sample_rate=SR, seed=seed)[0]


def make_batch(seconds: list[float], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, S) batch of speech-like rows and their lengths (B,)."""
    rows = [speech(s, seed + i, f0=110.0 + 40 * i) for i, s in enumerate(seconds)]
    lengths = torch.tensor([len(r) for r in rows])
    wavs = torch.zeros(len(rows), int(lengths.max()))
    for i, r in enumerate(rows):
        wavs[i, : len(r)] = torch.from_numpy(r)
    return wavs, lengths


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run each perturbation test single-threaded, then restore the thread count.

    These tests do many small element-wise ops; on a shared 2-core machine torch's intra-op
    thread pool made them ~10x slower (spin-waiting), with no effect on results.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Four ragged rows of 1.0, 0.6, 0.8 and 0.4 s."""
    return make_batch([1.0, 0.6, 0.8, 0.4])


@pytest.fixture
def batch_of() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``batch_of(seconds, seed=0)``: a ragged speech-like batch of the given durations."""
    return make_batch


@pytest.fixture(scope="session")
def rir_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rirs")


TINY_BANK = RirBankConfig(rt60s=(0.3, 0.6, 0.9), rirs_per_rt60=1)


@pytest.fixture(scope="session")
def tiny_bank(rir_cache: Path) -> RirBank:
    """Three simulated RIRs (RT60 0.3, 0.6, 0.9 s), built once per session and cached."""
    return RirBank.load_or_build(TINY_BANK, rir_cache)
