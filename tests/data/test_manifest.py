import json

import pytest

from essl.data.manifest import Utterance, read_manifest, write_manifest
from essl.errors import ManifestError


def _utt(**kw):
    base = dict(
        id="a",
        path="wav/a.wav",
        duration=1.0,
        speaker="s1",
        sex="female",
        phones=(("sil", 0.0, 0.1), ("AA", 0.1, 1.0)),
    )
    base.update(kw)
    return Utterance(**base)


def test_round_trip_keeps_every_field_and_unknown_keys(tmp_path):
    u = _utt(extra={"snr": 12.5})
    write_manifest(tmp_path / "m.jsonl", [u, _utt(id="b")])
    back = read_manifest(tmp_path / "m.jsonl")
    assert back[0] == u and back[0].extra == {"snr": 12.5}


def test_write_is_byte_identical_for_equal_content(tmp_path):
    write_manifest(tmp_path / "a.jsonl", [_utt()])
    write_manifest(tmp_path / "b.jsonl", [_utt()])
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"m.jsonl:2: not valid JSON"),
        ('{"id": "x", "path": "p.wav"}', r"m.jsonl:2: missing required field 'duration'"),
        ('{"id": "x", "path": "p.wav", "duration": "long"}', "must be numbers"),
        ('{"id": "a", "path": "p.wav", "duration": 1}', "duplicate id 'a'"),
        (
            '{"id": "x", "path": "p.wav", "duration": 1, "phones": [["a", 0]]}',
            r"'phones'\[0\] must be",
        ),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps(_utt().to_dict()) + "\n" + line + "\n")
    with pytest.raises(ManifestError, match=message):
        read_manifest(p)


def test_missing_and_empty_manifests_are_clear_errors(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(ManifestError, match="manifest is empty"):
        read_manifest(tmp_path / "e.jsonl")
