"""The synthetic espeak-ng corpus: fields, alignments, demographics, splits, twins,
determinism, crash safety and the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from essl.data.manifest import Utterance, read_manifest
from essl.data.synth import ACCENTS, SynthConfig, build_corpus
from essl.data.synth import builder as synth_builder
from essl.data.synth._espeak import EVENT_PHONEME, EVENT_WORD, Event, data_path
from essl.data.synth.align import align
from essl.data.synth.text import make_sentences
from essl.data.synth.voices import FEMALE_VARIANTS, MALE_VARIANTS, sexes, variant_sex
from essl.errors import ConfigError, EsslError

CFG = SynthConfig(minutes=0.75, speakers=4, seed=1, counterfactual_pairs=True)
FIELDS = (
    "id",
    "path",
    "duration",
    "sample_rate",
    "speaker",
    "sex",
    "accent",
    "age",
    "text",
    "words",
    "phones",
    "split",
    "twin",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Utterance]]:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synth_builder, "CHUNK", 3)  # several chunks per worker, as in big builds
        manifest = build_corpus(CFG, out, jobs=2, progress=False)
    return out, read_manifest(manifest)


def test_manifest_lines_have_every_field_and_16k_mono_pcm16_audio(corpus):
    out, utts = corpus
    for line in (out / "manifest.jsonl").read_text().splitlines():
        d = json.loads(line)
        assert set(FIELDS) <= d.keys()
        assert d["age"] is None and d["sample_rate"] == 16000
    for u in utts:
        info = sf.info(out / u.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames / info.samplerate == u.duration
        assert u.accent in ACCENTS and u.sex in ("female", "male")
    assert 0.6 * 45 < sum(u.duration for u in utts) < 1.4 * 45


def test_phones_tile_the_audio_and_each_word(corpus):
    _, utts = corpus
    for u in utts:
        assert u.phones and u.words
        assert u.phones[0][1] == 0.0 and u.phones[-1][2] == u.duration
        for a, b in zip(u.phones, u.phones[1:], strict=False):
            assert a[2] == b[1], (u.id, a, b)
            assert not (a[0] == b[0] == "sil"), "adjacent pauses are merged"
        assert all(e > s for _, s, e in u.phones)
        for w, s, e in u.words:
            inside = [p for p in u.phones if s <= p[1] and p[2] <= e]
            assert inside and inside[0][1] == s and inside[-1][2] == e, (u.id, w)
            assert all(p[0] != "sil" for p in inside)
        spoken = " ".join(w for w, _, _ in u.words).split()
        assert spoken == [t.strip(".,?!").lower() for t in u.text.split()]


def _spans(utts: list[Utterance], out: Path, labels: set[str], min_s: float) -> list[np.ndarray]:
    segs = []
    for u in utts:
        audio, sr = sf.read(out / u.path, dtype="float32")
        for label, s, e in u.phones:
            if label in labels and e - s >= min_s:
                segs.append(audio[int(s * sr) : int(e * sr)])
    return segs


def test_alignment_is_real_pauses_are_quiet_and_fricatives_buzz_faster_than_vowels(corpus):
    out, utts = corpus
    rms = lambda xs: np.mean([np.sqrt(np.mean(x**2)) for x in xs])  # noqa: E731
    zcr = lambda xs: np.mean([np.mean(np.abs(np.diff(np.sign(x))) > 0) for x in xs])  # noqa: E731
    sil = _spans(utts, out, {"sil"}, 0.03)
    vowels = _spans(utts, out, {"a", "E", "I", "i:", "u:", "aI", "eI", "oU", "0", "V"}, 0.03)
    fricatives = _spans(utts, out, {"s", "S", "f", "T"}, 0.03)
    assert len(sil) > 10 and len(vowels) > 20 and len(fricatives) > 5
    assert rms(sil) < 0.05 * rms(vowels)
    assert zcr(fricatives) > 2 * zcr(vowels)


def test_splits_share_no_sentence_and_test_speakers_are_held_out(corpus):
    _, utts = corpus
    texts, speakers = defaultdict(set), defaultdict(set)
    for u in utts:
        texts[u.split].add(u.text)
        speakers[u.split].add(u.speaker)
    assert {"train", "test"} <= texts.keys()
    for a in texts:
        for b in texts:
            if a < b:
                assert not texts[a] & texts[b]
    assert not speakers["test"] & (speakers["train"] | speakers["dev"])


def test_twins_link_both_ways_to_the_other_sex_with_same_text_and_split(corpus):
    _, utts = corpus
    by_id = {u.id: u for u in utts}
    for u in utts:
        t = by_id[u.twin]
        assert t.twin == u.id and t.sex != u.sex
        assert (t.text, t.split) == (u.text, u.split)


def test_same_seed_gives_byte_identical_corpus_with_any_number_of_jobs(
    corpus, tmp_path, monkeypatch
):
    out2, utts = corpus
    assert len(utts) > 3 * 3, "the corpus spans several chunks"
    monkeypatch.setattr(synth_builder, "CHUNK", 3)
    out1 = tmp_path / "jobs1"
    build_corpus(CFG, out1, jobs=1, progress=False)
    files = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    for f in files:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes(), f


def test_female_ratio_sets_the_number_of_female_speakers(tmp_path):
    for n, r in ((16, 0.5), (10, 0.3), (5, 1.0), (7, 0.0)):
        assert sexes(n, r).count("female") == round(n * r)
    cfg = SynthConfig(minutes=0.2, speakers=4, female_ratio=0.75, accents=("en-us", "en"))
    utts = read_manifest(build_corpus(cfg, tmp_path / "c", jobs=1, progress=False))
    sex = {u.speaker: u.sex for u in utts}
    assert sorted(sex.values()) == ["female", "female", "female", "male"]
    meta = json.loads((tmp_path / "c" / "corpus.json").read_text())
    for s in meta["speakers"]:
        assert s["sex"] == sex[s["id"]]
    accents = [s["accent"] for s in meta["speakers"] if s["sex"] == "female"]
    assert sorted(accents) == ["en", "en-us", "en-us"]


@pytest.mark.parametrize(
    "kw",
    [
        {"accents": ("en-gb",)},
        {"minutes": 0},
        {"speakers": 1},
        {"female_ratio": 1.5},
        {"speakers": 3, "counterfactual_pairs": True},
    ],
)
def test_invalid_configs_raise_config_error_naming_the_field(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        SynthConfig(**kw).validate()


def test_unknown_accent_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="en-gb"):
        build_corpus(SynthConfig(minutes=0.1, accents=("en-gb",)), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_refuses_a_non_empty_folder_that_is_not_a_synthetic_corpus(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EsslError, match="not empty"):
        build_corpus(SynthConfig(minutes=0.1, speakers=2), tmp_path, jobs=1, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_failed_build_leaves_the_previous_corpus_intact(tmp_path, monkeypatch):
    out = tmp_path / "c"
    cfg = SynthConfig(minutes=0.1, speakers=2, accents=("en-us",))
    build_corpus(cfg, out, jobs=1, progress=False)
    before = (out / "manifest.jsonl").read_bytes()

    def disk_full(path, audio):
        raise OSError("No space left on device")

    monkeypatch.setattr(synth_builder, "_write_wav", disk_full)  # runs in forked workers
    with pytest.raises(OSError, match="No space"):
        build_corpus(SynthConfig(minutes=0.2, speakers=2, seed=5), out, jobs=1, progress=False)
    assert (out / "manifest.jsonl").read_bytes() == before
    assert all((out / u.path).is_file() for u in read_manifest(out / "manifest.jsonl"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"], "no temporary folder left"


def test_align_on_hand_built_events_follows_the_documented_rules():
    W = lambda s, t: Event(EVENT_WORD, s, t)  # noqa: E731
    P = lambda s, t: Event(EVENT_PHONEME, s, t)  # noqa: E731
    events = (
        W(0, "Sells,"),
        P(10, "s"),
        P(40, "'E"),
        P(70, "l"),
        P(70, "z"),
        P(100, "_:"),
        W(120, "in the"),
        P(120, "I"),
        P(150, "n"),
        P(150, "D"),
        P(190, "@"),
    )
    words, phones = align(events, n_samples=200, native_rate=100, offset_s=0.5, duration_s=3.0)
    assert words == (("sells", 0.5, 1.5), ("in the", 1.7, 2.5))
    assert phones == (
        ("sil", 0.0, 0.5),
        ("s", 0.5, 0.9),
        ("E", 0.9, 1.2),
        ("l", 1.2, 1.35),
        ("z", 1.35, 1.5),
        ("sil", 1.5, 1.7),
        ("I", 1.7, 2.0),
        ("n", 2.0, 2.2),
        ("D", 2.2, 2.4),
        ("@", 2.4, 2.5),
        ("sil", 2.5, 3.0),
    )


def test_variant_sex_is_read_from_the_espeak_voice_files():
    data = data_path()
    assert variant_sex("f1", data) == "female" and variant_sex("m1", data) == "male"
    with pytest.raises(ConfigError, match="zzz"):
        variant_sex("zzz", data)
    assert len(FEMALE_VARIANTS) >= 5 and len(MALE_VARIANTS) >= 5


def test_sentences_are_distinct_and_fixed_by_the_seed():
    a = make_sentences(500, seed=3)
    assert len(set(a)) == 500 and a == make_sentences(500, seed=3) != make_sentences(500, 4)


@pytest.mark.slow
def test_cli_corpus_synth_writes_a_manifest(tmp_path, capsys):
    from essl.cli.main import main

    out = tmp_path / "cli"
    argv = [
        "corpus",
        "synth",
        str(out),
        "--minutes",
        "0.2",
        "--speakers",
        "2",
        "--seed",
        "3",
        "--accents",
        "en-gb-scotland,en-029",
        "--jobs",
        "1",
    ]
    assert main(argv) == 0
    assert "manifest.jsonl" in capsys.readouterr().out
    utts = read_manifest(out / "manifest.jsonl")
    assert {u.accent for u in utts} <= {"en-gb-scotland", "en-029"}
    assert main(["corpus", "synth", str(out), "--accents", "en-gb"]) == 2
