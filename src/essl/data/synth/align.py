"""Word and phone alignments from espeak-ng's events (exact: they come from the synthesizer).

Rules, applied at the native sample rate before conversion to seconds:

* A pause phoneme (mnemonic starting with ``_``, e.g. ``_:`` at a comma or sentence end)
  starts a ``sil`` span that lasts until the next word starts; the audio before the first
  word (including the leading padding) and after the last pause is ``sil`` too.
* A word starts at its WORD event, which can precede its first phoneme event (a stop's
  closure, a few ms of silence at a word onset): the word's first phone starts with the word.
* A word ends where the next word starts or at the next pause, whichever comes first, so
  words and ``sil`` spans tile the utterance.
* Each phone lasts until the next phoneme event of the same word (its last one until the
  word ends). espeak-ng sometimes reports two phonemes at the same sample (e.g. /l/ /z/ of
  "sells", rendered inside one transition): such a group shares its span equally, and a
  group that would be empty at the end of a word shares the previous group's span.
* A word label is the lowercased text of a WORD event without punctuation. espeak-ng speaks
  ``in the`` and ``from the`` as one unit with one event: that span is labelled ``in the``.
* Phone labels are espeak-ng mnemonics with stress marks removed (``'aU`` → ``aU``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from essl.data.manifest import Span
from essl.data.synth._espeak import EVENT_PHONEME, EVENT_WORD, Event

__all__ = ["SIL", "AlignmentError", "align"]

SIL = "sil"
_STRESS = "',%="
_PUNCT = ".,?!;:\"'()"


class AlignmentError(RuntimeError):
    """espeak-ng's events cannot be turned into a tiling (a word without phonemes)."""


@dataclass
class _Word:
    text: str
    start: int
    end: int = -1
    phones: list[tuple[str, int]] = field(default_factory=list)


def _group(words: list[_Word], events: tuple[Event, ...], n_samples: int) -> list[int]:
    """Fill ``words``; return the start samples of pauses that follow a word."""
    pauses: list[int] = []
    cur: _Word | None = None
    for e in events:
        if e.kind == EVENT_WORD:
            if cur is not None and cur.end < 0:
                cur.end = e.sample
            cur = _Word(" ".join(w.strip(_PUNCT) for w in e.label.lower().split()), e.sample)
            words.append(cur)
        elif e.kind == EVENT_PHONEME:
            label = e.label.lstrip(_STRESS)
            if not label or label.startswith("_"):
                if cur is not None and cur.end < 0:
                    cur.end = e.sample
                    pauses.append(e.sample)
            elif cur is None or cur.end >= 0:
                raise AlignmentError(f"phoneme {label!r} at sample {e.sample} outside a word")
            else:
                cur.phones.append((label, e.sample))
    if cur is not None and cur.end < 0:
        cur.end = n_samples
    return pauses


def _tile(w: _Word) -> list[tuple[str, int, int]]:
    """Phones of one word tiling [w.start, w.end] (see the module rules)."""
    if not w.phones or w.end <= w.start:
        raise AlignmentError(f"word {w.text!r} has no phonemes or no duration")
    pos = [w.start] + [max(w.start, min(p, w.end)) for _, p in w.phones[1:]]
    groups: list[list[int]] = []  # indices of phones sharing a start
    for i, p in enumerate(pos):
        if groups and pos[groups[-1][0]] == p:
            groups[-1].append(i)
        else:
            groups.append([i])
    if len(groups) > 1 and pos[groups[-1][0]] >= w.end:
        last = groups.pop()
        groups[-1].extend(last)
    out = []
    for g, idx in enumerate(groups):
        a = pos[idx[0]]
        b = pos[groups[g + 1][0]] if g + 1 < len(groups) else w.end
        for j, i in enumerate(idx):
            s = a + (b - a) * j // len(idx)
            e = a + (b - a) * (j + 1) // len(idx)
            if e <= s:
                raise AlignmentError(f"word {w.text!r}: phone {w.phones[i][0]!r} is empty")
            out.append((w.phones[i][0], s, e))
    return out


def align(
    events: tuple[Event, ...], n_samples: int, native_rate: int, offset_s: float, duration_s: float
) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """``(words, phones)`` in seconds: event samples / native_rate + ``offset_s``.

    Boundaries are rounded to 1 µs once and shared by neighbouring spans, so spans tile
    [0, duration_s] exactly; the last span ends at ``duration_s``.
    """
    words: list[_Word] = []
    _group(words, events, n_samples)
    if not words:
        raise AlignmentError("no word events")

    def t(sample: int) -> float:
        return min(round(offset_s + sample / native_rate, 6), duration_s)

    word_spans: list[Span] = []
    phones: list[Span] = []
    cursor = 0.0
    for w in words:
        start = t(w.start)
        if start > cursor:
            phones.append((SIL, cursor, start))
        for label, s, e in _tile(w):
            phones.append((label, t(s), t(e)))
        word_spans.append((w.text, start, t(w.end)))
        cursor = t(w.end)
    if cursor < duration_s:
        phones.append((SIL, cursor, duration_s))
    return tuple(word_spans), tuple(p for p in phones if p[2] > p[1] or p[0] != SIL)
