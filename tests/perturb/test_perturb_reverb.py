import numpy as np
import pytest
import torch

from essl.errors import ConfigError
from essl.perturb import Reverb, RirBank, RirBankConfig, measure_rt60

SR = 16000
RT60_TOLERANCE = 0.15  # relative; the bank is calibrated to 5% but may stop at 4 tries


@pytest.mark.parametrize("rt60", [0.25, 0.5, 1.0])
def test_measure_rt60_recovers_the_decay_of_an_exponential_noise_tail(rt60):
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * rt60 * SR)) / SR
    h = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60)  # -60 dB after rt60 s
    h[0] = 5.0  # direct path
    assert abs(measure_rt60(h, SR) / rt60 - 1) < 0.05


def test_measure_rt60_of_a_too_short_decay_is_nan():
    h = np.ones(100)
    assert np.isnan(measure_rt60(h, SR))


@pytest.mark.slow
def test_simulated_rirs_have_measured_rt60_within_tolerance_of_target(tiny_bank):
    import pyroomacoustics as pra

    assert len(tiny_bank) == 3
    rel = tiny_bank.rt60_measured / tiny_bank.rt60_target - 1
    assert np.all(np.abs(rel) < RT60_TOLERANCE), rel
    for i in range(len(tiny_bank)):
        h = tiny_bank.rirs[i, : tiny_bank.lengths[i]]
        theirs = pra.experimental.measure_rt60(h, fs=SR, decay_db=30)
        assert abs(theirs / tiny_bank.rt60_measured[i] - 1) < 0.05


def test_bank_is_seeded_cached_on_disk_and_reloaded(tmp_path, monkeypatch):
    from essl.perturb import rir

    cfg = RirBankConfig(rt60s=(0.3,), rirs_per_rt60=1, seed=7)
    bank = RirBank.load_or_build(cfg, tmp_path)
    path = tmp_path / f"{cfg.cache_key()}.npz"
    assert path.is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers

    def no_simulation(*args, **kwargs):
        raise AssertionError("the cached bank must not be simulated again")

    monkeypatch.setattr(rir, "_simulate", no_simulation)
    again = RirBank.load_or_build(cfg, tmp_path)
    assert np.array_equal(again.rirs, bank.rirs)
    assert np.array_equal(again.rt60_measured, bank.rt60_measured)
    monkeypatch.undo()
    rebuilt = RirBank.build(cfg)
    assert np.array_equal(rebuilt.rirs, bank.rirs)
    other = RirBankConfig(rt60s=(0.3,), rirs_per_rt60=1, seed=8)
    assert other.cache_key() != cfg.cache_key()


@pytest.mark.slow
def test_reverb_output_is_aligned_length_preserving_and_level_preserving(tiny_bank, batch):
    from scipy.signal import correlate

    _, lengths = batch
    noise = torch.randn(
        len(lengths), int(lengths.max()), generator=torch.Generator().manual_seed(0)
    )
    wavs = noise * (torch.arange(noise.shape[1])[None, :] < lengths[:, None])
    g = torch.Generator().manual_seed(0)
    out, out_lengths, records = Reverb(rt60=0.6, candidates=1, bank=tiny_bank)(wavs, lengths, g)
    assert out.shape == wavs.shape and torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(out[b, n:] == 0)
        x, y = wavs[b, :n].double(), out[b, :n].double()
        assert abs(y.norm() / x.norm() - 1) < 1e-4
        corr = correlate(y.numpy(), x.numpy(), mode="full", method="fft")
        assert int(np.argmax(np.abs(corr))) == n - 1  # peak at lag 0: direct path aligned
        assert records[b]["rt60_s"] == pytest.approx(tiny_bank.rt60_measured[1])


@pytest.mark.slow
def test_impulse_is_moved_to_its_own_position_by_the_direct_path(tiny_bank):
    wavs = torch.zeros(1, 8000)
    wavs[0, 3000] = 1.0
    out, _, _ = Reverb(rt60=0.3, bank=tiny_bank, preserve_level=False)(wavs, torch.tensor([8000]))
    assert int(out[0].abs().argmax()) == 3000


def test_invalid_rt60_names_the_field():
    with pytest.raises(ConfigError, match="rt60"):
        Reverb(rt60=5.0)
    with pytest.raises(ConfigError, match="rirs_per_rt60"):
        RirBankConfig(rirs_per_rt60=0).validate()
