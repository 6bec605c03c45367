"""``essl interop``: convert encoders between essl and HF transformers checkpoints.

essl interop import hf:PATH OUT_DIR          # HF folder -> essl encoder (essl:OUT_DIR)
essl interop export RUN_DIR OUT_DIR          # essl run / encoder / preset -> HF folder
essl interop export preset:wavlm-base-plus OUT_DIR --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("interop", help="import/export encoders from/to HF transformers")
    cs = p.add_subparsers(dest="interop_command", metavar="ACTION", required=True)

    i = cs.add_parser("import", help="HF Wav2Vec2/HuBERT/WavLM/Data2VecAudio folder -> essl")
    i.add_argument("source", help="hf:PATH (or PATH): a save_pretrained folder")
    i.add_argument("out_dir", help="output folder (encoder.json + encoder.safetensors)")
    i.set_defaults(handler=_import)

    e = cs.add_parser("export", help="essl encoder -> HF folder loadable by AutoModel")
    e.add_argument(
        "source",
        help="essl RUN_DIR, essl encoder folder (essl:DIR or DIR), or preset:NAME "
        "(random init from --seed)",
    )
    e.add_argument("out_dir", help="output folder (config.json + model.safetensors)")
    e.add_argument(
        "--model-type",
        choices=["wav2vec2", "hubert", "wavlm", "data2vec-audio"],
        default=None,
        help="HF model_type (default: what the encoder is; a plain encoder may be 'hubert')",
    )
    e.add_argument("--seed", type=int, default=0, help="init seed for preset:NAME")
    e.set_defaults(handler=_export)


def _import(args: argparse.Namespace) -> int:
    from essl.models.interop import import_hf

    src = args.source.split(":", 1)[1] if args.source.startswith("hf:") else args.source
    encoder = import_hf(src, args.out_dir)
    n = sum(p.numel() for p in encoder.parameters())
    print(f"wrote {args.out_dir} ({n:,} parameters); load it as essl:{args.out_dir}")
    pre = Path(src) / "preprocessor_config.json"
    if pre.is_file() and json.loads(pre.read_text()).get("do_normalize"):
        print(
            "note: this model expects each waveform normalised to zero mean and unit "
            "variance (preprocessor do_normalize); the essl encoder does not do it itself"
        )
    return 0


def _load_source(spec: str, seed: int) -> Any:
    from essl.errors import EsslError
    from essl.models import Encoder
    from essl.models.interop import load_encoder

    if spec.startswith("essl:"):
        return load_encoder(spec.split(":", 1)[1])
    if (Path(spec) / "encoder.json").is_file():
        return load_encoder(spec)
    if spec.startswith("preset:") or Path(spec).is_dir():
        from essl.evaluation.features import load_model

        model = load_model(spec, seed=seed)
        if not isinstance(model, Encoder):
            raise EsslError(f"{spec}: not an essl encoder")
        return model
    raise EsslError(
        f"'{spec}': not a run directory, an essl encoder folder or preset:NAME "
        "(e.g. preset:wav2vec2-base)"
    )


def _export(args: argparse.Namespace) -> int:
    from essl.models.interop import export_hf

    encoder = _load_source(args.source, args.seed)
    out = export_hf(encoder, args.out_dir, args.model_type)
    print(f"wrote {out} (load with transformers.AutoModel.from_pretrained('{out}'))")
    return 0
