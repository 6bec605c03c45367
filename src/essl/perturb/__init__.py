"""Seeded acoustic perturbations for robustness evaluation and augmentation.

Every perturbation maps ``(wavs (B, S), lengths (B,), generator)`` to
``Perturbed(wavs (B, S'), lengths (B,), records)``, where ``records`` says per utterance what
was realised (SNR, RT60, cut-off, bitrate, clipped fraction, speed factor, dropped
packets). The same generator state gives bit-identical output; padding stays zero.
See :mod:`essl.perturb.base` for the contract and :mod:`essl.perturb.conditions` for the
named conditions and their default severities::

    from essl.perturb import CONDITIONS, Compose
    g = torch.Generator().manual_seed(0)
    noisy = CONDITIONS["noise"].make(10)          # white noise at 10 dB SNR
    chain = Compose([noisy, CONDITIONS["mp3"].make(32)])
    wavs2, lengths2, records = chain(wavs, lengths, g)
"""

from essl.perturb.base import Compose, Identity, Perturbation, Perturbed, Record
from essl.perturb.codecs import (
    Mp3,
    MuLaw,
    Opus,
    mp3_available,
    mulaw_decode,
    mulaw_encode,
    opus_available,
)
from essl.perturb.conditions import CONDITIONS, Condition, get_condition
from essl.perturb.distortions import Clipping, Gain, PacketLoss, Speed
from essl.perturb.filters import BandLimit, Telephone
from essl.perturb.noise import AdditiveNoise, Babble, add_at_snr, colored_noise
from essl.perturb.reverb import Reverb
from essl.perturb.rir import RirBank, RirBankConfig, default_cache_dir, measure_rt60

__all__ = [
    "CONDITIONS",
    "AdditiveNoise",
    "Babble",
    "BandLimit",
    "Clipping",
    "Compose",
    "Condition",
    "Gain",
    "Identity",
    "Mp3",
    "MuLaw",
    "Opus",
    "PacketLoss",
    "Perturbation",
    "Perturbed",
    "Record",
    "Reverb",
    "RirBank",
    "RirBankConfig",
    "Speed",
    "Telephone",
    "add_at_snr",
    "colored_noise",
    "default_cache_dir",
    "get_condition",
    "measure_rt60",
    "mp3_available",
    "mulaw_decode",
    "mulaw_encode",
    "opus_available",
]
