import json
import sys

import pytest

from essl.cli.main import main
from essl.config import from_dict
from essl.errors import ConfigError
from essl.training.config import PretrainConfig, resolved_dict
from essl.training.presets import list_presets, load_config

PRESETS = [
    "hubert-base",
    "hubert-large",
    "hubert-tiny-iter1",
    "hubert-tiny-iter2",
    "wav2vec2-base",
    "wav2vec2-large",
    "wav2vec2-tiny",
]


def test_every_preset_loads_and_validates():
    assert set(PRESETS) <= set(list_presets())
    for name in list_presets():
        cfg = load_config(name)
        assert from_dict(PretrainConfig, resolved_dict(cfg)) == cfg  # config.json round trip


@pytest.mark.parametrize(
    ("name", "lr", "warmup", "steps", "clip", "layers", "objective"),
    [
        ("wav2vec2-base", 5e-4, 32000, 400000, 0.0, 12, "wav2vec2"),
        ("wav2vec2-large", 3e-4, 32000, 1000000, 0.0, 24, "wav2vec2"),
        ("hubert-base", 5e-4, 32000, 400000, 10.0, 12, "hubert"),
        ("hubert-large", 1.5e-3, 32000, 400000, 1.0, 24, "hubert"),
    ],
)
def test_published_recipes_keep_their_hyper_parameters(
    name, lr, warmup, steps, clip, layers, objective
):
    cfg = load_config(name)
    assert (cfg.optim.lr, cfg.optim.warmup_steps, cfg.optim.total_steps) == (lr, warmup, steps)
    assert (cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay) == ((0.9, 0.98), 1e-6, 0.01)
    assert cfg.optim.schedule == "polynomial" and cfg.optim.grad_clip == clip
    assert cfg.train.max_steps == steps and cfg.model.num_layers == layers
    assert cfg.objective.name == objective


def test_hubert_iterations_predict_100_then_500_units():
    assert load_config("hubert-tiny-iter1").objective.hubert.num_classes == 100
    assert load_config("hubert-tiny-iter2").objective.hubert.num_classes == 500
    assert load_config("hubert-base").masking.random_span.mask_prob == 0.8


def test_overrides_apply_on_top_of_the_preset():
    cfg = load_config("wav2vec2-tiny", ["optim.lr=2e-3", "model.num_layers=1", "data.labels=x"])
    assert (cfg.optim.lr, cfg.model.num_layers, cfg.model.embed_dim) == (2e-3, 1, 256)
    assert cfg.data.labels == "x"
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config("wav2vec2-tiny", ["optim.lr"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        load_config("wav2vec2-tiny", ["optim.lr.x=1"])


def test_a_run_resumes_from_its_own_config_json(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, "--max-steps", "1")) == 0
    args = [
        "pretrain",
        str(run / "config.json"),
        str(run),
        "--manifest",
        str(tiny_corpus),
        "--max-steps",
        "2",
        "--no-progress",
    ]
    assert main(args) == 0
    sessions = (run / "sessions.jsonl").read_text().splitlines()
    assert [json.loads(s)["start_step"] for s in sessions] == [0, 1]


def test_the_pretrain_command_module_does_not_import_torch():
    import subprocess

    code = "import sys, essl.cli.pretrain; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
