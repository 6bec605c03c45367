import json

import pytest
import torch

from essl.errors import ConfigError, EsslError
from essl.perturb import CONDITIONS, AdditiveNoise, Compose, Gain, Identity, Speed, get_condition
from essl.perturb import conditions as conditions_module

RANDOM = {"noise", "babble", "reverb", "packet_loss"}


def _make(name: str, severity: float, bank):
    extra = {"bank": bank} if name == "reverb" else {}
    return CONDITIONS[name].make(severity, **extra)


def _all_cases():
    return [(n, c.severities[-1]) for n, c in CONDITIONS.items()]


def test_registry_lists_the_required_conditions_with_mild_to_severe_defaults():
    required = {
        "noise",
        "babble",
        "reverb",
        "telephone",
        "bandlimit",
        "mulaw",
        "mp3",
        "clipping",
        "gain",
        "speed",
        "packet_loss",
    }
    assert required <= set(CONDITIONS)
    assert CONDITIONS["noise"].severities == (20, 10, 5, 0)
    assert CONDITIONS["reverb"].severities == (0.3, 0.6, 0.9)
    assert CONDITIONS["mp3"].severities == (64, 32, 16)
    assert CONDITIONS["clipping"].severities == (0.5, 0.2, 0.1)
    assert CONDITIONS["packet_loss"].severities == (0.05, 0.1, 0.2)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "severity"), _all_cases())
def test_same_seed_gives_bit_identical_output_and_zero_padding(name, severity, batch, tiny_bank):
    wavs, lengths = batch
    p = _make(name, severity, tiny_bank)
    a, la, ra = p(wavs, lengths, torch.Generator().manual_seed(5))
    b, lb, rb = p(wavs, lengths, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert json.dumps(ra) == json.dumps(rb)  # records are JSON-compatible and identical
    assert len(ra) == len(lengths) and all(r["perturbation"] == p.name for r in ra)
    for row, n in enumerate(la.tolist()):
        assert torch.all(a[row, n:] == 0)
    assert torch.isfinite(a).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_different_seed_gives_different_output(name, batch, tiny_bank):
    wavs, lengths = batch
    severity = 0.6 if name == "reverb" else CONDITIONS[name].severities[-1]
    extra = {"candidates": 3} if name == "reverb" else {}
    p = CONDITIONS[name].make(severity, **({"bank": tiny_bank} | extra if name == "reverb" else {}))
    outs = [p(wavs, lengths, torch.Generator().manual_seed(s))[0] for s in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_compose_records_every_step_in_order(batch):
    wavs, lengths = batch
    chain = Compose([AdditiveNoise(snr_db=10.0), Gain(gain_db=-6.0), Speed(factor=1.1)])
    out, out_lengths, records = chain(wavs, lengths, torch.Generator().manual_seed(0))
    assert [s["perturbation"] for s in records[0]["steps"]] == ["noise", "gain", "speed"]
    assert all(r["perturbation"] == "compose" and len(r["steps"]) == 3 for r in records)
    assert records[1]["steps"][0]["snr_db"] == pytest.approx(10.0, abs=0.01)
    assert records[1]["steps"][2]["length_out"] == int(out_lengths[1])
    g1 = torch.Generator().manual_seed(0)
    step_by_step = Speed(factor=1.1)(
        *Gain(gain_db=-6.0)(*AdditiveNoise(snr_db=10.0)(wavs, lengths, g1)[:2], g1)[:2], g1
    )
    assert torch.equal(step_by_step.wavs, out)


def test_identity_returns_the_batch_unchanged(batch):
    wavs, lengths = batch
    out, out_lengths, records = Identity()(wavs, lengths)
    assert torch.equal(out, wavs) and torch.equal(out_lengths, lengths)
    assert records == [{"perturbation": "identity"}] * len(lengths)


def test_compose_rejects_non_perturbations():
    with pytest.raises(ConfigError, match="steps"):
        Compose([])
    with pytest.raises(ConfigError, match=r"steps\[1\]"):
        Compose([Gain(gain_db=1.0), lambda w, l, g: (w, l, [])])  # type: ignore[list-item]


def test_unavailable_codec_is_not_listed_and_its_error_names_the_package(monkeypatch):
    monkeypatch.setattr(conditions_module, "opus_available", lambda: "Opus needs `pip install av`")
    assert "opus" not in conditions_module._build()
    monkeypatch.delitem(CONDITIONS, "opus", raising=False)
    with pytest.raises(EsslError, match="pip install av"):
        get_condition("opus")


def test_unknown_condition_suggests_the_closest_name():
    with pytest.raises(ConfigError, match="did you mean 'babble'"):
        get_condition("babel")


def test_bad_batches_raise_audio_errors_naming_the_perturbation():
    from essl.errors import AudioError

    with pytest.raises(AudioError, match="noise"):
        AdditiveNoise(snr_db=0.0)(torch.zeros(3), torch.tensor([3]))
    with pytest.raises(AudioError, match="lengths"):
        AdditiveNoise(snr_db=0.0)(torch.zeros(2, 10), torch.tensor([3, 11]))


@pytest.mark.slow
def test_empty_and_one_sample_rows_pass_through_every_condition(tiny_bank):
    wavs = 0.1 * torch.randn(4, 4000, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([4000, 0, 1, 4000])
    wavs[1] = 0
    wavs[2, 1:] = 0
    for name, severity in _all_cases():
        out, out_lengths, records = _make(name, severity, tiny_bank)(wavs, lengths)
        assert int(out_lengths[1]) == 0 and torch.all(out[1] == 0), name
        assert int(out_lengths[2]) == 1 and torch.all(out[2, 1:] == 0), name
        assert torch.isfinite(out).all() and len(records) == 4, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("name", "severity"), _all_cases())
def test_cuda_input_gives_cuda_output_equal_to_cpu(name, severity, batch, tiny_bank):
    wavs, lengths = batch
    p = _make(name, severity, tiny_bank)
    cpu = p(wavs, lengths, torch.Generator().manual_seed(1))
    gpu = p(wavs.cuda(), lengths.cuda(), torch.Generator().manual_seed(1))
    assert gpu.wavs.device.type == "cuda" and gpu.lengths.device.type == "cuda"
    assert torch.allclose(gpu.wavs.cpu(), cpu.wavs, atol=1e-4)
