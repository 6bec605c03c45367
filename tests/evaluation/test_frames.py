"""Frame-level phone labels and CTC phone sequences from alignments."""

from __future__ import annotations

from essl.data.manifest import Utterance
from essl.evaluation.frames import frame_phone_labels, phone_sequence, phone_vocabulary

SPANS = (("sil", 0.0, 0.05), ("a", 0.05, 0.11), ("b", 0.11, 0.2))


def test_each_frame_takes_the_phone_at_its_centre():
    vocab = {"sil": 0, "a": 1, "b": 2}
    # 50 Hz: centres at 0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13 (+ one past the end)
    labels = frame_phone_labels(SPANS, 11, 50.0, vocab)
    assert labels.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]


def test_phone_sequence_drops_pauses_and_vocabulary_is_sorted():
    assert phone_sequence(SPANS) == ["a", "b"]
    u = Utterance(id="u", path="u.wav", duration=0.2, phones=SPANS)
    assert phone_vocabulary([u]) == ["a", "b", "sil"]
    assert phone_vocabulary([u], with_silence=False) == ["a", "b"]
