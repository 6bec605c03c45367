"""HF transformers import/export: features survive both directions exactly (tiny configs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from essl.errors import ConfigError, EsslError
from essl.models import Encoder, encoder_preset
from essl.models.interop import (
    encoder_config_from_hf,
    export_hf,
    hf_config_from_encoder,
    import_hf,
    load_encoder,
    save_encoder,
)

transformers = pytest.importorskip("transformers")

TINY_HF: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=40,
    conv_dim=(16, 16, 16),
    conv_kernel=(10, 3, 2),
    conv_stride=(5, 2, 2),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)
LARGE_LAYOUT = dict(feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True)
CASES = {
    "wav2vec2-base-layout": ("Wav2Vec2", {}),
    "wav2vec2-large-layout": ("Wav2Vec2", LARGE_LAYOUT),
    "hubert": ("Hubert", {}),
    "wavlm": ("WavLM", dict(num_buckets=32, max_bucket_distance=50)),
    "wavlm-large-layout": ("WavLM", dict(num_buckets=32, max_bucket_distance=50, **LARGE_LAYOUT)),
    "data2vec": ("Data2VecAudio", dict(num_conv_pos_embeddings=3, conv_pos_kernel_size=5)),
}
TOL = 1e-5


def _hf_model(family: str, extra: dict[str, Any]) -> Any:
    cfg = getattr(transformers, f"{family}Config")(**{**TINY_HF, **extra})
    model = getattr(transformers, f"{family}Model")(cfg).eval()
    with torch.no_grad():  # move LN / bias parameters away from their 1 / 0 init
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def _hf_states(model: Any, wavs: torch.Tensor) -> list[torch.Tensor]:
    """L + 1 states in essl's convention: the last one is ``last_hidden_state`` (after the
    final LN of pre-LN models; HF v5's ``hidden_states[-1]`` is before it)."""
    with torch.no_grad():
        out = model(wavs, output_hidden_states=True)
    return [*out.hidden_states[:-1], out.last_hidden_state]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b)
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_import_then_export_reproduces_hf_features(case: str, tmp_path: Path, seed: int) -> None:
    family, extra = CASES[case]
    hf = _hf_model(family, extra)
    hf.save_pretrained(tmp_path / "hf")
    encoder = import_hf(tmp_path / "hf", tmp_path / "essl")
    wavs = torch.randn(2, 6000)
    with torch.no_grad():
        ours, frames = encoder.extract_features(wavs, torch.tensor([6000, 6000]))
    reference = _hf_states(hf, wavs)
    assert len(ours) == hf.config.num_hidden_layers + 1
    assert _max_diff(ours, reference) < TOL
    reloaded = load_encoder(tmp_path / "essl")
    with torch.no_grad():
        assert _max_diff(reloaded.extract_features(wavs, frames * 0 + 6000)[0], ours) == 0.0
    export_hf(encoder, tmp_path / "back")
    back = transformers.AutoModel.from_pretrained(tmp_path / "back").eval()
    assert type(back).__name__ == f"{family if family != 'Hubert' else 'Wav2Vec2'}Model"
    assert _max_diff(_hf_states(back, wavs), ours) < TOL


def test_exported_essl_encoder_loads_in_transformers_with_the_same_features(
    tmp_path: Path, seed: int
) -> None:
    cfg = encoder_config_from_hf(_hf_model("WavLM", CASES["wavlm"][1]).config.to_dict())
    encoder = Encoder(cfg).eval()
    export_hf(encoder, tmp_path / "hf")
    hf = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    wavs = torch.randn(1, 5000)
    with torch.no_grad():
        ours, _ = encoder.extract_features(wavs, torch.tensor([5000]))
    assert _max_diff(_hf_states(hf, wavs), ours) < TOL


def test_hubert_export_type_is_available_for_plain_encoders(tmp_path: Path) -> None:
    cfg = encoder_preset("tiny")
    assert hf_config_from_encoder(cfg, "hubert")["model_type"] == "hubert"
    with pytest.raises(ConfigError, match="exports as 'wav2vec2'"):
        hf_config_from_encoder(cfg, "wavlm")


def test_import_rejects_unsupported_hf_configs(tmp_path: Path) -> None:
    config = {**TINY_HF, "model_type": "wav2vec2", "do_stable_layer_norm": False}
    with pytest.raises(ConfigError, match="hidden_act"):
        encoder_config_from_hf({**config, "hidden_act": "relu"})
    with pytest.raises(ConfigError, match="model_type"):
        encoder_config_from_hf({**config, "model_type": "bert"})
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(EsslError, match="safetensors"):
        import_hf(tmp_path)


def test_encoder_checkpoint_round_trip_and_errors(tmp_path: Path, seed: int) -> None:
    encoder = Encoder(encoder_preset("tiny")).eval()
    save_encoder(encoder, tmp_path / "enc")
    again = load_encoder(tmp_path / "enc")
    for (k, a), (_, b) in zip(
        encoder.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    with pytest.raises(EsslError, match="essl interop import"):
        load_encoder(tmp_path)


def test_cli_exports_a_preset_and_imports_it_back(tmp_path: Path, seed: int) -> None:
    import argparse

    from essl.cli import interop

    parser = argparse.ArgumentParser()
    interop.register(parser.add_subparsers())
    for argv in (
        ["interop", "export", "preset:tiny", str(tmp_path / "hf"), "--model-type", "hubert"],
        ["interop", "import", f"hf:{tmp_path / 'hf'}", str(tmp_path / "essl")],
    ):
        args = parser.parse_args(argv)
        assert args.handler(args) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["model_type"] == "hubert"
    from essl.evaluation.features import load_model

    original = load_model("preset:tiny", seed=0)
    imported = load_encoder(tmp_path / "essl")
    for (k, a), (_, b) in zip(
        original.state_dict().items(), imported.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
