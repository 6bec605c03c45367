"""Evaluation during pretraining: eval.jsonl rows, isolation from the training trajectory,
truncation on resume, and the efficiency curve it feeds."""

import json
import shutil

import pytest

from essl.cli.main import main
from essl.errors import ConfigError
from essl.metering.efficiency import read_curve
from essl.testing.manifests import make_tiny_corpus
from essl.training.periodic_eval import PeriodicEvalConfig, best_scores

EVAL = ["--set", "evaluation.every=2", "--set", "evaluation.tasks=[abx,phone_probe]"]
EVAL += ["--set", "evaluation.probe_steps=5", "--set", "evaluation.max_utterances=16"]


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_periodic_eval_logs_scores_without_changing_the_training_losses(tiny_corpus, tmp_path, kit):
    plain, evald = tmp_path / "plain", tmp_path / "eval"
    # a longer 2-speaker corpus, so that within-speaker ABX has triphone pairs to score
    dev = make_tiny_corpus(tmp_path / "dev", num_utterances=16, num_speakers=2, seconds=2.0)
    common = ("--max-steps", "5", "--set", "train.checkpoint_every=2")
    assert main(kit.cli_args("wav2vec2-tiny", plain, tiny_corpus, *common)) == 0
    with_eval = (*common, *EVAL, "--set", f"evaluation.manifest={dev}")
    assert main(kit.cli_args("wav2vec2-tiny", evald, tiny_corpus, *with_eval)) == 0
    assert kit.losses(evald) == kit.losses(plain)  # forked RNG: same masks, same updates
    assert not (plain / "eval.jsonl").exists()
    rows = _rows(evald / "eval.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4, 5]  # before training, every 2, the last
    for r in rows:
        within = [v for k, v in r.items() if k.startswith("abx_within/L") and v is not None]
        assert within and r["abx_within/best"] == min(within)
        assert 0.0 <= r["abx_within/best"] <= 1.0
        assert 0.0 <= r["phone_probe/best_layer"] <= 1.0
        assert r["eval_seconds"] > 0
    curve = read_curve(evald, "abx_within/best", "flops")
    assert len(curve.x) == 4 and curve.x[0] == 0.0 and (curve.x[1:] > curve.x[:-1]).all()


def test_resume_drops_evaluations_after_the_checkpoint(tiny_corpus, tmp_path, kit):
    run = tmp_path / "run"
    args = ("--max-steps", "4", "--set", "train.checkpoint_every=2", *EVAL)
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, *args)) == 0
    with (run / "eval.jsonl").open("a") as f:  # as if killed after evaluating step 6
        f.write(json.dumps({"step": 6, "abx_within/best": 0.5}) + "\n")
    more = ("--max-steps", "6", "--set", "train.checkpoint_every=2", *EVAL)
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, *more)) == 0
    assert [r["step"] for r in _rows(run / "eval.jsonl")] == [0, 2, 4, 6]
    assert "abx_within/L0" in _rows(run / "eval.jsonl")[-1]
    shutil.rmtree(run / "checkpoints")  # as if killed before its first checkpoint
    assert main(kit.cli_args("wav2vec2-tiny", run, tiny_corpus, *args)) == 0  # from scratch
    assert [r["step"] for r in _rows(run / "eval.jsonl")] == [0, 2, 4]  # step 0 not doubled


def test_best_scores_takes_the_lowest_abx_error_over_layers():
    res = {
        "tasks": {
            "abx": {
                "layers": {
                    "0": {"within": 0.3, "across": 0.4},
                    "1": {"within": 0.2, "across": 0.45},
                }
            }
        }
    }
    assert best_scores(res) == {"abx_within/best": 0.2, "abx_across/best": 0.4}
    nan = {"tasks": {"abx": {"layers": {"0": {"within": float("nan"), "across": 0.1}}}}}
    assert best_scores(nan) == {"abx_across/best": 0.1}
    assert best_scores({"tasks": {"rankme": {"layers": {"0": 3.0}}}}) == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": -1}, "evaluation.every"),
        ({"every": 5, "tasks": ("abx", "wer")}, "unknown task 'wer'"),
        ({"every": 5, "tasks": ()}, "evaluation.tasks: empty"),
        ({"max_utterances": 1}, "max_utterances"),
    ],
)
def test_bad_evaluation_settings_name_the_key(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PeriodicEvalConfig(**kwargs).validate()
