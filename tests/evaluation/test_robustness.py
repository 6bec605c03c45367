"""run_robustness / `essl robustness`: schema, curves per severity, CKA, determinism, cache."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from essl.errors import ConfigError
from essl.evaluation.evaluate import EvalConfig
from essl.evaluation.probes import ProbeConfig
from essl.evaluation.robustness import SCHEMA, RobustnessConfig, _to_frames, run_robustness
from essl.testing import make_tiny_corpus

TASKS = ("rankme", "phone_probe")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny kernels: one thread avoids OpenMP stalls on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(seed: int = 0, **kw) -> RobustnessConfig:
    kw.setdefault("conditions", ("identity", "noise", "speed"))
    kw.setdefault("severities", {"noise": (10.0, 0.0), "speed": (1.25,)})
    probe = ProbeConfig(steps=40, lrs=(1e-2,), seed=seed)
    return RobustnessConfig(eval=EvalConfig(tasks=TASKS, seed=seed, probe=probe), **kw)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, Path, dict]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rob")
    manifest = make_tiny_corpus(root / "corpus", num_utterances=12, num_speakers=4)
    res = run_robustness("preset:tiny", manifest, root / "out", _cfg(), progress=False)
    return manifest, root, res


def test_results_follow_the_schema_with_one_cell_per_severity_and_plots(sweep):
    _, root, res = sweep
    on_disk = json.loads((root / "out" / "results.json").read_text())
    assert on_disk["schema"] == SCHEMA == res["schema"]
    assert set(on_disk["conditions"]) == {"identity", "noise", "speed"}
    noise = on_disk["conditions"]["noise"]
    assert noise["severities"] == [10.0, 0.0] and set(noise["cells"]) == {"10", "0"}
    assert noise["unit"] == "SNR (dB)"
    for task in TASKS:
        s = noise["summary"][task]
        assert len(s["scores"]) == len(s["relative_drops"]) == 2
        assert s["severities"] == [10.0, 0.0]
        assert min(s["scores"]) <= s["auc"] <= max(s["scores"])
    assert abs(noise["cells"]["0"]["realised"]["snr_db"]) < 0.01  # the SNR actually reached
    assert (root / "out" / "summary.md").read_text().startswith("# essl robustness")
    for rel in on_disk["plots"]:
        assert (root / "out" / rel).stat().st_size > 0
    assert any(p.endswith("phone_probe_noise.png") for p in on_disk["plots"])
    assert any(p.endswith("stability_noise.svg") for p in on_disk["plots"])


def test_identity_condition_has_cka_one_and_reproduces_the_clean_scores(sweep):
    _, _, res = sweep
    cell = res["conditions"]["identity"]["cells"]["0"]
    for layer in cell["stability"]["layers"].values():
        assert layer["cka"] == pytest.approx(1.0, abs=1e-5)
        assert layer["cosine"] == pytest.approx(1.0, abs=1e-5)
    for task, h in res["headline"].items():
        assert res["conditions"]["identity"]["summary"][task]["scores"][0] == pytest.approx(
            h["clean"], rel=1e-5
        )


def test_stronger_noise_moves_features_further_from_clean(sweep):
    _, _, res = sweep
    cells = res["conditions"]["noise"]["cells"]
    for lid, mild in cells["10"]["stability"]["layers"].items():
        assert cells["0"]["stability"]["layers"][lid]["cka"] < mild["cka"] < 1.0


def test_speed_features_are_compared_after_resampling_to_the_clean_frame_count(sweep):
    _, _, res = sweep
    cell = res["conditions"]["speed"]["cells"]["1.25"]
    assert cell["realised"]["factor"] == 1.25
    assert all(0.0 < v["cka"] < 1.0 for v in cell["stability"]["layers"].values())
    x = torch.arange(10.0)[:, None].repeat(1, 3)
    y = _to_frames(x, 20)
    assert y.shape == (20, 3) and y[0, 0] == 0 and y[-1, 0] == 9
    assert _to_frames(x, 10) is x


def test_same_seed_gives_the_same_results_and_a_rerun_resumes_from_the_cache(sweep):
    manifest, root, res = sweep
    cfg = _cfg(conditions=("noise",), severities={"noise": (0.0,)}, plots=False)
    again = run_robustness("preset:tiny", manifest, root / "again", cfg, progress=False)
    cell, other = (
        res["conditions"]["noise"]["cells"]["0"],
        again["conditions"]["noise"]["cells"]["0"],
    )
    assert other["tasks"] == cell["tasks"] and other["stability"] == cell["stability"]
    cache = root / "again" / "cache" / "noise@0.json"
    stored = json.loads(cache.read_text())
    stored["cell"]["stability"]["frames"] = -1  # a resumed run reads the cell, not recomputes it
    cache.write_text(json.dumps(stored))
    resumed = run_robustness("preset:tiny", manifest, root / "again", cfg, progress=False)
    assert resumed["conditions"]["noise"]["cells"]["0"]["stability"]["frames"] == -1


def test_another_seed_draws_other_noise(sweep):
    manifest, root, res = sweep
    cfg = _cfg(seed=1, conditions=("noise",), severities={"noise": (0.0,)}, plots=False)
    other = run_robustness("preset:tiny", manifest, root / "seed1", cfg, progress=False)
    a = res["conditions"]["noise"]["cells"]["0"]["stability"]["layers"]["4"]["cka"]
    b = other["conditions"]["noise"]["cells"]["0"]["stability"]["layers"]["4"]["cka"]
    assert a != b


@pytest.mark.slow
def test_train_perturbed_trains_the_probe_on_a_clean_and_perturbed_mix(sweep):
    manifest, root, res = sweep
    cfg = _cfg(
        conditions=("noise",), severities={"noise": (0.0,)}, train_perturbed=True, plots=False
    )
    mixed = run_robustness("preset:tiny", manifest, root / "mixed", cfg, progress=False)
    assert mixed["config"]["train_perturbed"] is True
    a = mixed["conditions"]["noise"]["summary"]["phone_probe"]["scores"][0]
    b = res["conditions"]["noise"]["summary"]["phone_probe"]["scores"][1]
    assert math.isfinite(a) and a != b  # another probe: trained on other features


def test_config_and_cli_errors_name_the_item():
    with pytest.raises(ConfigError, match="unknown perturbation condition 'nosie'"):
        _cfg(conditions=("nosie",), severities={}).validate()
    with pytest.raises(ConfigError, match="severities.reverb"):
        _cfg(conditions=("noise",), severities={"reverb": (0.3,)}).validate()
    from essl.cli.robustness import _severities, register

    assert _severities(["noise=20,0", "reverb=0.3"]) == {"noise": (20.0, 0.0), "reverb": (0.3,)}
    with pytest.raises(ConfigError, match="COND=S1,S2"):
        _severities(["noise"])
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "robustness",
            "preset:tiny",
            "m.jsonl",
            "out",
            "--conditions",
            "noise",
            "--severities",
            "noise=5",
            "--train-perturbed",
        ]
    )
    assert args.train_perturbed and args.severities == ["noise=5"]
