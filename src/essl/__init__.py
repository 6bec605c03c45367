"""essl: efficient, knowledge-informed, robust and fair self-supervised speech learning.

Shape legend, used in every public docstring:

    B  batch            S  samples (waveform)     T  frames
    D  features         L  layers                 K  codewords
    G  codebook groups  N  negatives / distractors

A padded tensor always travels with ``lengths: (B,)`` (valid samples or frames per row).
Boolean masks: ``True`` means masked (or padded); see :mod:`essl.masking`.

Importing :mod:`essl` is cheap: it does not import torch.
"""

from essl.errors import EsslError

__version__ = "0.1.0"
__all__ = ["EsslError", "__version__"]
