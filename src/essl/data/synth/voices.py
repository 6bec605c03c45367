"""Speakers of the synthetic corpus: an English accent (espeak-ng language voice) crossed
with a voice variant, plus per-speaker pitch, pitch range and rate.

espeak-ng silently falls back to the previous voice when a variant name is unknown, so
every accent and variant is checked against the files of the data folder, and a variant's
sex is read from the ``gender`` line of its file, never guessed from its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from essl.errors import ConfigError

__all__ = [
    "ACCENTS",
    "FEMALE_VARIANTS",
    "MALE_VARIANTS",
    "Speaker",
    "check_accents",
    "make_speakers",
    "variant_sex",
]

ACCENTS = (
    "en-us",
    "en-us-nyc",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
"""espeak-ng English voices: US, New York City, British (``en``; ``en-gb`` is not a voice
name), Received Pronunciation, Scottish, Lancastrian, West Midlands, Caribbean."""

FEMALE_VARIANTS = (
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "Annie",
    "Alicia",
    "Andrea",
    "anika",
    "belinda",
    "linda",
    "steph",
)
MALE_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "Andy",
    "Lee",
    "antonio",
    "victor",
    "michel",
    "miguel",
)
"""Human-sounding variants (no whisper, robot or effect voices); sex comes from their files."""


@dataclass(frozen=True, kw_only=True)
class Speaker:
    id: str
    """``spk000``, ``spk001``, ... in creation order."""
    sex: str
    """``female`` or ``male``, from the variant file's ``gender`` line."""
    accent: str
    variant: str
    pitch: int
    """espeakPITCH, 0-100 (50 = the variant's own base pitch, which sets the sex's F0 range)."""
    pitch_range: int
    """espeakRANGE, 0-100 (0 monotone, 50 normal)."""
    rate: int
    """espeakRATE, words per minute."""
    test: bool
    """True for the held-out speakers of the test split."""

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


def _lang_files(data_dir: Path) -> dict[str, Path]:
    return {p.name.lower(): p for p in (data_dir / "lang").rglob("*") if p.is_file()}


def check_accents(accents: tuple[str, ...], data_dir: Path) -> None:
    """Raise ConfigError naming any accent that has no language voice in ``data_dir``."""
    known = _lang_files(data_dir)
    for a in accents:
        if a.lower() not in known:
            raise ConfigError(
                f"accents: espeak-ng has no voice '{a}'; use some of {', '.join(ACCENTS)}"
            )


def variant_sex(variant: str, data_dir: Path) -> str:
    """``female``/``male`` from the ``gender`` line of ``voices/!v/<variant>``."""
    path = data_dir / "voices" / "!v" / variant
    if not path.is_file():
        raise ConfigError(f"espeak-ng voice variant '{variant}' not found in {path.parent}")
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0] == "gender" and parts[1].lower() in ("female", "male"):
            return parts[1].lower()
    raise ConfigError(f"espeak-ng voice variant '{variant}' ({path}) declares no gender")


def sexes(n: int, female_ratio: float) -> list[str]:
    """``round(n * female_ratio)`` females spread evenly over ``n`` speakers."""
    n_f = round(n * female_ratio)
    return ["female" if (i + 1) * n_f // n > i * n_f // n else "male" for i in range(n)]


def held_out_speakers(sex: list[str], fraction: float) -> set[int]:
    """Indices of the held-out speakers: about ``fraction`` of each sex, the last ones of each.

    Every sex present keeps at least one training speaker; both sexes get a test speaker
    when both have two or more speakers (so counterfactual twins exist in every split).
    """
    held: set[int] = set()
    for s in ("female", "male"):
        idx = [i for i, x in enumerate(sex) if x == s]
        if len(idx) >= 2:
            k = min(len(idx) - 1, max(1, round(fraction * len(idx))))
            held.update(idx[-k:])
    if not held:  # a single speaker of each sex: hold out the last one
        held.add(len(sex) - 1)
    return held


def make_speakers(
    n: int,
    female_ratio: float,
    accents: tuple[str, ...],
    seed: int,
    data_dir: Path,
    test_fraction: float,
) -> list[Speaker]:
    """Speakers with balanced accents within each sex and seeded voice parameters."""
    pool = {
        s: [v for v in FEMALE_VARIANTS + MALE_VARIANTS if variant_sex(v, data_dir) == s]
        for s in ("female", "male")
    }
    sex = sexes(n, female_ratio)
    held = held_out_speakers(sex, test_fraction)
    counts = {"female": 0, "male": 0}
    out = []
    for i, s in enumerate(sex):
        k = counts[s]
        counts[s] += 1
        rng = np.random.default_rng([seed, 1, i])
        out.append(
            Speaker(
                id=f"spk{i:03d}",
                sex=s,
                accent=accents[k % len(accents)],
                variant=pool[s][(k + seed) % len(pool[s])],
                pitch=int(np.clip(rng.normal(50, 10), 25, 75)),
                pitch_range=int(np.clip(rng.normal(55, 12), 25, 90)),
                rate=int(np.clip(rng.normal(170, 15), 135, 210)),
                test=i in held,
            )
        )
    return out
