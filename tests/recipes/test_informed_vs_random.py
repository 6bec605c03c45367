"""Smoke test of recipes/informed_vs_random on a micro model: every stage runs, every arm and
seed logs its evaluations, and the summary compares arms at equal cost."""

import importlib.util
import json
from pathlib import Path

import pytest

RECIPE = Path(__file__).parents[2] / "recipes" / "informed_vs_random" / "run.py"
MICRO = [
    "model.conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "model.embed_dim=32",
    "model.num_layers=2",
    "model.num_heads=2",
    "model.ffn_dim=64",
    "model.pos_conv_kernel=16",
    "model.pos_conv_groups=4",
    "data.max_batch_seconds=4.0",
]


def _recipe():
    spec = importlib.util.spec_from_file_location("informed_vs_random", RECIPE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_recipe_end_to_end_on_a_micro_model(tmp_path):
    recipe = _recipe()
    out = tmp_path / "ivr"
    args = ["--out", str(out), "--steps", "4", "--eval-every", "2", "--seeds", "0,1",
            "--minutes", "1", "--speakers", "4", "--clusters", "8", "--eval-utterances", "12",
            "--probe-steps", "5", "--arms", "random-span,phone-segments,multitask-selected"]  # fmt: skip
    args += [a for kv in MICRO for a in ("--set", kv)]
    assert recipe.main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["arms"] == ["random-span", "phone-segments", "multitask-selected"]
    for arm in res["arms"]:
        for seed in (0, 1):
            rows = (out / "runs" / f"{arm}_seed{seed}" / "eval.jsonl").read_text().splitlines()
            assert [json.loads(r)["step"] for r in rows] == [0, 2, 4]
    probe = res["summary"]["phone_probe/best_layer"]["flops"]
    assert probe["arms"]["random-span"]["final_mean"] == pytest.approx(probe["target"])
    assert probe["arms"]["random-span"]["gain_vs_baseline_mean"] == 0.0
    for arm in res["arms"]:
        row = probe["arms"][arm]
        assert len(row["final_per_seed"]) == 2 and len(row["cost_to_target_per_seed"]) == 2
    assert set(res["boundary_scores"]) >= {"precision", "recall", "f1", "r_value"}
    seg = (out / "runs" / "phone-segments_seed0" / "config.json").read_text()
    assert '"segment"' in seg
    mtl = json.loads((out / "runs" / "multitask-selected_seed0" / "config.json").read_text())
    assert mtl["objective"]["multitask"]["weights_file"].endswith("pretext_phone.json")
    assert (out / "plots" / "phone_probe_best_layer_vs_flops.png").is_file()
    assert "| phone-segments |" in (out / "results.md").read_text()
