import json

import pytest
import torch

from essl.data.batch import Batch
from essl.data.manifest import Utterance
from essl.errors import ConfigError, EsslError
from essl.objectives.multitask import (
    MultitaskConfig,
    MultitaskTask,
    build_multitask,
    read_pretext_weights,
)
from essl.testing.configs import tiny_task

NAMES = ["f0", "voicing", "spectral_slope", "rms"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _task(objective: str):
    return tiny_task(objective)


def _batch(T: int = 49) -> Batch:
    t = torch.arange(16000) / 16000
    tone = 0.3 * torch.sin(2 * torch.pi * 180 * t)
    wavs = torch.stack([tone, torch.randn(16000) * 0.05])
    wavs[1, 12000:] = 0
    return Batch(
        wavs=wavs,
        lengths=torch.tensor([16000, 12000]),
        utterances=[Utterance(id=f"u{i}", path="x.wav", duration=1.0) for i in range(2)],
        offsets=torch.zeros(2, dtype=torch.long),
        labels=torch.randint(0, 5, (2, T)),
    )


@pytest.mark.parametrize("objective", ["wav2vec2", "hubert"])
def test_pretext_losses_are_added_to_any_objective_and_logged(objective, seed):
    base = _task(objective)
    task = MultitaskTask(base, NAMES, {"f0": 2.0}, loss_weight=0.5)
    batch = _batch()
    T = int(base.encoder.frame_lengths(torch.tensor([16000]))[0])
    mask = torch.zeros(2, T, dtype=torch.bool)
    mask[:, 5:15] = True
    torch.manual_seed(0)
    out = task(batch, mask=mask)
    torch.manual_seed(0)
    base_out = base(batch, mask=mask)
    parts = {n: out.logs[f"pretext_{n}"] for n in NAMES}
    expected_pretext = 2.0 * parts["f0"] + sum(parts[n] for n in NAMES[1:])
    assert out.logs["pretext_loss"] == pytest.approx(expected_pretext, rel=1e-5)
    assert float(out.loss.detach()) == pytest.approx(
        float(base_out.loss.detach()) + 0.5 * expected_pretext, rel=1e-4
    )
    out.loss.backward()
    assert all(h.weight.grad is not None for h in task.heads.values())
    assert base.encoder.projection.weight.grad is not None


def test_the_encoder_runs_once_per_step():
    base = _task("wav2vec2")
    task = MultitaskTask(base, NAMES)
    calls = []
    base.encoder.register_forward_hook(lambda *a: calls.append(1))
    task(_batch())
    assert len(calls) == 1


def test_standardisation_statistics_update_in_training_only():
    task = MultitaskTask(_task("wav2vec2"), ["rms", "zcr"])
    task.train()
    task(_batch())
    n = float(task.stat_count)
    assert n == 49 + 37  # valid encoder frames of the two rows
    task.eval()
    with torch.no_grad():
        task(_batch())
    assert float(task.stat_count) == n
    y = torch.randn(10, 2)
    assert task.standardise(y).shape == y.shape


def test_state_dict_holds_the_encoder_once_and_loads_back():
    task = MultitaskTask(_task("wav2vec2"), NAMES)
    keys = list(task.state_dict())
    assert not any(k.startswith("encoder.") for k in keys)
    assert any(k.startswith("base.encoder.") for k in keys)
    clone = MultitaskTask(_task("wav2vec2"), NAMES)
    clone.load_state_dict(task.state_dict())
    assert task.encoder is task.base.encoder


def test_weights_file_selects_targets_and_unknown_names_are_rejected(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"weights": {"f0": 0.7, "rms": 0.3, "zcr": 0.0}}))
    assert read_pretext_weights(path) == {"f0": 0.7, "rms": 0.3, "zcr": 0.0}
    task = build_multitask(_task("wav2vec2"), MultitaskConfig(weights_file=str(path)))
    assert isinstance(task, MultitaskTask) and task.names == ["f0", "rms"]
    base = _task("wav2vec2")
    assert build_multitask(base, MultitaskConfig()) is base  # no targets: heads disabled
    with pytest.raises(ConfigError, match="pitchiness"):
        MultitaskConfig(targets=["pitchiness"]).validate()
    path.write_text("{}")
    with pytest.raises(EsslError, match="weights"):
        read_pretext_weights(path)
