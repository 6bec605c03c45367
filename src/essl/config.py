"""Typed configs: dataclasses built from plain dicts, YAML files and dotted overrides.

Configs never execute code. Unknown keys and mistyped values raise :class:`ConfigError`
naming the dotted key and the fix (with a "did you mean" suggestion)::

    cfg = from_dict(PretrainConfig, yaml.safe_load(text))
    cfg = apply_overrides(cfg, ["model.num_layers=2", "optim.lr=1e-3"])
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from essl.errors import ConfigError

T = TypeVar("T")

__all__ = ["apply_overrides", "from_dict", "load_yaml", "to_dict"]


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain JSON-compatible values; tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types; then ``validate()``."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = to_dict(data)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
        raise ConfigError(f"{where}: unknown key '{key}'{hint}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where}: {e}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}"
        )
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value))
            )
        return (
            [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
            if args
            else list(value)
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def apply_overrides(cfg: T, overrides: typing.Sequence[str]) -> T:
    """Return a copy of ``cfg`` with ``key.sub=value`` overrides applied (values parsed as YAML)."""

    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected KEY=VALUE, e.g. model.num_layers=2")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, p in enumerate(parts):
            if not isinstance(node, dict) or p not in node:
                valid = ", ".join(node) if isinstance(node, dict) else "(not a section)"
                close = difflib.get_close_matches(p, node, n=1) if isinstance(node, dict) else []
                hint = (
                    f"did you mean '{'.'.join([*parts[:i], close[0]])}'?"
                    if close
                    else f"valid: {valid}"
                )
                raise ConfigError(
                    f"override '{item}': unknown key '{'.'.join(parts[: i + 1])}'; {hint}"
                )
            if i == len(parts) - 1:
                node[p] = _parse_value(raw, item)
            else:
                node = node[p]
    return from_dict(type(cfg), data, "config")


def _parse_value(raw: str, item: str) -> Any:
    """A value as YAML reads it (numbers, booleans, lists, null, strings)."""
    import yaml

    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{item}': cannot parse value: {e}") from None
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (safe loader: no code, no object graphs)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data
