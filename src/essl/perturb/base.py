"""The perturbation interface, composition, and the record of what was applied.

A perturbation maps a padded batch ``wavs: (B, S)`` with ``lengths: (B,)`` to a new padded
batch ``(B, S')`` with new lengths and, per utterance, a record (a JSON-compatible dict) of
what was realised: the SNR actually reached, the RT60 of the chosen impulse response, the
codec bitrate, the clipped fraction... Every record names its perturbation under the key
``"perturbation"``.

Contract of every perturbation:

* **Seeded.** All randomness comes from the ``generator`` argument (a CPU
  :class:`torch.Generator`; ``None`` uses torch's default generator). The same generator
  state gives bit-identical output.
* **Padding respected.** Only the first ``lengths[b]`` samples of row ``b`` are read and
  written; padding is zero on output. Levels (SNR, peaks) are measured on valid samples.
* **Device kept.** Output lives on the input's device. Work that needs a CPU-only library
  (soxr, codecs, pyroomacoustics) moves to the CPU internally and comes back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from essl.errors import AudioError, ConfigError

__all__ = [
    "Compose",
    "Identity",
    "Perturbation",
    "Perturbed",
    "Record",
    "check_batch",
    "draw_seed",
    "map_valid",
    "valid_mask",
]

Record = dict[str, Any]
"""What was applied to one utterance; JSON-compatible, with key ``"perturbation"``."""


class Perturbed(NamedTuple):
    """The result of a perturbation; unpacks as ``wavs, lengths, records``."""

    wavs: torch.Tensor
    """(B, S') perturbed waveforms, zero beyond ``lengths``; on the input's device."""
    lengths: torch.Tensor
    """(B,) valid samples per row after the perturbation (changes only for speed)."""
    records: list[Record]
    """Per utterance, what was applied (B dicts)."""


class Perturbation(ABC):
    """A seeded, batched acoustic perturbation (see the module docstring for the contract)."""

    name: ClassVar[str]
    """Short name written into every record under ``"perturbation"``."""

    @abstractmethod
    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        """Perturb a padded batch.

        Args:
            wavs: (B, S) float waveforms in [-1, 1] (nominally), zero-padded.
            lengths: (B,) valid samples per row.
            generator: CPU RNG; ``None`` uses torch's default generator.
        """


def check_batch(wavs: torch.Tensor, lengths: torch.Tensor, where: str) -> None:
    """Raise :class:`AudioError` naming ``where`` unless ``wavs``/``lengths`` form a batch."""
    if wavs.dim() != 2 or not wavs.is_floating_point():
        raise AudioError(
            f"{where}: expected float waveforms of shape (B, S), got {wavs.dtype} "
            f"{tuple(wavs.shape)}; stack mono waveforms and pad them with zeros"
        )
    if lengths.dim() != 1 or lengths.shape[0] != wavs.shape[0]:
        raise AudioError(
            f"{where}: lengths must have shape (B,)=({wavs.shape[0]},), "
            f"got {tuple(lengths.shape)}; pass one valid-sample count per row"
        )
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > wavs.shape[1]):
        raise AudioError(
            f"{where}: lengths must lie in [0, S={wavs.shape[1]}], got "
            f"[{int(lengths.min())}, {int(lengths.max())}]; fix the lengths of the batch"
        )


def valid_mask(
    lengths: torch.Tensor, num_samples: int, device: torch.device | None = None
) -> torch.Tensor:
    """(B, S) bool on ``device`` (default: ``lengths``'), True on valid samples.

    The complement of a padding mask.
    """
    device = lengths.device if device is None else device
    return torch.arange(num_samples, device=device)[None, :] < lengths.to(device)[:, None]


def draw_seed(generator: torch.Generator | None) -> int:
    """Draw a 63-bit seed from ``generator`` (for numpy-based steps)."""
    return int(torch.randint(0, 2**63 - 1, (1,), generator=generator))


RowFn = Callable[[np.ndarray, int], tuple[np.ndarray, Record]]
"""Per-utterance numpy step: ``(valid samples (S_b,), row index) -> (output, record)``."""


def map_valid(wavs: torch.Tensor, lengths: torch.Tensor, fn: RowFn) -> Perturbed:
    """Apply ``fn`` to the valid part of each row on the CPU; re-pad and return to the device.

    Rows may change length; the output is padded to the longest. ``fn``'s record is
    returned as is (the caller adds ``"perturbation"``).
    """
    cpu = wavs.detach().to("cpu", torch.float32).numpy()
    outs, records = [], []
    for b, n in enumerate(lengths.tolist()):
        y, rec = fn(cpu[b, :n], b)
        outs.append(np.asarray(y, dtype=np.float32))
        records.append(rec)
    new_lengths = [len(y) for y in outs]
    out = np.zeros((len(outs), max(new_lengths, default=0)), dtype=np.float32)
    for b, y in enumerate(outs):
        out[b, : len(y)] = y
    return Perturbed(
        torch.from_numpy(out).to(device=wavs.device, dtype=wavs.dtype),
        torch.tensor(new_lengths, dtype=lengths.dtype, device=lengths.device),
        records,
    )


@dataclass(kw_only=True)
class Identity(Perturbation):
    """The clean condition: returns the batch unchanged (padding zeroed)."""

    name: ClassVar[str] = "identity"

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        out = wavs * valid_mask(lengths, wavs.shape[1], wavs.device)
        return Perturbed(out, lengths.clone(), [{"perturbation": self.name} for _ in lengths])


class Compose(Perturbation):
    """Apply perturbations in order; each utterance's record lists every step.

    The record of utterance ``b`` is ``{"perturbation": "compose", "steps": [r1, r2, ...]}``
    where ``r_i`` is the record step ``i`` produced for it.
    """

    name: ClassVar[str] = "compose"

    def __init__(self, steps: Sequence[Perturbation]) -> None:
        if not steps:
            raise ConfigError("Compose.steps: empty; pass at least one perturbation")
        for i, s in enumerate(steps):
            if not isinstance(s, Perturbation):
                raise ConfigError(
                    f"Compose.steps[{i}]: {type(s).__name__} is not a Perturbation; "
                    "build it from essl.perturb (e.g. CONDITIONS['noise'].make(10))"
                )
        self.steps = list(steps)

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"

    def __call__(
        self,
        wavs: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> Perturbed:
        check_batch(wavs, lengths, self.name)
        steps: list[list[Record]] = [[] for _ in range(wavs.shape[0])]
        for step in self.steps:
            wavs, lengths, records = step(wavs, lengths, generator)
            for b, rec in enumerate(records):
                steps[b].append(rec)
        return Perturbed(wavs, lengths, [{"perturbation": self.name, "steps": s} for s in steps])
