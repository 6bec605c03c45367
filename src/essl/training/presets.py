"""Named pretraining presets: the YAML files in the repository's ``configs/`` folder.

A preset file only sets the fields that differ from :class:`PretrainConfig`'s defaults; its
``model`` section may start from an encoder preset (``model: {preset: base}``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from essl.config import from_dict, load_yaml, to_dict
from essl.errors import ConfigError
from essl.training.config import PretrainConfig

__all__ = ["config_dir", "list_presets", "load_config", "resolve_config_dict"]


def config_dir() -> Path:
    """``$ESSL_CONFIG_DIR`` if set, else ``configs/`` at the root of the essl checkout."""
    env = os.environ.get("ESSL_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "configs"


def list_presets() -> list[str]:
    """Names of the preset files (without ``.yaml``), sorted."""
    d = config_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def resolve_config_dict(data: dict[str, Any]) -> dict[str, Any]:
    """Expand ``model.preset`` into the encoder preset's fields (the other keys override)."""
    from essl.models import encoder_preset

    data = dict(data)
    model = data.get("model")
    if isinstance(model, dict) and "preset" in model:
        model = dict(model)
        base = to_dict(encoder_preset(str(model.pop("preset"))))
        base.update(model)
        data["model"] = base
    return data


def load_config(preset_or_path: str, overrides: Sequence[str] = ()) -> PretrainConfig:
    """A preset name (see :func:`list_presets`) or a YAML file, with dotted ``KEY=VALUE``
    overrides (values parsed as YAML) applied on top of the file, as a validated config.

    Overrides are merged into the file's mapping before the config is built, so an unknown
    key or a mistyped value is reported by :func:`essl.config.from_dict` with the dotted key.
    """
    path = Path(preset_or_path)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        where = str(path)
    else:
        names = list_presets()
        if preset_or_path not in names:
            raise ConfigError(
                f"preset '{preset_or_path}': unknown; valid presets: {', '.join(names)} "
                "(or give the path of a YAML config file)"
            )
        path = config_dir() / f"{preset_or_path}.yaml"
        where = f"preset '{preset_or_path}' ({path})"
    data = load_yaml(path)
    for item in overrides:
        _set_dotted(data, item)
    try:
        return from_dict(PretrainConfig, resolve_config_dict(data), "config")
    except ConfigError as e:
        extra = " with the --set overrides" if overrides else ""
        raise ConfigError(f"{e} (in {where}{extra})") from None


def _set_dotted(data: dict[str, Any], item: str) -> None:
    import yaml

    if "=" not in item:
        raise ConfigError(f"override '{item}': expected KEY=VALUE, e.g. optim.lr=1e-3")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override '{item}': empty key part; use e.g. model.num_layers=2")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{item}': cannot parse value: {e}") from None
    node = data
    for i, p in enumerate(parts[:-1]):
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"override '{item}': '{'.'.join(parts[: i + 1])}' is a value, not a section"
            )
        node = child
    node[parts[-1]] = value
