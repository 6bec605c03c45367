"""The step meter: efficiency markers measured around every optimizer step.

Usage inside a training loop (the trainer does this)::

    meter = Meter(cfg, model, optimizer, device)
    meter.start()
    for batch in loader:
        meter.begin_step()
        out = meter.run(shape_key, lambda: step(batch))  # forward + backward, FLOPs counted
        optimizer.step()
        fields = meter.end_step(StepData(...))          # one dict per metrics.jsonl line

Field names (written to ``metrics.jsonl``): ``flops``, ``cum_flops``, ``mfu``, ``params``,
``trainable_params``, ``param_bytes``, ``optimizer_bytes``, ``peak_memory_bytes``
(+ ``peak_memory_reserved_bytes`` on CUDA), ``audio_seconds``, ``cum_audio_seconds``,
``cum_samples``, ``cum_frames``, ``cum_utterances``, ``masked_frames``, ``wall_time``,
``step_time``, ``audio_seconds_per_second``, ``energy_kwh``, ``co2_kg``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from essl.errors import ConfigError
from essl.metering.energy import EnergyConfig, EnergyMeter
from essl.metering.flops import FlopCache
from essl.metering.memory import PeakMemory
from essl.metering.storage import optimizer_bytes, storage_of

__all__ = ["Meter", "MeterConfig", "StepData"]

R = TypeVar("R")


@dataclass(kw_only=True)
class MeterConfig:
    enabled: bool = True
    """Meter every step (turn off only to measure the meter's own overhead)."""
    flops: bool = True
    """Count FLOPs with the corrected FlopCounterMode, once per distinct input shape."""
    peak_flops: float | None = None
    """Machine peak FLOP/s for ``mfu``; None measures a dense GEMM at start (~1 s)."""
    memory: bool = True
    """Read the step's peak memory (CUDA counters or the CPU RSS high-water mark)."""
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    energy_every: int = 10
    """Read codecarbon every N steps (~3 ms each); fields carry the last reading between."""

    def validate(self) -> None:
        if self.energy_every < 1:
            raise ConfigError("metering.energy_every must be >= 1")
        if self.peak_flops is not None and self.peak_flops <= 0:
            raise ConfigError("metering.peak_flops must be positive (FLOP/s) or null to measure")


@dataclass
class StepData:
    """What one optimizer step consumed (summed over micro-batches and, under DDP, ranks)."""

    audio_seconds: float
    samples: int
    frames: int
    utterances: int
    masked_frames: int


@dataclass
class _Totals:
    flops: int = 0
    audio_seconds: float = 0.0
    samples: int = 0
    frames: int = 0
    utterances: int = 0
    wall_time: float = 0.0
    steps: int = 0


def _jsonable_key(key: Any) -> Any:
    return [_jsonable_key(k) for k in key] if isinstance(key, tuple) else key


def _tuple_key(key: Any) -> Any:
    return tuple(_tuple_key(k) for k in key) if isinstance(key, list) else key


class Meter:
    """Cumulative efficiency markers; ``state_dict`` carries the totals across a resume."""

    def __init__(
        self,
        cfg: MeterConfig,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
    ) -> None:
        self.cfg, self.model, self.optimizer, self.device = cfg, model, optimizer, device
        self.totals = _Totals()
        self.flop_cache = FlopCache()
        self.memory = PeakMemory(device) if cfg.memory else None
        self.energy = EnergyMeter(cfg.energy)
        self.peak_flops = cfg.peak_flops
        self.peak_source = "config" if cfg.peak_flops else None
        self._step_flops = 0
        self._t0 = 0.0
        self._energy: tuple[float | None, float | None] = (None, None)
        self._energy_offset = (0.0, 0.0)

    def start(self) -> None:
        if not self.cfg.enabled:
            return
        if self.peak_flops is None:
            from essl.metering.peak import measure_peaks

            self.peak_flops = measure_peaks(self.device, size=512, repeats=3)["matmul_flops_per_s"]
            self.peak_source = "measured fp32 GEMM at start"
        self.energy.start()

    def begin_step(self) -> None:
        self._step_flops = 0
        if self.cfg.enabled and self.memory is not None:
            self.memory.reset()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._t0 = time.perf_counter()

    def run(self, key: Hashable, fn: Callable[[], R]) -> R:
        """Run one micro-batch's forward + backward, counting its FLOPs for shape ``key``."""
        if not (self.cfg.enabled and self.cfg.flops):
            return fn()
        result, flops = self.flop_cache.run(key, fn)
        self._step_flops += flops
        return result

    def end_step(self, data: StepData, flops_scale: int = 1) -> dict[str, Any]:
        """Close the step; ``flops_scale`` multiplies local FLOPs (e.g. DDP world size)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        step_time = time.perf_counter() - self._t0
        t = self.totals
        t.steps += 1
        t.wall_time += step_time
        t.audio_seconds += data.audio_seconds
        t.samples += data.samples
        t.frames += data.frames
        t.utterances += data.utterances
        fields: dict[str, Any] = {
            "step_time": step_time,
            "wall_time": t.wall_time,
            "audio_seconds": data.audio_seconds,
            "cum_audio_seconds": t.audio_seconds,
            "cum_samples": t.samples,
            "cum_frames": t.frames,
            "cum_utterances": t.utterances,
            "masked_frames": data.masked_frames,
            "audio_seconds_per_second": data.audio_seconds / step_time if step_time > 0 else None,
        }
        if not self.cfg.enabled:
            return fields
        st = storage_of(self.model)
        fields.update(
            params=st.params,
            trainable_params=st.trainable_params,
            param_bytes=st.param_bytes,
            optimizer_bytes=optimizer_bytes(self.optimizer),
        )
        if self.cfg.flops:
            flops = self._step_flops * flops_scale
            t.flops += flops
            peak = (self.peak_flops or 0) * flops_scale
            fields.update(
                flops=flops,
                cum_flops=t.flops,
                mfu=flops / step_time / peak if peak and step_time > 0 else None,
            )
        if self.memory is not None:
            m = self.memory.read()
            fields["peak_memory_bytes"] = m.peak_bytes
            if m.reserved_bytes is not None:
                fields["peak_memory_reserved_bytes"] = m.reserved_bytes
        if t.steps % self.cfg.energy_every == 1 or self.cfg.energy_every == 1:
            kwh, co2 = self.energy.read()
            if kwh is not None:
                self._energy = (kwh + self._energy_offset[0], (co2 or 0.0) + self._energy_offset[1])
        fields["energy_kwh"], fields["co2_kg"] = self._energy
        return fields

    @contextlib.contextmanager
    def excluded(self) -> Iterator[None]:
        """Leave the energy spent inside the block (e.g. an evaluation between steps) out of
        ``energy_kwh``/``co2_kg``; wall time and FLOPs only count steps anyway."""
        before = self.energy.read()  # (None, None) when energy is not tracked
        try:
            yield
        finally:
            after = self.energy.read()
            if before[0] is not None and after[0] is not None:
                d_kwh = after[0] - before[0]
                d_co2 = (after[1] or 0.0) - (before[1] or 0.0)
                self._energy_offset = (
                    self._energy_offset[0] - d_kwh,
                    self._energy_offset[1] - d_co2,
                )

    def metadata(self) -> dict[str, Any]:
        """Where each marker comes from, for the run's metadata."""
        return {
            "flops_source": "torch FlopCounterMode + essl fixes (CPU SDPA, grouped conv backward)"
            if self.cfg.flops
            else None,
            "peak_flops": self.peak_flops,
            "peak_flops_source": self.peak_source,
            "memory_source": self.memory.source if self.memory else None,
            **self.energy.metadata(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Totals, energy and the FLOP counts per shape: a resumed run reuses the counts the
        uninterrupted run would have reused (a shape's count includes the loss head, whose
        cost depends on the masked frames of the step that first had that shape)."""
        return {
            "totals": asdict(self.totals),
            "energy": list(self._energy),
            "flop_cache": [[_jsonable_key(k), v] for k, v in self.flop_cache.counts.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flop_cache.counts = {_tuple_key(k): int(v) for k, v in state.get("flop_cache", [])}
        self.totals = _Totals(**state["totals"])
        kwh, co2 = state.get("energy", [None, None])
        self._energy = (kwh, co2)
        self._energy_offset = (kwh or 0.0, co2 or 0.0)

    def close(self) -> None:
        self.energy.stop()
