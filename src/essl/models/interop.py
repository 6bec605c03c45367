"""Conversion between essl encoders and HF transformers checkpoints, and essl's encoder-only
checkpoint format.

HF folders (``save_pretrained`` layout: ``config.json`` + ``model.safetensors``) of
``Wav2Vec2Model`` / ``HubertModel`` / ``WavLMModel`` / ``Data2VecAudioModel`` (or their
pretraining/CTC wrappers, whose encoder keys are prefixed) map one to one onto
:class:`~essl.models.Encoder`: HF's separate Q, K and V projections are concatenated into
essl's fused ``qkv`` (and split on export); the weight-normed positional conv keeps its
(g, v) pair under either naming (``weight_g``/``weight_v`` of older checkpoints or
``parametrizations.weight.original0/1``). Neither direction needs transformers.

essl encoder checkpoint (``essl:DIR``): ``DIR/encoder.json`` (``{"schema":
"essl.encoder/1", "config": EncoderConfig fields}``) + ``DIR/encoder.safetensors`` (the
encoder's ``state_dict``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from essl.config import from_dict, to_dict
from essl.errors import ConfigError, EsslError
from essl.models.config import EncoderConfig
from essl.models.encoder import Encoder

__all__ = [
    "ENCODER_SCHEMA",
    "encoder_config_from_hf",
    "export_hf",
    "hf_config_from_encoder",
    "import_hf",
    "load_encoder",
    "save_encoder",
]

ENCODER_SCHEMA = "essl.encoder/1"
_HF_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
_PREFIXES = ("wav2vec2.", "hubert.", "wavlm.", "data2vec_audio.")
_ARCH = {
    "wav2vec2": "Wav2Vec2Model",
    "hubert": "HubertModel",
    "wavlm": "WavLMModel",
    "data2vec-audio": "Data2VecAudioModel",
}


def save_encoder(encoder: Encoder, out_dir: str | Path) -> Path:
    """Write ``encoder`` as an essl encoder checkpoint folder; returns the folder."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"schema": ENCODER_SCHEMA, "config": to_dict(encoder.cfg)}
    (out / "encoder.json").write_text(json.dumps(meta, indent=2) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(out / "encoder.safetensors"))
    return out


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> Encoder:
    """The encoder saved by :func:`save_encoder` (or :func:`import_hf`) in ``path``."""
    from safetensors.torch import load_file

    d = Path(path)
    meta_path = d / "encoder.json"
    if not meta_path.is_file() or not (d / "encoder.safetensors").is_file():
        raise EsslError(
            f"{d}: not an essl encoder folder (needs encoder.json and encoder.safetensors); "
            "create one with `essl interop import hf:PATH OUT_DIR`"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("schema") != ENCODER_SCHEMA:
        raise EsslError(f"{meta_path}: schema {meta.get('schema')!r}, expected {ENCODER_SCHEMA}")
    cfg = from_dict(EncoderConfig, meta["config"], f"{meta_path} config")
    encoder = Encoder(cfg)
    encoder.load_state_dict(load_file(str(d / "encoder.safetensors")))
    return encoder.to(device).eval()


def _need(hf: dict[str, Any], key: str, expected: Any, where: str) -> None:
    if hf.get(key, expected) != expected:
        raise ConfigError(
            f"{where}: {key}={hf[key]!r} is not supported by essl's encoder (needs {expected!r})"
        )


def encoder_config_from_hf(hf: dict[str, Any], where: str = "config.json") -> EncoderConfig:
    """The :class:`EncoderConfig` of an HF ``config.json`` mapping (architecture only;
    dropouts are copied, masking settings are not)."""
    kind = hf.get("model_type")
    if kind not in _HF_TYPES:
        raise ConfigError(f"{where}: model_type {kind!r} is not one of {', '.join(_HF_TYPES)}")
    for key in ("hidden_act", "feat_extract_activation"):
        _need(hf, key, "gelu", where)
    _need(hf, "layer_norm_eps", 1e-5, where)
    _need(hf, "feat_proj_layer_norm", True, where)
    _need(hf, "add_adapter", False, where)
    convs = tuple(
        (int(c), int(k), int(s))
        for c, k, s in zip(hf["conv_dim"], hf["conv_kernel"], hf["conv_stride"], strict=True)
    )
    d2v = kind == "data2vec-audio"
    cfg = EncoderConfig(
        conv_layers=convs,
        conv_norm="layer" if d2v or hf.get("feat_extract_norm") == "layer" else "group",
        conv_bias=bool(hf.get("conv_bias", False)),
        embed_dim=int(hf["hidden_size"]),
        num_layers=int(hf["num_hidden_layers"]),
        num_heads=int(hf["num_attention_heads"]),
        ffn_dim=int(hf["intermediate_size"]),
        layer_norm_first=bool(hf.get("do_stable_layer_norm", False)),
        dropout=float(hf.get("hidden_dropout", 0.1)),
        attention_dropout=float(hf.get("attention_dropout", 0.1)),
        activation_dropout=float(hf.get("activation_dropout", 0.0)),
        layer_drop=float(hf.get("layerdrop", 0.0)),
        dropout_input=float(hf.get("feat_proj_dropout", 0.0)),
        dropout_features=float(hf.get("feat_quantizer_dropout", 0.0)),
        pos_conv_kernel=int(hf["conv_pos_kernel_size" if d2v else "num_conv_pos_embeddings"]),
        pos_conv_groups=int(hf["num_conv_pos_embedding_groups"]),
        pos_conv_type="data2vec" if d2v else "wav2vec2",
        pos_conv_depth=int(hf["num_conv_pos_embeddings"]) if d2v else 5,
        relative_position="wavlm" if kind == "wavlm" else "none",
        num_buckets=int(hf.get("num_buckets", 320)),
        max_distance=int(hf.get("max_bucket_distance", 800)),
    )
    cfg.validate()
    return cfg


def hf_config_from_encoder(cfg: EncoderConfig, model_type: str | None = None) -> dict[str, Any]:
    """An HF ``config.json`` mapping for ``cfg`` (``model_type`` None = the natural one:
    "wavlm" with relative positions, "data2vec-audio" with stacked positional convs, else
    "wav2vec2"; "hubert" may be asked for a plain encoder)."""
    natural = _natural_type(cfg)
    kind = model_type or natural
    if kind != natural and not (kind == "hubert" and natural == "wav2vec2"):
        raise ConfigError(f"model_type '{kind}': this encoder exports as '{natural}'")
    if kind == "data2vec-audio" and cfg.conv_norm != "layer":
        raise ConfigError("data2vec-audio export needs model.conv_norm='layer'")
    d2v = kind == "data2vec-audio"
    out: dict[str, Any] = {
        "model_type": kind,
        "architectures": [_ARCH[kind]],
        "conv_dim": [c for c, _, _ in cfg.conv_layers],
        "conv_kernel": [k for _, k, _ in cfg.conv_layers],
        "conv_stride": [s for _, _, s in cfg.conv_layers],
        "num_feat_extract_layers": len(cfg.conv_layers),
        "feat_extract_norm": cfg.conv_norm,
        "feat_extract_activation": "gelu",
        "hidden_act": "gelu",
        "conv_bias": cfg.conv_bias,
        "hidden_size": cfg.embed_dim,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.ffn_dim,
        "do_stable_layer_norm": cfg.layer_norm_first,
        "hidden_dropout": cfg.dropout,
        "attention_dropout": cfg.attention_dropout,
        "activation_dropout": cfg.activation_dropout,
        "layerdrop": cfg.layer_drop,
        "feat_proj_dropout": cfg.dropout_input,
        "layer_norm_eps": 1e-5,
        "num_conv_pos_embeddings": cfg.pos_conv_depth if d2v else cfg.pos_conv_kernel,
        "num_conv_pos_embedding_groups": cfg.pos_conv_groups,
    }
    if d2v:
        out["conv_pos_kernel_size"] = cfg.pos_conv_kernel
    if kind == "wavlm":
        out.update(num_buckets=cfg.num_buckets, max_bucket_distance=cfg.max_distance)
    if kind == "hubert":
        out["feat_proj_layer_norm"] = True
    return out


def _natural_type(cfg: EncoderConfig) -> str:
    if cfg.relative_position == "wavlm":
        if cfg.pos_conv_type != "wav2vec2":
            raise ConfigError("no HF model has both WavLM positions and data2vec positional convs")
        return "wavlm"
    return "data2vec-audio" if cfg.pos_conv_type == "data2vec" else "wav2vec2"


def _key_map(cfg: EncoderConfig) -> list[tuple[str, str]]:
    """(essl key, HF key) pairs of every tensor except the fused attention projections."""
    pairs = [("feature_norm", "feature_projection.layer_norm")]
    pairs += [("projection", "feature_projection.projection")]
    for i in range(len(cfg.conv_layers)):
        pairs.append((f"frontend.layers.{i}.conv", f"feature_extractor.conv_layers.{i}.conv"))
        if cfg.conv_norm == "layer" or i == 0:
            n = f"feature_extractor.conv_layers.{i}.layer_norm"
            pairs.append((f"frontend.layers.{i}.norm", n))
    pairs.append(("transformer.layer_norm", "encoder.layer_norm"))
    if cfg.pos_conv_type == "data2vec":
        for j in range(cfg.pos_conv_depth):
            pairs.append(
                (f"transformer.pos_conv.layers.{j}", f"encoder.pos_conv_embed.layers.{j}.conv")
            )
    else:
        pairs.append(("transformer.pos_conv.conv", "encoder.pos_conv_embed.conv"))
    if cfg.relative_position == "wavlm":
        pairs.append(("transformer.rel_pos.embed", "encoder.layers.0.attention.rel_attn_embed"))
    for i in range(cfg.num_layers):
        e, h = f"transformer.layers.{i}", f"encoder.layers.{i}"
        pairs += [
            (f"{e}.out_proj", f"{h}.attention.out_proj"),
            (f"{e}.attn_norm", f"{h}.layer_norm"),
            (f"{e}.fc1", f"{h}.feed_forward.intermediate_dense"),
            (f"{e}.fc2", f"{h}.feed_forward.output_dense"),
            (f"{e}.ffn_norm", f"{h}.final_layer_norm"),
        ]
        if cfg.relative_position == "wavlm":
            pairs += [
                (f"{e}.rel_gate.const", f"{h}.attention.gru_rel_pos_const"),
                (f"{e}.rel_gate.linear", f"{h}.attention.gru_rel_pos_linear"),
            ]
    return pairs


_SUFFIXES = {
    "weight": ("weight",),
    "bias": ("bias",),
    "parametrizations.weight.original0": ("parametrizations.weight.original0", "weight_g"),
    "parametrizations.weight.original1": ("parametrizations.weight.original1", "weight_v"),
}


def essl_state_from_hf(
    hf_state: dict[str, torch.Tensor], cfg: EncoderConfig
) -> dict[str, torch.Tensor]:
    """HF encoder tensors (prefixes stripped) → an essl encoder ``state_dict``."""
    out: dict[str, torch.Tensor] = {}
    for e_name, h_name in _key_map(cfg):
        for e_suf, h_sufs in _SUFFIXES.items():
            hit = next((f"{h_name}.{s}" for s in h_sufs if f"{h_name}.{s}" in hf_state), None)
            if hit is not None:
                out[f"{e_name}.{e_suf}"] = hf_state[hit]
        if e_name.endswith("const"):  # a bare parameter
            out[e_name] = hf_state[h_name]
    for i in range(cfg.num_layers):
        h = f"encoder.layers.{i}.attention"
        for suf in ("weight", "bias"):
            parts = [hf_state[f"{h}.{p}_proj.{suf}"] for p in ("q", "k", "v")]
            out[f"transformer.layers.{i}.qkv.{suf}"] = torch.cat(parts, 0)
    out["mask_embedding"] = hf_state.get("masked_spec_embed", torch.zeros(cfg.embed_dim))
    return out


def hf_state_from_essl(encoder: Encoder) -> dict[str, torch.Tensor]:
    """An essl encoder → HF tensors (``parametrizations.weight.original0/1`` naming)."""
    cfg, state = encoder.cfg, encoder.state_dict()
    out: dict[str, torch.Tensor] = {}
    for e_name, h_name in _key_map(cfg):
        if e_name in state:
            out[h_name] = state[e_name]
            continue
        for e_suf in _SUFFIXES:
            if f"{e_name}.{e_suf}" in state:
                out[f"{h_name}.{e_suf}"] = state[f"{e_name}.{e_suf}"]
    for i in range(cfg.num_layers):
        h = f"encoder.layers.{i}.attention"
        for suf in ("weight", "bias"):
            q, k, v = state[f"transformer.layers.{i}.qkv.{suf}"].chunk(3, 0)
            out.update({f"{h}.q_proj.{suf}": q, f"{h}.k_proj.{suf}": k, f"{h}.v_proj.{suf}": v})
    out["masked_spec_embed"] = state["mask_embedding"]
    return {k: v.detach().cpu().contiguous() for k, v in out.items()}


def _read_hf_state(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise EsslError(f"{folder}: no *.safetensors weights (save the model with safetensors)")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        for k, v in load_file(str(f)).items():
            for p in _PREFIXES:
                if k.startswith(p):
                    k = k[len(p) :]
                    break
            state[k] = v
    return state


def import_hf(hf_dir: str | Path, out_dir: str | Path | None = None) -> Encoder:
    """The essl encoder of an HF checkpoint folder (saved to ``out_dir`` when given)."""
    folder = Path(hf_dir)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise EsslError(f"{folder}: no config.json; give an HF save_pretrained folder")
    cfg = encoder_config_from_hf(json.loads(cfg_path.read_text()), str(cfg_path))
    state = _read_hf_state(folder)
    encoder = Encoder(cfg)
    try:
        mapped = essl_state_from_hf(state, cfg)
        missing, unexpected = encoder.load_state_dict(mapped, strict=False)
    except (KeyError, RuntimeError) as e:
        raise EsslError(f"{folder}: weights do not match config.json ({e})") from None
    if missing or unexpected:
        raise EsslError(f"{folder}: weights missing from the checkpoint: {missing[:5]}")
    if out_dir is not None:
        save_encoder(encoder, out_dir)
    return encoder.eval()


def export_hf(encoder: Encoder, out_dir: str | Path, model_type: str | None = None) -> Path:
    """Write ``encoder`` as an HF folder that ``transformers.AutoModel`` loads."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf = hf_config_from_encoder(encoder.cfg, model_type)
    (out / "config.json").write_text(json.dumps(hf, indent=2) + "\n")
    save_file(hf_state_from_essl(encoder), str(out / "model.safetensors"), {"format": "pt"})
    return out
