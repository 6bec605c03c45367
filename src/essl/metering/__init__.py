"""Efficiency metering: FLOPs, storage, memory, data, time and energy per training step."""

from essl.metering.energy import EnergyConfig, EnergyMeter
from essl.metering.flops import FlopCache, count_flops, flop_formulas
from essl.metering.memory import PeakMemory
from essl.metering.meter import Meter, MeterConfig, StepData
from essl.metering.storage import Storage, optimizer_bytes, storage_of

__all__ = [
    "EnergyConfig",
    "EnergyMeter",
    "FlopCache",
    "Meter",
    "MeterConfig",
    "PeakMemory",
    "StepData",
    "Storage",
    "count_flops",
    "flop_formulas",
    "optimizer_bytes",
    "storage_of",
]
