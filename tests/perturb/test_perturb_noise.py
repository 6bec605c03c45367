import math

import numpy as np
import pytest
import torch
from scipy.signal import welch

from essl.errors import AudioError, ConfigError
from essl.perturb import AdditiveNoise, Babble, colored_noise


def _snr(clean: torch.Tensor, noisy: torch.Tensor, n: int) -> float:
    noise = (noisy[:n] - clean[:n]).double()
    return 10 * math.log10(clean[:n].double().pow(2).mean() / noise.pow(2).mean())


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [20.0, 5.0, 0.0, -5.0])
def test_realised_snr_is_within_half_a_db_of_target_for_each_colour(batch, color, snr):
    wavs, lengths = batch
    g = torch.Generator().manual_seed(0)
    out, out_lengths, records = AdditiveNoise(snr_db=snr, color=color)(wavs, lengths, g)
    assert torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        measured = _snr(wavs[b], out[b], n)
        assert abs(measured - snr) < 0.5
        assert abs(records[b]["snr_db"] - measured) < 0.01
        assert records[b]["color"] == color


def test_snr_range_is_sampled_per_utterance_within_bounds(batch):
    wavs, lengths = batch
    g = torch.Generator().manual_seed(1)
    _, _, records = AdditiveNoise(snr_db=(0.0, 20.0))(wavs, lengths, g)
    targets = [r["target_snr_db"] for r in records]
    assert all(0.0 <= t <= 20.0 for t in targets)
    assert len(set(targets)) == len(targets)
    assert all(abs(r["snr_db"] - r["target_snr_db"]) < 0.5 for r in records)


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -10.0), ("brown", -20.0)])
def test_noise_psd_slope_per_decade_matches_its_colour(color, slope):
    from essl.perturb.noise import NOISE_EXPONENTS

    g = torch.Generator().manual_seed(0)
    x = colored_noise(4, 2**16, NOISE_EXPONENTS[color], g).numpy()
    f, p = welch(x, fs=16000, nperseg=4096, axis=-1)
    p = p.mean(0)
    band = (f >= 50) & (f <= 5000)
    fitted = np.polyfit(np.log10(f[band]), 10 * np.log10(p[band]), 1)[0]
    assert abs(fitted - slope) < 1.0


def test_noise_is_added_only_over_valid_samples(batch):
    wavs, lengths = batch
    out, _, _ = AdditiveNoise(snr_db=0.0)(wavs, lengths, torch.Generator().manual_seed(0))
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(out[b, n:] == 0)
        assert torch.all(out[b, :n] != wavs[b, :n])


def test_silent_row_gets_no_noise_and_no_snr():
    wavs = torch.zeros(2, 100)
    wavs[0] = torch.randn(100)
    out, _, records = AdditiveNoise(snr_db=10.0)(wavs, torch.tensor([100, 50]))
    assert torch.all(out[1] == 0)
    assert records[1]["snr_db"] is None and records[0]["snr_db"] is not None


@pytest.mark.parametrize("snr", [20.0, 5.0, 0.0])
def test_babble_from_the_batch_reaches_target_snr_within_half_a_db(batch, snr):
    wavs, lengths = batch
    g = torch.Generator().manual_seed(0)
    out, _, records = Babble(snr_db=snr, num_talkers=3)(wavs, lengths, g)
    for b, n in enumerate(lengths.tolist()):
        assert abs(_snr(wavs[b], out[b], n) - snr) < 0.5
        assert len(records[b]["talkers"]) == 3
        assert f"batch:{b}" not in records[b]["talkers"]
        assert torch.all(out[b, n:] == 0)


def test_babble_from_given_sources_reaches_target_snr_within_half_a_db(batch, batch_of):
    wavs, lengths = batch
    pool, pool_lengths = batch_of([0.5, 0.7, 0.3, 0.9, 0.6], seed=100)
    sources = [w[:n] for w, n in zip(pool, pool_lengths.tolist(), strict=True)]
    out, _, records = Babble(snr_db=3.0, num_talkers=4, sources=sources)(
        wavs, lengths, torch.Generator().manual_seed(2)
    )
    for b, n in enumerate(lengths.tolist()):
        assert abs(_snr(wavs[b], out[b], n) - 3.0) < 0.5
        assert all(t.startswith("source:") for t in records[b]["talkers"])


def test_babble_without_other_talkers_says_how_to_fix(batch):
    wavs, lengths = batch
    with pytest.raises(AudioError, match="sources"):
        Babble(snr_db=0.0)(wavs[:1], lengths[:1])


def test_invalid_noise_settings_name_the_field():
    with pytest.raises(ConfigError, match="color"):
        AdditiveNoise(snr_db=0.0, color="purple")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="snr_db"):
        AdditiveNoise(snr_db=(10.0, 0.0))
