"""The hf: adapter returns exactly the hidden states of the HF model it wraps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from essl.evaluation.hf import HFEncoder

transformers = pytest.importorskip("transformers")


@pytest.fixture
def tiny_hf_folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8, 8),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    model = transformers.Wav2Vec2Model(cfg)
    model.save_pretrained(tmp_path / "hf")
    return tmp_path / "hf"


def test_hf_adapter_features_equal_hf_hidden_states(tiny_hf_folder):
    enc = HFEncoder.from_pretrained(tiny_hf_folder).eval()
    ref = transformers.Wav2Vec2Model.from_pretrained(str(tiny_hf_folder)).eval()
    assert enc.frame_rate == 16000 / 20 and enc.num_layers == 2
    wavs = torch.randn(2, 1600)
    lengths = torch.tensor([1600, 1000])
    with torch.no_grad():
        feats, frames = enc.extract_features(wavs, lengths)
        mask = (torch.arange(1600)[None] < lengths[:, None]).long()
        want = ref(wavs, attention_mask=mask, output_hidden_states=True).hidden_states
        alone = ref(wavs[1:, :1000], output_hidden_states=True).hidden_states
    assert len(feats) == 3 and frames.tolist() == [79, 49]
    for got, exp in zip(feats, want):
        assert torch.equal(got[0], exp[0])
        assert torch.allclose(got[1, :49], exp[1, :49]) and (got[1, 49:] == 0).all()
    assert torch.allclose(feats[-1][1, :49], alone[-1][0], atol=1e-5)  # padding invariance


def test_hf_adapter_applies_the_feature_extractor_normalisation(tiny_hf_folder):
    (tiny_hf_folder / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    enc = HFEncoder.from_pretrained(tiny_hf_folder).eval()
    assert enc.do_normalize
    wav = torch.randn(1, 1600) * 5 + 2
    with torch.no_grad():
        a, _ = enc.extract_features(wav, torch.tensor([1600]), layers=[2])
        norm = (wav - wav.mean()) / torch.sqrt(wav.var(unbiased=False) + 1e-7)
        b = enc.model(norm, output_hidden_states=True).hidden_states[2]
    assert len(a) == 1 and torch.allclose(a[0], b, atol=1e-5)
