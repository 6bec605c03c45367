from dataclasses import dataclass, field
from typing import Literal

import pytest

from essl.config import apply_overrides, from_dict, load_yaml, to_dict
from essl.errors import ConfigError


@dataclass(kw_only=True)
class Inner:
    num_layers: int = 2
    kernels: tuple[int, ...] = (10, 3)
    norm: Literal["group", "layer"] = "group"

    def validate(self) -> None:
        if self.num_layers < 1:
            raise ConfigError("inner.num_layers must be >= 1")


@dataclass(kw_only=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    lr: float = 1e-3
    name: str | None = None


def test_round_trip_through_dict_is_identity():
    cfg = Outer(inner=Inner(num_layers=3, kernels=(5, 2), norm="layer"), lr=0.5, name="x")
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"config.inner: unknown key 'num_layer'; did you mean 'num_layers'"
    ):
        from_dict(Outer, {"inner": {"num_layer": 3}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lr": "fast"}, "config.lr: expected a number"),
        ({"inner": {"num_layers": 2.5}}, "config.inner.num_layers: expected an integer"),
        ({"inner": {"num_layers": True}}, "expected an integer"),
        ({"inner": {"norm": "batch"}}, "is not one of 'group', 'layer'"),
        ({"inner": {"kernels": 3}}, "expected a list"),
    ],
)
def test_mistyped_values_name_the_dotted_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_validate_runs_after_construction():
    with pytest.raises(ConfigError, match="num_layers must be >= 1"):
        from_dict(Outer, {"inner": {"num_layers": 0}})


def test_overrides_parse_values_and_reject_unknown_keys():
    cfg = apply_overrides(Outer(), ["inner.num_layers=4", "lr=2e-4", "inner.kernels=[1, 2, 3]"])
    assert cfg.inner.num_layers == 4 and cfg.lr == 2e-4 and cfg.inner.kernels == (1, 2, 3)
    with pytest.raises(ConfigError, match="unknown key 'inner.layers'"):
        apply_overrides(Outer(), ["inner.layers=4"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(Outer(), ["lr"])
    with pytest.raises(ConfigError, match="expected an integer"):
        apply_overrides(Outer(), ["inner.num_layers=four"])


def test_yaml_must_be_a_mapping(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml(p)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(p)
