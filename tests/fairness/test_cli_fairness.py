"""``essl fairness`` end to end on a tiny corpus with a random-init model."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from essl.cli import fairness as cli
from essl.evaluation.fairness import SCHEMA
from essl.testing import make_tiny_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """20 one-second utterances of 5 speakers: both sexes in every split."""
    return make_tiny_corpus(tmp_path / "corpus", num_utterances=20, num_speakers=5)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="essl")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fairness", *argv])
    return int(args.handler(args))


@pytest.mark.slow
def test_fairness_cli_writes_group_counterfactual_and_leakage_results(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fair"
    rc = _run(
        [
            "preset:tiny",
            str(corpus),
            str(out),
            "--attribute",
            "sex",
            "--task",
            "accent_probe",
            "--layers",
            "0,2,4",
            "--probe-steps",
            "20",
            "--bootstrap",
            "50",
            "--quiet",
        ]
    )
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == SCHEMA and res["task"] == "accent_probe"
    g = res["groups"]
    assert set(g["per_group"]) == {"female", "male"}
    assert g["gap"]["absolute"] == pytest.approx(
        abs(g["per_group"]["female"] - g["per_group"]["male"])
    )
    assert 0 <= g["demographic_parity_difference"] <= 1 and "equalized_odds_difference" in g
    assert "gap" in g["ci"]
    cf = res["counterfactual"]  # the tiny corpus has no twins: pitch-shifted copies of the test set
    assert (
        cf["source"].startswith("pitch shift")
        and cf["pairs"] == g["utterances"]["female"] + g["utterances"]["male"]
    )
    assert set(cf["representation"]) == {"0", "2", "4"} and 0 <= cf["flip_rate"] <= 1
    assert set(res["leakage"]) == {"sex", "accent"}
    assert set(res["leakage"]["sex"]["layers"]) == {"0", "2", "4"}
    assert "## Leakage" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_fairness_verification_reports_per_group_eer(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ver"
    assert (
        _run(
            [
                "preset:tiny",
                str(corpus),
                str(out),
                "--task",
                "verification",
                "--layers",
                "4",
                "--bootstrap",
                "20",
                "--no-leakage",
                "--no-counterfactual",
                "--quiet",
            ]
        )
        == 0
    )
    g = json.loads((out / "results.json").read_text())["groups"]
    assert g["metric"] == "eer" and set(g["per_group"]) == {"female", "male"}
    for v in g["per_group"].values():
        assert 0.0 <= v <= 1.0


def test_bad_attribute_or_task_is_a_user_error(corpus: Path, tmp_path: Path) -> None:
    from essl.errors import ConfigError

    with pytest.raises(ConfigError, match="task 'asr'"):
        _run(["preset:tiny", str(corpus), str(tmp_path), "--task", "asr"])


def test_cli_module_does_not_import_torch() -> None:
    code = "import sys, essl.cli.fairness; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )
