import json

import torch
from torch import nn

from essl.metering import EnergyConfig, Meter, MeterConfig, PeakMemory, StepData, storage_of
from essl.metering.storage import optimizer_bytes


def test_storage_counts_bytes_by_dtype_and_shared_parameters_once():
    m = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 10).half())
    m.append(m[0])  # shared module
    m[1].weight.requires_grad_(False)
    st = storage_of(m)
    assert st.params == 10 * 20 + 20 + 20 * 10 + 10
    assert st.trainable_params == st.params - 200
    assert st.param_bytes == (10 * 20 + 20) * 4 + (20 * 10 + 10) * 2


def test_adamw_state_is_two_moments_per_parameter():
    m = nn.Linear(10, 10)
    opt = torch.optim.AdamW(m.parameters())
    m(torch.randn(2, 10)).sum().backward()
    opt.step()
    # exp_avg and exp_avg_sq per parameter (fp32) plus a scalar step per parameter
    assert optimizer_bytes(opt) == 2 * 110 * 4 + 2 * 4


def test_cpu_peak_memory_sees_a_large_allocation_after_reset():
    import mmap

    probe = PeakMemory(torch.device("cpu"))
    probe.reset()
    base = probe.read().peak_bytes
    size = 400_000_000
    buf = mmap.mmap(-1, size)  # fresh pages: the heap's free blocks cannot absorb them
    for i in range(0, size, mmap.PAGESIZE):
        buf[i] = 1
    peak = probe.read().peak_bytes
    buf.close()
    assert peak - base > 350_000_000
    probe.reset()
    assert probe.read().peak_bytes < peak - 300_000_000


def _step(meter, model, opt, x):
    meter.begin_step()
    meter.run(tuple(x.shape), lambda: model(x).sum().backward())
    opt.step()
    opt.zero_grad()
    return meter.end_step(
        StepData(audio_seconds=2.0, samples=32000, frames=100, utterances=2, masked_frames=40)
    )


def test_meter_fields_accumulate_and_survive_a_resume():
    model = nn.Linear(16, 16)
    opt = torch.optim.AdamW(model.parameters())
    cfg = MeterConfig(peak_flops=1e9, energy=EnergyConfig(enabled=False))
    meter = Meter(cfg, model, opt, torch.device("cpu"))
    meter.start()
    x = torch.randn(4, 16)
    f1 = _step(meter, model, opt, x)
    f2 = _step(meter, model, opt, x)
    # x needs no gradient: forward GEMM + weight-gradient GEMM
    assert f1["flops"] == f2["flops"] == 2 * (2 * 4 * 16 * 16)
    assert f2["cum_flops"] == 2 * f1["flops"] and f2["cum_audio_seconds"] == 4.0
    assert f2["cum_samples"] == 64000 and f2["cum_utterances"] == 4 and f2["cum_frames"] == 200
    assert f2["params"] == 16 * 16 + 16 and f2["param_bytes"] == 4 * f2["params"]
    assert f2["energy_kwh"] is None and f2["co2_kg"] is None
    assert f2["mfu"] > 0 and f2["peak_memory_bytes"] > 0 and f2["wall_time"] >= f2["step_time"]
    resumed = Meter(cfg, model, opt, torch.device("cpu"))
    resumed.load_state_dict(meter.state_dict())
    f3 = _step(resumed, model, opt, x)
    assert f3["cum_flops"] == 3 * f1["flops"] and f3["cum_audio_seconds"] == 6.0


def test_energy_fields_are_null_with_a_reason_when_disabled():
    meter = Meter(
        MeterConfig(peak_flops=1.0, energy=EnergyConfig(enabled=False)),
        nn.Linear(2, 2),
        torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1),
        torch.device("cpu"),
    )
    meter.start()
    assert meter.energy.read() == (None, None)
    assert "disabled" in meter.metadata()["energy_unavailable_reason"]


def test_energy_is_tracked_offline_when_codecarbon_is_installed():
    import pytest

    pytest.importorskip("codecarbon")
    from essl.metering.energy import EnergyMeter

    em = EnergyMeter(EnergyConfig(force_cpu_power=100.0))
    em.start()
    sum(i * i for i in range(300_000))
    kwh, co2 = em.read()
    em.stop()
    assert em.reason is None and kwh is not None and kwh > 0 and co2 is not None and co2 > 0


def test_flop_counts_per_shape_travel_with_the_state():
    model = nn.Linear(16, 16)
    opt = torch.optim.AdamW(model.parameters())
    cfg = MeterConfig(peak_flops=1e9, energy=EnergyConfig(enabled=False))
    meter = Meter(cfg, model, opt, torch.device("cpu"))
    meter.start()
    _step(meter, model, opt, torch.randn(4, 16))
    resumed = Meter(cfg, model, opt, torch.device("cpu"))
    resumed.load_state_dict(json.loads(json.dumps(meter.state_dict())))  # through JSON
    assert resumed.flop_cache.counts == meter.flop_cache.counts
    assert list(resumed.flop_cache.counts) == [(4, 16)]


class _FakeEnergy:
    """Energy that grows by 1 kWh (and 0.5 kg CO2) at every read."""

    def __init__(self) -> None:
        self.kwh = 0.0

    def read(self) -> tuple[float, float]:
        self.kwh += 1.0
        return self.kwh, self.kwh / 2


def test_energy_spent_in_an_excluded_block_is_left_out():
    model = nn.Linear(16, 16)
    opt = torch.optim.AdamW(model.parameters())
    meter = Meter(MeterConfig(peak_flops=1e9, energy_every=1), model, opt, torch.device("cpu"))
    meter.energy = _FakeEnergy()  # type: ignore[assignment]
    x = torch.randn(4, 16)
    assert _step(meter, model, opt, x)["energy_kwh"] == 1.0
    with meter.excluded():  # reads 2 before and 3 after: 1 kWh excluded
        pass
    f = _step(meter, model, opt, x)  # the tracker says 4; 1 of it was excluded
    assert (f["energy_kwh"], f["co2_kg"]) == (3.0, 1.5)
