"""End to end: audit a random tiny model, compare runs and run the demo on a tiny budget;
the pages render in headless Chromium without console messages."""

import json

import pytest

from essl.data.synth import SynthConfig, build_corpus
from essl.reports.audit import AuditConfig, run_audit
from essl.reports.demo import DemoConfig, run_demo
from essl.testing.browser import screenshot


@pytest.fixture(scope="module")
def twin_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "c"
    return build_corpus(
        SynthConfig(minutes=1.0, speakers=6, counterfactual_pairs=True), out, progress=False
    )


def _renders(page, tmp_path):
    png = tmp_path / f"{page.parent.name}.png"
    console = screenshot(page, png)
    assert console == [] and png.stat().st_size > 20_000  # a real page, not a blank one


@pytest.mark.slow
def test_audit_writes_every_part_and_a_page_that_renders(twin_corpus, tmp_path):
    cfg = AuditConfig(
        tasks=("rankme", "phone_probe", "sex_probe"),
        conditions=("noise",),
        severities={"noise": (20.0, 0.0)},
        max_utterances=22,
        probe_steps=20,
        bootstrap=50,
        profile_seconds=(1.0,),
    )
    res = run_audit("preset:tiny", tmp_path / "audit", twin_corpus, cfg)
    saved = json.loads((tmp_path / "audit" / "results.json").read_text())
    assert saved["schema"] == "essl.audit/1" and set(saved["timings"]) >= {
        "cost",
        "knowledge",
        "robustness",
        "fairness",
    }
    assert res["cost"]["profile"]["encoder_params"] > 0 and res["cost"]["training"] is None
    assert "phone_probe" in res["knowledge"]["tasks"]
    assert set(res["robustness"]["conditions"]) == {"noise"}
    head = res["fairness"]["headline"]
    assert 0 <= head["accuracy"] <= 1 and head["gap"] >= 0
    _renders(tmp_path / "audit" / "report.html", tmp_path)


@pytest.mark.slow
def test_demo_on_a_tiny_budget_trains_audits_compares_and_resumes(tmp_path, capsys):
    cfg = DemoConfig(
        minutes=1.0,
        speakers=6,
        steps=4,
        eval_every=2,
        eval_utterances=12,
        audit_utterances=22,
        probe_steps=10,
        conditions=("noise",),
        severities={"noise": (10.0,)},
        bootstrap=20,
    )
    out = tmp_path / "demo"
    summary = run_demo(out, cfg)
    assert set(summary["runs"]) == {"random-span", "phone-segments"}
    for run in summary["runs"].values():
        assert run["steps"] == 4 and run["training_flops"] > 0 and run["audio_seen_s"] > 0
    masks = [
        json.loads(line)["mask_fraction"]
        for line in (out / "runs" / "phone-segments" / "metrics.jsonl").read_text().splitlines()
    ]
    assert all(0.2 < m < 0.8 for m in masks)  # segment masks at the random-span fraction
    evals = (out / "runs" / "random-span" / "eval.jsonl").read_text().splitlines()
    assert [json.loads(e)["step"] for e in evals] == [0, 2, 4]
    assert json.loads((out / "compare" / "compare.json").read_text())["metric"] == (
        "phone_probe/best_layer"
    )
    assert (out / "compare" / "compare.json").is_file()
    _renders(out / "report.html", tmp_path)
    _renders(out / "compare" / "report.html", tmp_path)
    again = run_demo(out, cfg)  # everything done: resumes without redoing work
    assert again["runs"] == summary["runs"]
    assert again["timings_s"]["pretrain"] < summary["timings_s"]["pretrain"]
