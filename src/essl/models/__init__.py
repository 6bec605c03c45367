"""Encoders (conv front end + Transformer), presets, quantizers and HF interop."""

from essl.models.config import STANDARD_CONV_LAYERS, EncoderConfig
from essl.models.encoder import Encoder, EncoderOutput
from essl.models.frontend import conv_output_lengths, receptive_field
from essl.models.interop import export_hf, import_hf, load_encoder, save_encoder
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
    "export_hf",
    "import_hf",
    "load_encoder",
    "receptive_field",
    "save_encoder",
]
