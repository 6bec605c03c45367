"""Importers: LibriSpeech, Common Voice and Kaldi layouts round-trip to valid essl manifests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import essl.cli.main as cli
from essl.data.audio import load_audio
from essl.data.importers import import_corpus
from essl.data.importers.commonvoice import normalize_gender
from essl.data.manifest import read_manifest, resolve_audio_path
from essl.data.validate import validate_manifest
from essl.errors import EsslError
from essl.testing import synthetic_vowels

SPEAKERS_TXT = """\
; This is a file containing information about the speakers
; Lines starting with ";" are comments.
;ID  |SEX| SUBSET           |MINUTES| NAME
84   | F | dev-clean        |  8.02 | Christie Nowak
174  | M | dev-clean        |  8.04 | Peter Eastman
60   | M | train-clean-100  | 20.18 | |CBW|Simon
"""


def _wave(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    w, _ = synthetic_vowels([("AA", seconds / 2), ("UW", seconds / 2)], sample_rate=sr, seed=seed)
    return w


def _check_round_trip(manifest: Path) -> list:
    """The manifest reads back, every entry loads at its duration, and it validates."""
    utts = read_manifest(manifest)
    for u in utts:
        wave = load_audio(resolve_audio_path(manifest, u))
        assert len(wave) == pytest.approx(u.duration * 16000, abs=1)
    report = validate_manifest(manifest)
    assert report.ok, report.summary()
    return utts


@pytest.fixture
def librispeech(tmp_path: Path) -> Path:
    root = tmp_path / "LibriSpeech"
    split = root / "dev-clean"
    for spk, chapter, lines in [
        ("84", "121123", ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE"]),
        ("174", "50561", ["FORGOTTEN TOO THE NAME OF GILLIAN"]),
    ]:
        d = split / spk / chapter
        d.mkdir(parents=True)
        trans = []
        for i, text in enumerate(lines):
            uid = f"{spk}-{chapter}-{i:04d}"
            sf.write(d / f"{uid}.flac", _wave(0.4 + 0.2 * i, seed=i), 16000, subtype="PCM_16")
            trans.append(f"{uid} {text}")
        (d / f"{spk}-{chapter}.trans.txt").write_text("\n".join(trans) + "\n")
    (root / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    return split


def test_librispeech_round_trip_carries_speaker_sex_text_split_and_duration(librispeech, tmp_path):
    manifest = import_corpus("librispeech", librispeech, tmp_path / "out")
    utts = {u.id: u for u in _check_round_trip(manifest)}
    assert sorted(utts) == ["174-50561-0000", "84-121123-0000", "84-121123-0001"]
    u = utts["84-121123-0001"]
    assert (u.speaker, u.sex, u.split, u.text) == ("84", "female", "dev", "BUT IN LESS THAN FIVE")
    assert u.duration == pytest.approx(0.6)
    assert utts["174-50561-0000"].sex == "male"
    assert Path(u.path).is_absolute() and Path(u.path).suffix == ".flac"
    assert not (tmp_path / "out" / "wav").exists()  # no copies


def test_librispeech_missing_audio_or_transcripts_are_named(librispeech, tmp_path):
    (librispeech / "84" / "121123" / "84-121123-0001.flac").unlink()
    with pytest.raises(EsslError, match=r"trans\.txt:2: audio 84-121123-0001\.flac"):
        import_corpus("librispeech", librispeech, tmp_path / "out")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(EsslError, match=r"no SPEAKER/CHAPTER/\*\.trans\.txt"):
        import_corpus("librispeech", tmp_path / "nothing", tmp_path / "out")


CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\n"


def _cv(tmp_path: Path, tables: dict[str, list[tuple[str, str, str, str, str]]]) -> Path:
    src = tmp_path / "cv" / "en"
    (src / "clips").mkdir(parents=True)
    for name, rows in tables.items():
        lines = [CV_HEADER]
        for i, (client, clip, age, gender, accent) in enumerate(rows):
            sf.write(
                src / "clips" / clip, _wave(0.5 + 0.1 * i, sr=48000, seed=i), 48000, format="MP3"
            )
            lines.append(f'{client}\t{clip}\tSay "hi" {i}.\t2\t0\t{age}\t{gender}\t{accent}\ten\n')
        (src / name).write_text("".join(lines))
    return src


def test_commonvoice_decodes_mp3_to_16k_wav_with_splits_and_demographics(tmp_path):
    src = _cv(
        tmp_path,
        {
            "train.tsv": [
                (
                    "aa",
                    "common_voice_en_1.mp3",
                    "twenties",
                    "female_feminine",
                    "United States English",
                ),
                ("bb", "common_voice_en_2.mp3", "", "male", ""),
            ],
            "dev.tsv": [("cc", "common_voice_en_3.mp3", "forties", "do_not_wish_to_say", "")],
        },
    )
    manifest = import_corpus("commonvoice", src, tmp_path / "out")
    utts = {u.id: u for u in _check_round_trip(manifest)}
    a, b, c = (utts[f"common_voice_en_{i}"] for i in (1, 2, 3))
    assert (a.speaker, a.sex, a.age, a.accent, a.split) == (
        "aa",
        "female",
        "twenties",
        "United States English",
        "train",
    )
    assert (b.sex, b.age, b.accent, b.split) == ("male", None, None, "train")
    assert (c.sex, c.split) == (None, "dev")
    assert a.text == 'Say "hi" 0.' and a.extra == {"up_votes": 2, "down_votes": 0}
    assert a.sample_rate == 16000 and a.path == "wav/common_voice_en_1.wav"
    assert b.duration == pytest.approx(0.6, abs=1e-3)


def test_commonvoice_validated_only_has_no_split_and_a_rerun_reuses_wavs(tmp_path):
    src = _cv(tmp_path, {"validated.tsv": [("aa", "x.mp3", "teens", "male_masculine", "")]})
    out = tmp_path / "out"
    import_corpus("commonvoice", src, out)
    wav = out / "wav" / "x.wav"
    os.utime(wav, (1e10, 1e10))  # far future: must not be rewritten
    (u,) = read_manifest(import_corpus("commonvoice", src, out))
    assert (u.split, u.sex) == (None, "male") and wav.stat().st_mtime == 1e10


def test_commonvoice_missing_tsv_or_clip_is_named(tmp_path):
    (tmp_path / "cv").mkdir()
    with pytest.raises(EsslError, match=r"validated\.tsv: missing validated\.tsv"):
        import_corpus("commonvoice", tmp_path / "cv", tmp_path / "out")
    src = _cv(tmp_path, {"validated.tsv": [("aa", "x.mp3", "", "", "")]})
    (src / "clips" / "x.mp3").unlink()
    with pytest.raises(EsslError, match=r"clip .*x\.mp3 listed for 'x' is missing"):
        import_corpus("commonvoice", src, tmp_path / "out")


@pytest.mark.parametrize(
    ("raw", "sex"),
    [
        ("male", "male"),
        ("male_masculine", "male"),
        ("female", "female"),
        ("female_feminine", "female"),
        ("intersex", None),
        ("other", None),
        ("", None),
    ],
)
def test_commonvoice_gender_maps_to_two_families_or_none(raw, sex):
    assert normalize_gender(raw) == sex


def _kaldi(tmp_path: Path, segments: bool) -> tuple[Path, dict[str, np.ndarray]]:
    """A recipe folder ``s5`` with ``wavs/`` and ``data/train`` (paths relative to s5)."""
    s5 = tmp_path / "s5"
    data = s5 / "data" / "train"
    (s5 / "wavs").mkdir(parents=True)
    data.mkdir(parents=True)
    waves = {"rec1": _wave(1.0, seed=1), "rec2": _wave(0.8, sr=8000, seed=2)}
    sf.write(s5 / "wavs" / "rec1.wav", waves["rec1"], 16000, subtype="FLOAT")
    sf.write(s5 / "wavs" / "rec2.wav", waves["rec2"], 8000, subtype="FLOAT")
    (data / "wav.scp").write_text("rec1 wavs/rec1.wav\nrec2 wavs/rec2.wav\n")
    if segments:
        (data / "segments").write_text("u1 rec1 0.0 0.5\nu2 rec1 0.5 1.0\nu3 rec2 0.25 -1\n")
        ids, spk = ("u1", "u2", "u3"), ("A", "B", "A")
        (data / "text").write_text("u1 hello there\nu2 general\nu3 kenobi\n")
    else:
        ids, spk = ("rec1", "rec2"), ("A", "B")
        (data / "text").write_text("rec1 hello there\nrec2 general kenobi\n")
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in zip(ids, spk, strict=True)))
    (data / "spk2gender").write_text("A f\nB m\n")
    return data, waves


def test_kaldi_without_segments_points_at_the_original_files(tmp_path):
    data, _ = _kaldi(tmp_path, segments=False)
    manifest = import_corpus("kaldi", data, tmp_path / "out")
    utts = {u.id: u for u in read_manifest(manifest)}
    r1, r2 = utts["rec1"], utts["rec2"]
    assert (r1.speaker, r1.sex, r1.text, r1.split) == ("A", "female", "hello there", "train")
    assert (r2.sex, r2.sample_rate, r2.duration) == ("male", 8000, pytest.approx(0.8))
    assert r1.path == str((tmp_path / "s5" / "wavs" / "rec1.wav").resolve())
    report = validate_manifest(manifest)  # the 8 kHz original is flagged, the 16 kHz one passes
    assert [(e.id, e.problems[0].kind) for e in report.bad] == [("rec2", "wrong_rate")]


def test_kaldi_segments_become_16k_wavs_with_the_right_samples(tmp_path):
    data, waves = _kaldi(tmp_path, segments=True)
    manifest = import_corpus("kaldi", data, tmp_path / "out")
    utts = {u.id: u for u in _check_round_trip(manifest)}
    assert [utts[u].duration for u in ("u1", "u2", "u3")] == pytest.approx([0.5, 0.5, 0.55])
    assert (utts["u2"].speaker, utts["u2"].sex, utts["u2"].text) == ("B", "male", "general")
    u1 = load_audio(resolve_audio_path(manifest, utts["u1"]))
    np.testing.assert_allclose(u1, waves["rec1"][:8000], atol=1 / 32767)
    assert utts["u3"].path == "wav/u3.wav" and utts["u3"].sample_rate == 16000


def test_kaldi_piped_wav_scp_is_refused_with_the_line_and_the_fix(tmp_path):
    data, _ = _kaldi(tmp_path, segments=False)
    (data / "wav.scp").write_text("rec1 wavs/rec1.wav\nrec2 sph2pipe -f wav -p x.sph |\n")
    with pytest.raises(
        EsslError,
        match=r"wav\.scp:2: 'rec2' is a piped command.*convert to "
        r"plain files first, e\.g\. `sph2pipe -f wav -p x\.sph",
    ):
        import_corpus("kaldi", data, tmp_path / "out")


def test_kaldi_missing_wav_scp_bad_segment_and_unknown_kind_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EsslError, match=r"wav\.scp: missing wav\.scp"):
        import_corpus("kaldi", tmp_path / "empty", tmp_path / "out")
    data, _ = _kaldi(tmp_path, segments=True)
    (data / "segments").write_text("u1 rec1 0.0 0.5\nu9 rec9 0 1\n")
    with pytest.raises(EsslError, match=r"segments:2: recording 'rec9'"):
        import_corpus("kaldi", data, tmp_path / "out")
    (data / "segments").write_text("u1 rec1 0.5 3.0\n")
    with pytest.raises(EsslError, match=r"'u1' ends at 3.0 s"):
        import_corpus("kaldi", data, tmp_path / "out")
    with pytest.raises(EsslError, match="unknown corpus kind 'timit'"):
        import_corpus("timit", data, tmp_path / "out")


def test_cli_import_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "GROUPS", ("corpus",))
    data, _ = _kaldi(tmp_path, segments=True)
    assert cli.main(["corpus", "import", "kaldi", str(data), str(tmp_path / "out")]) == 0
    assert "manifest.jsonl" in capsys.readouterr().out
    (data / "wav.scp").write_text("rec1 cat x.wav |\n")
    assert cli.main(["corpus", "import", "kaldi", str(data), str(tmp_path / "o2")]) == 2
    assert "piped command" in capsys.readouterr().err
