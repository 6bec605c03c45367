"""Energy and CO2 through codecarbon's offline tracker, when it is installed and enabled.

There is no network at run time, so only ``OfflineEmissionsTracker`` is used (country code
sets the grid's carbon intensity). Without RAPL (as on many VMs) codecarbon falls back to a
power model (CPU TDP × load, RAM by size); the mode it used is recorded. CPU and RAM power can
be forced (watts) when the machine's real figures are known.

When codecarbon is missing or disabled the fields are None and ``reason`` says why; nothing
fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["EnergyConfig", "EnergyMeter"]


@dataclass(kw_only=True)
class EnergyConfig:
    enabled: bool = True
    """Track energy with codecarbon when it is installed."""
    country_iso_code: str = "FRA"
    """ISO 3166 alpha-3 country of the grid (carbon intensity)."""
    force_cpu_power: float | None = None
    """CPU power in watts to use instead of codecarbon's estimate."""
    force_ram_power: float | None = None
    """RAM power in watts to use instead of codecarbon's estimate."""


class EnergyMeter:
    """Cumulative ``energy_kwh`` and ``co2_kg`` since :meth:`start`."""

    def __init__(self, cfg: EnergyConfig) -> None:
        self.cfg = cfg
        self.tracker: Any = None
        self.reason: str | None = None
        self.mode: str | None = None

    def start(self) -> None:
        if not self.cfg.enabled:
            self.reason = "disabled by config (metering.energy.enabled=false)"
            return
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            self.reason = "codecarbon is not installed (pip install codecarbon)"
            return
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        kwargs: dict[str, Any] = dict(
            country_iso_code=self.cfg.country_iso_code,
            output_methods=[],
            log_level="error",
            measure_power_secs=3600,
            tracking_mode="process",
            allow_multiple_runs=True,
        )
        if self.cfg.force_cpu_power is not None:
            kwargs["force_cpu_power"] = self.cfg.force_cpu_power
        if self.cfg.force_ram_power is not None:
            kwargs["force_ram_power"] = self.cfg.force_ram_power
        try:
            self.tracker = OfflineEmissionsTracker(**kwargs)
            self.tracker.start()
        except Exception as e:  # codecarbon failing must never stop training
            self.tracker, self.reason = None, f"codecarbon failed to start: {e}"
            return
        self.mode = ", ".join(
            f"{type(h).__name__}:{getattr(h, '_mode', 'model')}"
            for h in getattr(self.tracker, "_hardware", [])
        )

    def read(self) -> tuple[float | None, float | None]:
        """(energy_kwh, co2_kg) so far, or (None, None) when not tracking."""
        if self.tracker is None:
            return None, None
        co2 = self.tracker.flush()
        return float(self.tracker._total_energy.kWh), None if co2 is None else float(co2)

    def stop(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()
            self.tracker = None

    def metadata(self) -> dict[str, Any]:
        return {
            "energy_source": "codecarbon.offline" if self.reason is None else None,
            "energy_mode": self.mode,
            "energy_unavailable_reason": self.reason,
            "country_iso_code": self.cfg.country_iso_code,
        }
