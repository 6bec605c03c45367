"""pytest fixtures: ``seed`` (deterministic torch/numpy/random), ``tiny_corpus``."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from essl.testing.manifests import make_tiny_corpus


@pytest.fixture
def seed() -> int:
    """Seed every RNG essl uses (random, numpy, torch) with 1234; returns the seed."""
    import torch

    s = 1234
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    return s


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Path to the manifest of an 8-utterance, 4-speaker synthetic corpus (1 s each)."""
    return make_tiny_corpus(tmp_path / "corpus")
