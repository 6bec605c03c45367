import random
from pathlib import Path

import numpy as np
import pytest
import torch

from essl.training import checkpoint as ck
from essl.training.checkpoint import (
    Checkpoint,
    capture_rng,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)


def _trained(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.98), eps=1e-6)
    for _ in range(3):
        model(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    return model, opt


def _ckpt(step: int, seed: int = 0) -> Checkpoint:
    model, opt = _trained(seed)
    return Checkpoint(
        step=step,
        model=model.state_dict(),
        optimizer=opt.state_dict(),
        rng=[capture_rng()],
        loader=[{"epoch": 1, "batches": 3}],
        config={"train": {"max_steps": 9}},
        extra={"bad_steps": 0},
    )


def _assert_same_state(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_same_state(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_state(x, y)
    else:
        assert a == b


def test_checkpoint_round_trip_is_bitwise_exact(tmp_path: Path):
    c = _ckpt(7)
    path = save_checkpoint(tmp_path, c)
    assert path.name == "step_0000007" and latest_checkpoint(tmp_path) == path
    back = load_checkpoint(path)
    assert back.step == 7 and back.loader == c.loader and back.config == c.config
    _assert_same_state(c.model, back.model)
    _assert_same_state(c.optimizer, back.optimizer)
    assert torch.equal(back.rng[0]["torch"], c.rng[0]["torch"])
    # the optimizer restored from disk continues exactly like the original one
    m1, o1 = _trained(0)
    m2, o2 = _trained(1)
    m2.load_state_dict(back.model)
    o2.load_state_dict(back.optimizer)
    x = torch.randn(5, 4)
    for m, o in ((m1, o1), (m2, o2)):
        m(x).pow(2).mean().backward()
        o.step()
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_rng_states_restore_every_generator():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng()
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


def test_checkpoint_folder_holds_only_safetensors_and_json(tmp_path: Path, monkeypatch):
    path = save_checkpoint(tmp_path, _ckpt(1))
    assert {p.suffix for p in path.iterdir()} == {".safetensors", ".json"}

    def no_pickle(*a, **k):
        raise AssertionError("torch.load (pickle) must not be used")

    monkeypatch.setattr(torch, "load", no_pickle)
    load_checkpoint(path)


def test_a_crash_mid_write_leaves_the_previous_checkpoint_loadable(tmp_path: Path, monkeypatch):
    first = save_checkpoint(tmp_path, _ckpt(1))
    calls = {"n": 0}
    real = ck.save_file

    def crash_on_second_file(tensors, filename, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed while writing")
        return real(tensors, filename, *a, **k)

    monkeypatch.setattr(ck, "save_file", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, _ckpt(2, seed=5))
    assert latest_checkpoint(tmp_path) == first
    assert not (tmp_path / "step_0000002").exists()
    assert not list(tmp_path.glob(".step_*"))  # the partial folder was removed
    assert load_checkpoint(first).step == 1


def test_latest_pointer_falls_back_to_a_scan_when_missing(tmp_path: Path):
    save_checkpoint(tmp_path, _ckpt(1))
    second = save_checkpoint(tmp_path, _ckpt(2))
    (tmp_path / "latest").unlink()
    assert latest_checkpoint(tmp_path) == second


def test_retention_keeps_the_newest_checkpoints(tmp_path: Path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, _ckpt(step))
        prune_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_0000003", "step_0000004"]
    prune_checkpoints(tmp_path, keep_last=0)  # 0 keeps all
    assert len(list(tmp_path.glob("step_*"))) == 2
