"""A ctypes binding to libespeak-ng (from the ``espeakng-loader`` wheel), synchronous mode.

One :class:`Engine` per process: the library keeps global state and is not thread-safe.
That state also makes its output depend on what the process spoke before: pitch *flutter*
reads a static table index that runs on across messages, filter states carry over, and the
first message after initialisation differs from later ones (a warm-up message is spoken and
dropped). The builder therefore speaks fixed chunks of utterances, each in a process forked
from the same warm state (see :data:`essl.data.synth.builder.CHUNK`). Breath noise draws
from libc ``rand()``: both it and espeak's own generator are seeded before every message.

Events (``speak_lib.h``, API revision 12): ``sample`` is the position in samples at the
native rate (22050 Hz), counted from the start of each message.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "EVENT_PHONEME",
    "EVENT_WORD",
    "Engine",
    "Event",
    "Synthesis",
    "data_path",
    "library_version",
]

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4
EVENT_WORD, EVENT_PHONEME = 1, 7


class _EventId(ctypes.Union):
    _fields_ = [  # ctypes layout of the union in espeak_EVENT
        ("number", ctypes.c_int),  # WORD and SENTENCE events: word / sentence number
        ("name", ctypes.c_char_p),  # MARK and PLAY events
        ("string", ctypes.c_char * 8),  # PHONEME events: mnemonic, NUL-terminated unless 8 bytes
    ]


class _Event(ctypes.Structure):
    _fields_ = [  # ctypes layout of espeak_EVENT
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, 1-based
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples at the native rate
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Event:
    """A word or phoneme event: ``kind`` is EVENT_WORD or EVENT_PHONEME."""

    kind: int
    sample: int
    """Position at the native rate, from the start of the message."""
    label: str
    """Phoneme mnemonic (PHONEME) or the word(s) as written in the text (WORD)."""


@dataclass(frozen=True)
class Synthesis:
    audio: np.ndarray
    """(S,) int16 at :attr:`sample_rate`."""
    sample_rate: int
    events: tuple[Event, ...]


def data_path() -> Path:
    """The ``espeak-ng-data`` folder of the espeakng-loader wheel."""
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def library_version() -> str:
    """The version string of the loaded libespeak-ng (e.g. ``1.52.0``)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Info.restype = ctypes.c_char_p
    return str(lib.espeak_Info(None).decode())


class Engine:
    """libespeak-ng initialised once in this process, in synchronous mode with phoneme events."""

    def __init__(self, data_dir: Path, buffer_ms: int = 500) -> None:
        import espeakng_loader

        self._lib = lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._libc = ctypes.CDLL(None)
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        options = INITIALIZE_PHONEME_EVENTS  # mnemonics, not IPA: see essl.data.synth
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, str(data_dir).encode(), options
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data_dir}")
        self.sample_rate = int(rate)
        self._chunks: list[bytes] = []
        self._events: list[Event] = []
        self._text = b""
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.synthesize("Warm up.", "en-us", pitch=50, pitch_range=50, rate=175, seed=0)

    def _on_audio(self, wav: ctypes.Array, n: int, events: ctypes.Array) -> int:
        if n > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while events[i].type != 0:
            e = events[i]
            if e.type == EVENT_PHONEME:
                raw = bytes(e.id.string).split(b"\0", 1)[0]
                self._events.append(Event(EVENT_PHONEME, e.sample, raw.decode("utf-8", "replace")))
            elif e.type == EVENT_WORD:  # label filled in by _word_labels
                self._events.append(Event(EVENT_WORD, e.sample, str(e.text_position - 1)))
            i += 1
        return 0

    def synthesize(
        self, text: str, voice: str, *, pitch: int, pitch_range: int, rate: int, seed: int
    ) -> Synthesis:
        """Speak ``text`` with ``voice`` (``accent+variant``); parameters as in espeak_SetParameter."""
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range), (PARAM_RATE, rate)):
            lib.espeak_SetParameter(param, int(value), 0)
        self._libc.srand(seed & 0xFFFFFFFF)
        lib.espeak_ng_SetRandSeed(seed)
        self._chunks, self._events, self._text = [], [], text.encode()
        buf = self._text + b"\0"
        err = lib.espeak_Synth(buf, len(buf), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed with code {err} on {text!r}")
        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
        events = _word_labels(tuple(self._events), self._text)
        return Synthesis(audio=audio, sample_rate=self.sample_rate, events=events)


def _word_labels(events: tuple[Event, ...], text: bytes) -> tuple[Event, ...]:
    """Label each WORD event with the text from its position to the next word's.

    espeak-ng speaks a few word pairs as one unit with a single word event (``in the``,
    ``from the``): the label then holds both words, and the span covers both. Positions are
    in characters, used here as byte offsets: the corpus text is ASCII.
    """
    starts = [int(e.label) for e in events if e.kind == EVENT_WORD] + [len(text)]
    out, k = [], 0
    for e in events:
        if e.kind == EVENT_WORD:
            word = text[starts[k] : starts[k + 1]].decode("utf-8", "replace")
            e = Event(EVENT_WORD, e.sample, " ".join(word.split()))
            k += 1
        out.append(e)
    return tuple(out)
