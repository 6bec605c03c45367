"""Configuration of the synthetic corpus."""

from __future__ import annotations

from dataclasses import dataclass

from essl.data.synth.voices import ACCENTS, held_out_speakers, sexes
from essl.errors import ConfigError

__all__ = ["SynthConfig"]


@dataclass(kw_only=True)
class SynthConfig:
    """What to synthesize. Presets: :meth:`tiny` (tests), the defaults (20 min, 16 speakers)."""

    minutes: float = 20.0
    """Total audio to produce, counterfactual twins included (planned from an estimate of
    each sentence's length; the result is typically within 10%)."""
    speakers: int = 16
    """Number of speakers; about ``test_fraction`` of them (at least one) are test-only."""
    seed: int = 0
    """Seeds speakers' voices, sentence choice and padding: same seed, byte-identical corpus."""
    female_ratio: float = 0.5
    """Fraction of female speakers (``round(speakers * female_ratio)`` of them)."""
    counterfactual_pairs: bool = False
    """Speak each sentence twice: once more by a matched speaker of the other sex (``twin``)."""
    accents: tuple[str, ...] = ACCENTS
    """espeak-ng English voices, assigned round-robin within each sex."""
    test_fraction: float = 0.2
    """Fraction of each sex's speakers held out for the speaker-disjoint test split."""
    dev_fraction: float = 0.1
    """Fraction of the training speakers' sentences (and utterances) put in the dev split."""

    @classmethod
    def tiny(cls, **kw: object) -> SynthConfig:
        """Half a minute from 4 speakers: for tests."""
        return cls(**{"minutes": 0.5, "speakers": 4, **kw})  # type: ignore[arg-type]

    def validate(self) -> None:
        if not self.minutes > 0:
            raise ConfigError(f"minutes must be > 0, got {self.minutes}")
        if self.speakers < 2:
            raise ConfigError(
                f"speakers must be >= 2 (one for training, one held out for "
                f"the speaker-disjoint test split), got {self.speakers}"
            )
        if not 0.0 <= self.female_ratio <= 1.0:
            raise ConfigError(f"female_ratio must be in [0, 1], got {self.female_ratio}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")
        if not self.accents:
            raise ConfigError("accents must name at least one voice, e.g. ('en-us',)")
        for a in self.accents:
            if a not in ACCENTS:
                raise ConfigError(
                    f"accents: unknown accent '{a}'; use some of "
                    f"{', '.join(ACCENTS)} (note: British English is 'en')"
                )
        if self.counterfactual_pairs:
            sex = sexes(self.speakers, self.female_ratio)
            held = held_out_speakers(sex, self.test_fraction)
            for group, name in ((held, "test"), (set(range(self.speakers)) - held, "train")):
                if {sex[i] for i in group} != {"female", "male"}:
                    raise ConfigError(
                        f"counterfactual_pairs needs both sexes among the {name} speakers; "
                        f"use speakers >= 4 with at least two of each sex (female_ratio "
                        f"{self.female_ratio} gives {sex.count('female')} female of "
                        f"{self.speakers})"
                    )
