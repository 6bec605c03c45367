"""Sentences for the synthetic corpus: grammar templates over the word lists shipped here.

The lists (``nouns.txt``, ``adjectives.txt``, ``verbs.txt``, ``names.txt``, ``places.txt``,
``times.txt``) were written for phone coverage: together they contain every English
consonant and vowel, including the rare /ʒ/ (garage, measure, treasure), /θ/, /ð/, /ɔɪ/.
Twelve templates over them give millions of distinct sentences; :func:`make_sentences`
draws distinct ones deterministically from a seed. Words are lowercase ASCII letters (names
capitalised), so espeak-ng's word events map one to one onto the words of the text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

__all__ = ["TEMPLATES", "make_sentences", "word_list"]

TEMPLATES = (
    "the {adj} {noun} {past} the {noun} near the {place}.",
    "{name} {past} a {adj} {noun} {time}.",
    "did the {noun} {base} the {adj} {noun} in the {place}?",
    "{name} and {name} {past} the {noun}, then they left the {place}.",
    "a {adj} {noun} will {base} the {noun} {time}.",
    "why did {name} {base} the {adj} {noun}?",
    "the {noun} in the {place} was {adj} and {adj}.",
    "{time}, the {adj} {noun} {past} my {noun}.",
    "please {base} the {noun} before the {adj} {noun} comes back.",
    "{name} never {past} the {noun} from the {place}.",
    "my {noun} thinks the {noun} looks {adj} {time}.",
    "we should {base} that {adj} {noun} with {name}.",
)
"""Sentence templates; ``{base}``/``{past}`` are the two forms of one verb line."""


@cache
def word_list(name: str) -> tuple[str, ...]:
    """The entries of ``<name>.txt`` shipped in this package (``#`` lines are comments)."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    lines = (ln.strip() for ln in text.splitlines())
    return tuple(ln for ln in lines if ln and not ln.startswith("#"))


def _fill(template: str, rng: np.random.Generator) -> str:
    out = []
    for i, part in enumerate(template.replace("}", "{").split("{")):
        if i % 2 == 0:
            out.append(part)
        elif part in ("base", "past"):
            base, past = word_list("verbs")[rng.integers(len(word_list("verbs")))].split()
            out.append(base if part == "base" else past)
        else:
            lst = word_list({"adj": "adjectives", "noun": "nouns"}.get(part, part + "s"))
            out.append(lst[rng.integers(len(lst))])
    return "".join(out)


def make_sentences(n: int, seed: int) -> list[str]:
    """``n`` distinct sentences drawn from :data:`TEMPLATES`, the same for the same seed."""
    rng = np.random.default_rng([seed, 0x7E47])
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        s = _fill(TEMPLATES[rng.integers(len(TEMPLATES))], rng)
        s = s[0].upper() + s[1:]
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
