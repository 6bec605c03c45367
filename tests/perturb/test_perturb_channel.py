import numpy as np
import pytest
import torch
from scipy.signal import welch

from essl.errors import ConfigError
from essl.perturb import BandLimit, Clipping, Gain, PacketLoss, Speed, Telephone

SR = 16000
FLOOR_DB = -60.0  # stopband energy relative to the passband (measured: below -80 dB)
MARGIN_HZ = 16.0  # two Welch bins: the estimator's own leakage around an edge


def _white(batch: int = 2, n: int = 64000) -> tuple[torch.Tensor, torch.Tensor]:
    x = 0.1 * torch.randn(batch, n, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([n] + [n * 5 // 8] * (batch - 1))
    return x * (torch.arange(n)[None, :] < lengths[:, None]), lengths


def _psd_db(y: torch.Tensor, n: int, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    f, p = welch(y[:n].numpy(), fs=SR, nperseg=2048, window="blackmanharris", detrend=False)
    ref = p[(f >= band[0]) & (f <= band[1])].mean()
    return f, 10 * np.log10(p / ref + 1e-30)


@pytest.mark.parametrize("cutoff", [4000.0, 2000.0, 1000.0])
def test_bandlimit_leaves_no_energy_above_cutoff(cutoff):
    x, lengths = _white()
    y, out_lengths, records = BandLimit(cutoff_hz=cutoff)(x, lengths)
    assert y.shape == x.shape and torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        f, db = _psd_db(y[b], n, (100, 0.8 * cutoff))
        assert db[f >= cutoff + MARGIN_HZ].max() < FLOOR_DB
        _, db_in = _psd_db(x[b], n, (100, 0.8 * cutoff))
        passband = (f > 100) & (f < 0.85 * cutoff)
        assert abs(db[passband] - db_in[passband]).max() < 0.5  # passband kept
        assert torch.all(y[b, n:] == 0)
    assert records[0]["cutoff_hz"] == cutoff


def test_bandlimit_keeps_in_band_signal_aligned():
    t = torch.arange(16000) / SR
    x = (0.5 * torch.sin(2 * torch.pi * 440 * t))[None]
    y, _, _ = BandLimit(cutoff_hz=2000.0)(x, torch.tensor([16000]))
    inner = slice(1000, 15000)  # away from the onset/offset transients
    assert torch.allclose(y[0, inner], x[0, inner], atol=2e-3)


@pytest.mark.parametrize("mulaw", [False, True])
def test_telephone_leaves_no_energy_below_300_or_above_3400_hz(mulaw):
    x, lengths = _white()
    y, out_lengths, records = Telephone(mulaw=mulaw)(x, lengths)
    assert y.shape == x.shape and torch.equal(out_lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        f, db = _psd_db(y[b], n, (500, 3200))
        outside = (f <= 300 - MARGIN_HZ) | (f >= 3400 + MARGIN_HZ)
        assert db[outside].max() < FLOOR_DB
        assert torch.all(y[b, n:] == 0)
    assert records[0]["mulaw"] is mulaw


def test_telephone_output_is_aligned_with_its_input():
    t = torch.arange(16000) / SR
    x = (0.3 * torch.sin(2 * torch.pi * 1000 * t))[None]
    y, _, _ = Telephone(mulaw=False)(x, torch.tensor([16000]))
    assert torch.allclose(y[0, 1000:15000], x[0, 1000:15000], atol=5e-3)


@pytest.mark.parametrize("fraction", [0.5, 0.2, 0.1])
def test_clipping_records_the_fraction_of_clipped_samples(batch, fraction):
    wavs, lengths = batch
    y, _, records = Clipping(fraction=fraction)(wavs, lengths)
    for b, n in enumerate(lengths.tolist()):
        thr = fraction * wavs[b, :n].abs().max()
        assert y[b].abs().max() <= thr + 1e-7
        expected = float((wavs[b, :n].abs() > thr).double().mean())
        assert records[b]["clipped_fraction"] == pytest.approx(expected)
        assert 0 < records[b]["clipped_fraction"] < 1
        assert torch.all(y[b, n:] == 0)


def test_gain_scales_by_its_decibels(batch):
    wavs, lengths = batch
    y, _, records = Gain(gain_db=-20.0)(wavs, lengths)
    assert torch.allclose(y, wavs * 0.1, atol=1e-7)
    assert records[0]["gain_db"] == -20.0


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.25])
def test_speed_changes_lengths_by_the_factor(batch, factor):
    wavs, lengths = batch
    y, out_lengths, records = Speed(factor=factor)(wavs, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert abs(int(out_lengths[b]) - n / factor) <= 1
        assert records[b]["length_out"] == int(out_lengths[b])
        assert torch.all(y[b, int(out_lengths[b]) :] == 0)
    assert y.shape[1] == int(out_lengths.max())


def test_speed_up_raises_the_pitch_by_the_factor():
    t = torch.arange(16000) / SR
    x = torch.sin(2 * torch.pi * 500 * t)[None]
    y, n, _ = Speed(factor=1.2)(x, torch.tensor([16000]))
    spec = torch.fft.rfft(y[0, : int(n)]).abs()
    peak_hz = int(spec.argmax()) * SR / int(n)
    assert abs(peak_hz - 600) < 5


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_packet_loss_drops_the_expected_fraction_of_20ms_packets(p):
    x = torch.randn(4, 16000 * 25, generator=torch.Generator().manual_seed(0))  # 5000 packets
    lengths = torch.full((4,), x.shape[1])
    y, _, records = PacketLoss(probability=p)(x, lengths, torch.Generator().manual_seed(3))
    dropped = sum(r["dropped_packets"] for r in records)
    total = sum(r["packets"] for r in records)
    assert total == 4 * 1250
    sd = (p * (1 - p) / total) ** 0.5
    assert abs(dropped / total - p) < 4 * sd
    for b, r in enumerate(records):
        for k in r["dropped"][:20]:
            assert torch.all(y[b, k * 320 : (k + 1) * 320] == 0)
        kept = sorted(set(range(1250)) - set(r["dropped"]))[:20]
        for k in kept:
            assert torch.equal(y[b, k * 320 : (k + 1) * 320], x[b, k * 320 : (k + 1) * 320])


def test_packet_loss_counts_only_packets_with_valid_samples(batch):
    wavs, lengths = batch
    _, _, records = PacketLoss(probability=1.0)(wavs, lengths)
    for r, n in zip(records, lengths.tolist(), strict=True):
        assert r["packets"] == -(-n // 320) == r["dropped_packets"]


def test_invalid_channel_settings_name_the_field():
    with pytest.raises(ConfigError, match="cutoff_hz"):
        BandLimit(cutoff_hz=9000.0)
    with pytest.raises(ConfigError, match="fraction"):
        Clipping(fraction=0.0)
    with pytest.raises(ConfigError, match="factor"):
        Speed(factor=3.0)
    with pytest.raises(ConfigError, match="probability"):
        PacketLoss(probability=1.5)
