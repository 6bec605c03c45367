"""validate_manifest: every problem kind is caught with its own message; quarantine is lossless."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import essl.cli.main as cli
from essl.data.manifest import read_manifest
from essl.data.validate import PROBLEM_KINDS, validate_manifest
from essl.errors import ManifestError
from essl.testing import make_tiny_corpus, synthetic_vowels

GOOD = 4


def _wave(seconds: float = 0.5, sr: int = 16000) -> np.ndarray:
    w, _ = synthetic_vowels([("AA", seconds / 2), ("IY", seconds / 2)], sample_rate=sr)
    return w


def _entry(rel: str, duration: float = 0.5, uid: str = "bad", **kw) -> str:
    return json.dumps({"id": uid, "path": rel, "duration": duration, **kw})


def _stereo(d: Path) -> str:
    sf.write(d / "st.wav", np.stack([_wave(), _wave()], 1), 16000)
    return _entry("st.wav", uid="stereo")


def _nan(d: Path) -> str:
    w = _wave()
    w[100:110] = np.nan
    sf.write(d / "nan.wav", w, 16000, subtype="FLOAT")
    return _entry("nan.wav", uid="nan")


def _truncated(d: Path) -> str:
    sf.write(d / "full.wav", _wave(), 16000, subtype="PCM_16")
    (d / "cut.wav").write_bytes((d / "full.wav").read_bytes()[:3000])
    return _entry("cut.wav")


def _write_and(name: str, data: np.ndarray, sr: int = 16000, **kw) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        sf.write(d / name, data, sr)
        return _entry(name, **kw)

    return make


def _corrupt(d: Path) -> str:
    (d / "junk.wav").write_bytes(b"RIFF\x00\x00\x00\x00garbage" * 50)
    return _entry("junk.wav")


OVERLAP = [["a", 0.0, 0.3], ["b", 0.2, 0.5]]
CASES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    # name: (make the bad line, expected kind, a phrase of the message)
    "missing file": (lambda d: _entry("wav/nope.wav"), "missing", "not found"),
    "corrupt bytes": (_corrupt, "corrupt", "corrupt"),
    "empty wav": (_write_and("e.wav", np.zeros(0, np.float32)), "empty", "0 samples"),
    "truncated wav": (_truncated, "truncated", "header declares 8000 frames"),
    "NaN float wav": (_nan, "non_finite", "10 NaN/Inf samples"),
    "stereo": (_stereo, "multichannel", "stereo, essl expects mono; downmix"),
    "8 kHz": (_write_and("n.wav", _wave(sr=8000), 8000), "wrong_rate", "8000 Hz"),
    "rate differs from entry": (
        _write_and("r.wav", _wave(), sample_rate=22050),
        "wrong_rate",
        "sample_rate 22050",
    ),
    "duration off by 50 ms": (
        _write_and("d.wav", _wave(), duration=0.55),
        "duration_mismatch",
        "set duration to 0.5",
    ),
    "bad JSON": (lambda d: '{"id": "bad", "path": ', "malformed", "not valid JSON"),
    "missing field": (lambda d: '{"id": "bad", "path": "x.wav"}', "malformed", "'duration'"),
    "wrong type": (lambda d: _entry("x.wav", duration="long"), "malformed", "must be numbers"),
    "not an object": (lambda d: "[1, 2]", "malformed", "expected a JSON object"),
    "duplicate id": (
        lambda d: (d / "manifest.jsonl").read_text().splitlines()[0],
        "duplicate_id",
        "already used on line 1",
    ),
    "unknown sex": (_write_and("s.wav", _wave(), sex="F"), "bad_field", "sex 'F'"),
    "dangling twin": (_write_and("t.wav", _wave(), twin="ghost"), "bad_field", "twin 'ghost'"),
    "overlapping phones": (
        _write_and("o.wav", _wave(), phones=OVERLAP),
        "bad_alignment",
        "phones[1] 'b' (0.2-0.5 s) overlaps",
    ),
    "word after the end": (
        _write_and("w.wav", _wave(), words=[["x", 0.1, 0.9]]),
        "bad_alignment",
        "outside the audio",
    ),
    "span ends before it starts": (
        _write_and("b.wav", _wave(), words=[["x", 0.3, 0.1]]),
        "bad_alignment",
        "starts after it ends",
    ),
}


def _corpus_with_bad_line(tmp_path: Path, make: Callable[[Path], str]) -> Path:
    manifest = make_tiny_corpus(tmp_path / "c", num_utterances=GOOD, seconds=0.5)
    bad = make(manifest.parent)
    with manifest.open("a") as f:
        f.write(bad + "\n")
    return manifest


def test_a_good_tiny_corpus_validates_ok(tiny_corpus):
    report = validate_manifest(tiny_corpus)
    assert report.ok and len(report.good) == 8 and report.counts() == {}
    assert report.summary().startswith("OK")
    assert json.loads(report.to_json())["ok"] is True


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_entry_is_rejected_alone_with_its_kind_and_reason(tmp_path, case):
    make, kind, phrase = CASES[case]
    report = validate_manifest(_corpus_with_bad_line(tmp_path, make))
    assert not report.ok
    assert len(report.good) == GOOD
    (bad,) = report.bad
    assert bad.line == GOOD + 1
    assert [p.kind for p in bad.problems] == [kind], bad.reason
    assert phrase in bad.reason
    assert report.counts() == {kind: 1}
    assert kind in report.summary() and f"line {GOOD + 1}" in report.summary()


def test_every_problem_kind_is_exercised_by_a_test():
    assert {kind for _, kind, _ in CASES.values()} == set(PROBLEM_KINDS)


def test_quarantine_keeps_every_good_entry_and_the_clean_manifest_validates(tmp_path):
    manifest = make_tiny_corpus(tmp_path / "c", num_utterances=6, seconds=0.5)
    lines = manifest.read_text().splitlines()
    bad_lines = [_stereo(manifest.parent), "not json", _nan(manifest.parent)]
    manifest.write_text("\n".join(lines[:2] + bad_lines[:2] + lines[2:] + bad_lines[2:]) + "\n")
    out = tmp_path / "elsewhere" / "q"
    report = validate_manifest(manifest, quarantine=out)
    assert report.quarantine == out and not report.ok
    clean = read_manifest(out / "manifest.jsonl")
    assert [u.id for u in clean] == [json.loads(x)["id"] for x in lines]
    assert validate_manifest(out / "manifest.jsonl").ok
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [r["raw"] for r in rejects] == bad_lines
    assert [r["problems"][0]["kind"] for r in rejects] == [
        "multichannel",
        "malformed",
        "non_finite",
    ]
    assert all(r["reason"] for r in rejects)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "rejects.jsonl"]


def test_quarantine_keeps_absolute_paths_absolute(tmp_path):
    manifest = make_tiny_corpus(tmp_path / "c", num_utterances=2, seconds=0.5)
    first = read_manifest(manifest)[0]
    wav = (manifest.parent / first.path).resolve()
    manifest.write_text(json.dumps(first.replace(path=str(wav)).to_dict()) + "\n")
    validate_manifest(manifest, quarantine=tmp_path / "q")
    (u,) = read_manifest(tmp_path / "q" / "manifest.jsonl")
    assert u.path == str(wav)


def test_missing_manifest_raises_and_empty_manifest_is_not_ok(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        validate_manifest(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    report = validate_manifest(tmp_path / "empty.jsonl")
    assert not report.ok and "no entries" in report.summary()


def test_check_audio_false_only_checks_the_lines(tmp_path):
    manifest = _corpus_with_bad_line(tmp_path, CASES["missing file"][0])
    assert validate_manifest(manifest, check_audio=False).ok


@pytest.fixture
def corpus_cli(monkeypatch):
    """``essl`` with only the corpus group (other groups belong to other modules)."""
    monkeypatch.setattr(cli, "GROUPS", ("corpus",))
    return cli.main


def test_cli_exit_codes_mean_ok_bad_and_user_error(tmp_path, corpus_cli, capsys):
    good = make_tiny_corpus(tmp_path / "good", num_utterances=2, seconds=0.5)
    bad = _corpus_with_bad_line(tmp_path / "bad", _corrupt)
    assert corpus_cli(["corpus", "validate", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert corpus_cli(["corpus", "validate", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"corrupt": 1} and report["good"] == GOOD
    q = tmp_path / "q"
    assert corpus_cli(["corpus", "validate", str(bad), "--quarantine", str(q)]) == 1
    assert corpus_cli(["corpus", "validate", str(q / "manifest.jsonl")]) == 0
    assert corpus_cli(["corpus", "validate", str(tmp_path / "missing.jsonl")]) == 2
