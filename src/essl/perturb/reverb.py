"""Reverberation: convolution with a simulated room impulse response of a given RT60.

For each utterance one RIR is drawn (seeded) among the ``candidates`` RIRs of the bank whose
*measured* RT60 is closest to the requested one. The convolution is done with FFTs on the
input's device; the direct-path delay is removed so the output stays aligned with the
input, the reverberant tail beyond the utterance is cut (length preserved), and, by
default, the output is rescaled to the input's RMS so reverberation does not also change
the level (level is a separate condition, :class:`~essl.perturb.distortions.Gain`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from essl.config import from_dict, to_dict
from essl.errors import ConfigError
from essl.perturb._dsp import fft_convolve_aligned
from essl.perturb.base import Perturbation, Perturbed, Record, check_batch, valid_mask
from essl.perturb.rir import RirBank, RirBankConfig

__all__ = ["Reverb"]


@functools.lru_cache(maxsize=4)
def _cached_bank(config_json: str, cache_dir: str | None) -> RirBank:
    return RirBank.load_or_build(from_dict(RirBankConfig, json.loads(config_json)), cache_dir)


@dataclass(kw_only=True)
class Reverb(Perturbation):
    """Reverberation with an RT60 of about ``rt60`` seconds (RIRs from a cached bank)."""

    name: ClassVar[str] = "reverb"
    rt60: float
    """Requested reverberation time (s); the RIRs with the closest measured RT60 are used."""
    candidates: int = 4
    """How many RIRs (closest in measured RT60) one is drawn from per utterance."""
    preserve_level: bool = True
    """Rescale each output row to the input's RMS over valid samples."""
    bank_config: RirBankConfig = field(default_factory=RirBankConfig)
    """The RIR bank to draw from (built once, cached on disk)."""
    cache_dir: str | None = None
    """Where the bank is cached; ``None`` uses :func:`~essl.perturb.rir.default_cache_dir`."""
    bank: RirBank | None = field(default=None, repr=False, compare=False)
    """A bank already in memory; overrides ``bank_config``/``cache_dir``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not 0.05 <= self.rt60 <= 3.0:
            raise ConfigError(f"Reverb.rt60: must lie in [0.05, 3] s, got {self.rt60}")
        if self.candidates < 1:
            raise ConfigError(f"Reverb.candidates: must be >= 1, got {self.candidates}")
        self.bank_config.validate()

    def get_bank(self) -> RirBank:
        """The bank in use (loaded or simulated on first use, then kept in memory)."""
        if self.bank is None:
            blob = json.dumps(to_dict(self.bank_config), sort_keys=True)
            self.bank = _cached_bank(blob, self.cache_dir)
        return self.bank

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        bank = self.get_bank()
        order = np.argsort(np.abs(bank.rt60_measured - self.rt60), kind="stable")
        pool = order[: min(self.candidates, len(bank))]
        pick = pool[torch.randint(0, len(pool), (wavs.shape[0],), generator=generator).numpy()]
        rirs = torch.from_numpy(bank.rirs[pick]).to(wavs.device)
        delays = torch.from_numpy(bank.delays[pick])
        x = wavs * valid_mask(lengths, wavs.shape[1], wavs.device)
        out = fft_convolve_aligned(x, lengths, rirs, delays)
        if self.preserve_level:
            gain = x.double().pow(2).sum(1).sqrt() / out.double().pow(2).sum(1).sqrt().clamp_min(
                1e-12
            )
            out = out * gain.to(out.dtype)[:, None]
        records: list[Record] = [
            {
                "perturbation": self.name,
                "rir": int(i),
                "rt60_s": float(bank.rt60_measured[i]),
                "rt60_target_s": float(bank.rt60_target[i]),
                "room_m": [float(v) for v in bank.room_dims[i]],
            }
            for i in pick
        ]
        return Perturbed(out, lengths.clone(), records)
