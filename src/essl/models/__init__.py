"""Encoders (conv front end + Transformer), presets and quantizers."""

from essl.models.config import STANDARD_CONV_LAYERS, EncoderConfig
from essl.models.encoder import Encoder, EncoderOutput
from essl.models.frontend import conv_output_lengths, receptive_field
from essl.models.presets import PRESETS, encoder_preset
from essl.models.quantizer import GumbelVectorQuantizer, QuantizerOutput

__all__ = [
    "PRESETS",
    "STANDARD_CONV_LAYERS",
    "Encoder",
    "EncoderConfig",
    "EncoderOutput",
    "GumbelVectorQuantizer",
    "QuantizerOutput",
    "conv_output_lengths",
    "encoder_preset",
    "receptive_field",
]
