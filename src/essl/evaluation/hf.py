"""Local HF transformers checkpoints (Wav2Vec2 / HuBERT / WavLM) behind ``extract_features``.

:class:`HFEncoder` wraps a ``transformers`` ``Wav2Vec2Model``, ``HubertModel`` or
``WavLMModel`` loaded from a folder written by ``save_pretrained`` (no network access):
hidden states come from ``output_hidden_states=True`` with an ``attention_mask`` built from
the lengths, so evaluation treats an imported model exactly like an essl encoder. If the
folder holds a ``preprocessor_config.json`` with ``do_normalize: true``, each waveform is
normalised to zero mean and unit variance over its valid samples first, as HF's feature
extractor does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from essl.errors import EsslError

__all__ = ["HFEncoder"]


class HFEncoder(nn.Module):
    """An HF speech encoder exposing ``extract_features(wavs, lengths, layers)`` and ``frame_rate``."""

    def __init__(self, model: Any, do_normalize: bool = False, sample_rate: int = 16000) -> None:
        super().__init__()
        self.model = model
        self.do_normalize = do_normalize
        self.sample_rate = sample_rate

    @classmethod
    def from_pretrained(cls, path: str | Path) -> HFEncoder:
        """Load the model saved in folder ``path`` (``config.json`` + weights)."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise EsslError(
                f"hf:{path}: no config.json; pass a folder written by "
                "transformers' save_pretrained (e.g. a downloaded wav2vec2 model)"
            )
        try:
            from transformers import AutoModel
        except ImportError:
            raise EsslError(
                "hf: models need the transformers package; `pip install transformers`"
            ) from None
        model = AutoModel.from_pretrained(str(path))
        if not hasattr(model, "_get_feat_extract_output_lengths"):
            raise EsslError(
                f"hf:{path}: {type(model).__name__} is not a waveform encoder; "
                "use a Wav2Vec2, HuBERT or WavLM checkpoint"
            )
        pre = path / "preprocessor_config.json"
        norm = (
            bool(json.loads(pre.read_text()).get("do_normalize", False)) if pre.is_file() else False
        )
        return cls(model, do_normalize=norm)

    @property
    def frame_rate(self) -> float:
        """Frames per second: sample rate over the product of the conv strides."""
        return self.sample_rate / math.prod(self.model.config.conv_stride)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        """(B,) valid frames for (B,) valid samples."""
        return self.model._get_feat_extract_output_lengths(sample_lengths).long()

    def extract_features(
        self, wavs: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int] | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states [(B, T, D)] (None = all L + 1; padded frames zeroed), (B,) frames."""
        valid = torch.arange(wavs.shape[1], device=wavs.device)[None, :] < lengths[:, None]
        if self.do_normalize:
            wavs = _normalize(wavs, valid, lengths)
        out = self.model(wavs, attention_mask=valid.long(), output_hidden_states=True)
        states = out.hidden_states
        keep = list(range(len(states))) if layers is None else list(layers)
        frames = self.frame_lengths(lengths).to(wavs.device)
        T = states[0].shape[1]
        pad = (torch.arange(T, device=wavs.device)[None, :] < frames[:, None])[..., None]
        return [states[i] * pad.to(states[i].dtype) for i in keep], frames


def _normalize(wavs: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """HF Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm over the valid samples of each row."""
    v = valid.to(wavs.dtype)
    n = lengths.clamp_min(1).to(wavs.dtype)[:, None]
    mean = (wavs * v).sum(1, keepdim=True) / n
    var = (((wavs - mean) * v) ** 2).sum(1, keepdim=True) / n
    return (wavs - mean) / torch.sqrt(var + 1e-7) * v
