"""A seeded bank of simulated room impulse responses (RIRs), cached on disk.

Each RIR comes from a shoebox room simulated with the (randomised) image-source method
of pyroomacoustics (Scheibler et al., "Pyroomacoustics", ICASSP 2018; image sources:
Allen & Berkley, JASA 1979; randomised ISM against sweeping echoes: De Sena et al.,
IEEE/ACM TASLP 2015). Room dimensions and source/microphone positions are drawn from a
seeded RNG; the wall absorption and image order come from Sabine's formula inverted by
``pra.inverse_sabine``. Sabine's formula is only approximate for image-source rooms
(the decay of a long thin room is slower), so the simulation is repeated with the
requested RT60 rescaled by ``target / measured`` until the measured RT60 lies within
``rt60_tolerance`` of the target (or ``max_iterations`` is reached; the closest is kept).

Every RIR's RT60 is *measured* (Schroeder backward integration, ISO 3382-1 T30, or T20
when the decay curve is too short) and stored next to its target.

The bank is built once per config and cached as ``<cache_dir>/<hash>.npz`` (written
atomically), keyed by the config and the pyroomacoustics version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from essl._io import atomic_open
from essl.config import to_dict
from essl.errors import ConfigError, EsslError

__all__ = ["RirBank", "RirBankConfig", "default_cache_dir", "measure_rt60"]

_FORMAT = 1  # bump when the stored arrays change meaning


@dataclass(kw_only=True)
class RirBankConfig:
    """How to simulate a bank of room impulse responses."""

    rt60s: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """Target reverberation times (seconds); one group of RIRs per target."""
    rirs_per_rt60: int = 4
    """RIRs simulated per target (different rooms and positions)."""
    sample_rate: int = 16000
    """Sample rate of the RIRs (Hz); must match the audio they are applied to."""
    seed: int = 0
    """Seed of room sizes, positions and the randomised image sources."""
    room_min_m: tuple[float, float, float] = (3.0, 3.0, 2.5)
    """Smallest room (length, width, height) in metres."""
    room_max_m: tuple[float, float, float] = (10.0, 8.0, 4.0)
    """Largest room (length, width, height) in metres."""
    wall_margin_m: float = 0.5
    """Minimum distance of source and microphone from every wall (metres)."""
    initial_sabine_ratio: float = 0.7
    """First Sabine RT60 asked for, as a fraction of the target: image-source shoeboxes
    decay about 1.25-1.5x slower than Sabine predicts (measured on the default rooms)."""
    rt60_tolerance: float = 0.05
    """Relative RT60 error at which the calibration loop stops."""
    max_iterations: int = 4
    """Simulations per RIR at most (the one closest to the target is kept)."""

    def validate(self) -> None:
        if not self.rt60s or any(not 0.05 <= t <= 3.0 for t in self.rt60s):
            raise ConfigError(f"rir_bank.rt60s: need targets in [0.05, 3] s, got {self.rt60s}")
        if self.rirs_per_rt60 < 1:
            raise ConfigError("rir_bank.rirs_per_rt60: must be >= 1")
        if self.sample_rate < 8000:
            raise ConfigError("rir_bank.sample_rate: must be >= 8000 Hz")
        if any(lo > hi for lo, hi in zip(self.room_min_m, self.room_max_m, strict=True)):
            raise ConfigError("rir_bank.room_min_m: must be <= room_max_m in every dimension")
        if min(self.room_min_m) <= 2 * self.wall_margin_m:
            raise ConfigError(
                "rir_bank.wall_margin_m: must be < half the smallest room dimension; "
                "lower it or enlarge room_min_m"
            )
        if not 0.2 <= self.initial_sabine_ratio <= 2:
            raise ConfigError("rir_bank.initial_sabine_ratio: must lie in [0.2, 2]")
        if not 0 < self.rt60_tolerance < 1 or self.max_iterations < 1:
            raise ConfigError(
                "rir_bank.rt60_tolerance/max_iterations: need 0 < tolerance < 1, iterations >= 1"
            )

    def cache_key(self) -> str:
        """Hash of this config, the pyroomacoustics version and the storage format."""
        blob = json.dumps(
            {"config": to_dict(self), "pra": _pra().__version__, "format": _FORMAT},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$ESSL_CACHE_DIR/rirs``, else ``$XDG_CACHE_HOME/essl/rirs``, else ``~/.cache/essl/rirs``."""
    if os.environ.get("ESSL_CACHE_DIR"):
        return Path(os.environ["ESSL_CACHE_DIR"]) / "rirs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "essl" / "rirs"


def measure_rt60(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 (s) of an impulse response by Schroeder backward integration (ISO 3382-1).

    The energy decay curve from the direct-path peak is fitted by least squares between
    -5 and -35 dB (T30) and extrapolated to 60 dB; if it never reaches -35 dB, between -5
    and -25 dB (T20). Returns ``nan`` when the decay does not reach -25 dB.
    (Schroeder, "New method of measuring reverberation time", JASA 1965.)
    """
    h = np.asarray(rir, dtype=np.float64)
    onset = int(np.argmax(np.abs(h)))
    energy = np.cumsum(h[onset:][::-1] ** 2)[::-1]
    if energy.size == 0 or energy[0] <= 0:
        return math.nan
    edc = 10 * np.log10(np.maximum(energy / energy[0], 1e-300))
    for lo, hi in ((-5.0, -35.0), (-5.0, -25.0)):
        if edc[-1] <= hi:
            i0, i1 = int(np.argmax(edc <= lo)), int(np.argmax(edc <= hi))
            if i1 - i0 < 2:
                continue
            slope = np.polyfit(np.arange(i0, i1) / sample_rate, edc[i0:i1], 1)[0]
            return float(-60.0 / slope) if slope < 0 else math.nan
    return math.nan


def _pra() -> Any:
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise EsslError(
            "reverberation needs pyroomacoustics; install it with `pip install pyroomacoustics`"
        ) from None
    return pra


@dataclass(frozen=True)
class _Room:
    dims: np.ndarray
    source: np.ndarray
    mic: np.ndarray


def _draw_room(cfg: RirBankConfig, rng: np.random.Generator) -> _Room:
    dims = rng.uniform(cfg.room_min_m, cfg.room_max_m)
    m = cfg.wall_margin_m
    return _Room(dims, rng.uniform(m, dims - m), rng.uniform(m, dims - m))


def _simulate(
    room: _Room, rt60: float, sample_rate: int, seed: int
) -> tuple[np.ndarray, float] | None:
    """One RIR of ``room`` built for Sabine RT60 ``rt60``; None if absorption would exceed 1."""
    pra = _pra()
    try:
        absorption, max_order = pra.inverse_sabine(rt60, room.dims)
    except ValueError:
        return None
    pra.random.seed(numpy=seed, libroom=seed)
    sim = pra.ShoeBox(
        room.dims,
        fs=sample_rate,
        materials=pra.Material(float(absorption)),
        max_order=int(max_order),
        use_rand_ism=True,
        max_rand_disp=0.05,
    )
    sim.add_source(room.source)
    sim.add_microphone(room.mic)
    sim.compute_rir()
    return np.asarray(sim.rir[0][0], dtype=np.float32), float(absorption)


def _shrink(room: _Room, margin: float) -> _Room:
    """A room 20% smaller (keeping positions inside it), for targets Sabine cannot reach."""
    dims = np.maximum(room.dims * 0.8, 2 * margin + 0.1)
    return _Room(dims, np.minimum(room.source, dims - margin), np.minimum(room.mic, dims - margin))


def _next_request(history: list[tuple[float, float]], log_target: float) -> float:
    """Next Sabine RT60 to ask for: a secant step in log-log (a ratio step at first)."""
    (r1, m1) = history[-1]
    slope = 1.0
    if len(history) >= 2:
        r0, m0 = history[-2]
        if abs(r1 - r0) > 1e-6 and (m1 - m0) / (r1 - r0) > 0.2:
            slope = (m1 - m0) / (r1 - r0)
    return math.exp(r1 + (log_target - m1) / slope)


def _calibrated_rir(
    cfg: RirBankConfig, target: float, rng: np.random.Generator
) -> tuple[np.ndarray, float, _Room, float]:
    """Simulate until the measured RT60 is within tolerance; return (rir, rt60, room, alpha)."""
    room = _draw_room(cfg, rng)
    best: tuple[np.ndarray, float, _Room, float] | None = None
    requested, tries, shrinks = target * cfg.initial_sabine_ratio, 0, 0
    history: list[tuple[float, float]] = []  # (log requested, log measured)
    seed = int(rng.integers(2**32))  # same image-source jitter while calibrating absorption
    while tries < cfg.max_iterations and shrinks < 20:
        sim = _simulate(room, requested, cfg.sample_rate, seed)
        if sim is None:  # absorption would exceed 1: the room is too large for this RT60
            room, shrinks = _shrink(room, cfg.wall_margin_m), shrinks + 1
            continue
        tries += 1
        rir, alpha = sim
        rt60 = measure_rt60(rir, cfg.sample_rate)
        if not math.isfinite(rt60):
            continue
        if best is None or abs(rt60 - target) < abs(best[1] - target):
            best = (rir, rt60, room, alpha)
        if abs(rt60 / target - 1) <= cfg.rt60_tolerance:
            break
        history.append((math.log(requested), math.log(rt60)))
        requested = _next_request(history, math.log(target))
    if best is None:
        raise EsslError(
            f"rir_bank: could not simulate a room with RT60 {target} s; "
            "change rir_bank.rt60s or widen room_min_m/room_max_m"
        )
    return best


@dataclass(frozen=True, eq=False)
class RirBank:
    """N simulated RIRs (zero-padded to a common length) and what is known about each."""

    rirs: np.ndarray
    """(N, L) float32 impulse responses, zero-padded."""
    lengths: np.ndarray
    """(N,) int64 valid samples of each RIR."""
    rt60_target: np.ndarray
    """(N,) float64 RT60 each RIR was built for (s)."""
    rt60_measured: np.ndarray
    """(N,) float64 RT60 measured by Schroeder integration (s)."""
    delays: np.ndarray
    """(N,) int64 index of the direct-path peak (samples), removed when convolving."""
    room_dims: np.ndarray
    """(N, 3) float64 room size (m)."""
    absorption: np.ndarray
    """(N,) float64 wall energy-absorption coefficient used."""
    sample_rate: int
    """Sample rate of the RIRs (Hz)."""

    def __len__(self) -> int:
        return int(self.rirs.shape[0])

    @classmethod
    def build(cls, config: RirBankConfig) -> RirBank:
        """Simulate the bank (seconds to a minute); see :meth:`load_or_build` to cache it."""
        config.validate()
        rng = np.random.default_rng(config.seed)
        items = [
            (t, *_calibrated_rir(config, t, rng))
            for t in config.rt60s
            for _ in range(config.rirs_per_rt60)
        ]
        lengths = np.array([len(it[1]) for it in items], dtype=np.int64)
        rirs = np.zeros((len(items), int(lengths.max())), dtype=np.float32)
        for i, it in enumerate(items):
            rirs[i, : lengths[i]] = it[1]
        return cls(
            rirs=rirs,
            lengths=lengths,
            rt60_target=np.array([it[0] for it in items], dtype=np.float64),
            rt60_measured=np.array([it[2] for it in items], dtype=np.float64),
            delays=np.abs(rirs).argmax(axis=1).astype(np.int64),
            room_dims=np.stack([it[3].dims for it in items]).astype(np.float64),
            absorption=np.array([it[4] for it in items], dtype=np.float64),
            sample_rate=config.sample_rate,
        )

    @classmethod
    def load_or_build(
        cls, config: RirBankConfig, cache_dir: str | os.PathLike[str] | None = None
    ) -> RirBank:
        """Load ``<cache_dir>/<config hash>.npz`` or build the bank and write it atomically."""
        config.validate()
        path = Path(cache_dir or default_cache_dir()) / f"{config.cache_key()}.npz"
        if path.is_file():
            try:
                return cls.load(path)
            except (OSError, ValueError, KeyError):
                pass  # a corrupt cache entry is rebuilt and overwritten
        bank = cls.build(config)
        bank.save(path)
        return bank

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the bank as ``.npz`` atomically."""
        arrays = {k: getattr(self, k) for k in _ARRAYS}
        with atomic_open(path, "wb") as f:
            np.savez(f, sample_rate=np.int64(self.sample_rate), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RirBank:
        """Read a bank written by :meth:`save`."""
        with np.load(path) as z:
            return cls(sample_rate=int(z["sample_rate"]), **{k: z[k] for k in _ARRAYS})


_ARRAYS = ("rirs", "lengths", "rt60_target", "rt60_measured", "delays", "room_dims", "absorption")
