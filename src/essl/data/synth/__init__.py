"""The synthetic speech corpus: English sentences spoken by espeak-ng voices, with exact word
and phone alignments, speaker demographics and optional counterfactual twins.

::

    from essl.data.synth import SynthConfig, build_corpus
    manifest = build_corpus(SynthConfig(minutes=20, speakers=16), "data/synth", jobs=2)

or ``essl corpus synth data/synth --minutes 20 --speakers 16``.

* Engine: libespeak-ng via ctypes (:mod:`._espeak`), 22050 Hz, resampled to 16 kHz (soxr).
* Phone set: espeak-ng phoneme mnemonics with stress marks removed (``D @ k w I k b r aU n``);
  pauses and silence are ``sil``. Alignment rules: :mod:`.align`.
* Speakers: :mod:`.voices`; split rule (speaker-disjoint test, sentence-disjoint splits):
  :data:`.plan.SPLIT_RULE`; sentences: :mod:`.text`.
"""

from essl.data.synth.builder import PHONE_SET, build_corpus
from essl.data.synth.config import SynthConfig
from essl.data.synth.voices import ACCENTS

__all__ = ["ACCENTS", "PHONE_SET", "SynthConfig", "build_corpus"]
