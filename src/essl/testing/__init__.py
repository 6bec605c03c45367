"""Test helpers shipped with essl: tiny synthetic audio and manifests, seeded RNG.

Use the pytest fixtures by adding ``pytest_plugins = ["essl.testing.fixtures"]`` to a
``conftest.py``.
"""

from essl.testing.audio import PHONE_FORMANTS, synthetic_vowels
from essl.testing.manifests import make_tiny_corpus

__all__ = ["PHONE_FORMANTS", "make_tiny_corpus", "synthetic_vowels"]
