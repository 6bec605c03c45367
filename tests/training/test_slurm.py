"""SLURM submission, checked with submitit's own mocked ``sbatch`` (no cluster needed)."""

import os
import shutil

import pytest

from essl.training.config import resolved_dict
from essl.training.presets import load_config
from essl.training.slurm import SlurmConfig, SlurmTraining, submit

test_core = pytest.importorskip("submitit.core.test_core")


def test_sbatch_script_asks_one_task_per_gpu_on_every_node(tiny_corpus, tmp_path):
    cfg = load_config("wav2vec2-base")
    slurm = SlurmConfig(
        nodes=8,
        gpus_per_node=8,
        partition="gpu",
        time_min=4320,
        cpus_per_task=10,
        mem_gb=480,
        account="speech",
        constraint="a100",
    )
    mock = test_core.MockedSubprocess(known_cmds=["srun"])
    with mock.context():
        job = submit(cfg, tmp_path / "run", tiny_corpus, slurm, argv=["essl", "pretrain"])
        script = job.paths.submission_file.read_text()
    lines = set(script.splitlines())
    for expected in (
        "#SBATCH --nodes=8",
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=4320",
        "#SBATCH --cpus-per-task=10",
        "#SBATCH --mem=480GB",
        "#SBATCH --account=speech",
        "#SBATCH --constraint=a100",
        "#SBATCH --job-name=essl-pretrain",
    ):
        assert expected in lines, expected
    assert any(line.startswith("srun") for line in lines)
    assert str(tmp_path / "run" / "slurm") in script  # logs next to the run


def test_each_slurm_task_gets_its_ddp_environment(monkeypatch, tmp_path):
    import essl.training.trainer as trainer

    seen = {}

    def fake_pretrain(cfg, run_dir, manifest, **kw):
        seen.update(
            {
                k: os.environ[k]
                for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
            }
        )
        seen["max_steps"] = cfg.train.max_steps
        return trainer.TrainResult(run_dir=tmp_path, start_step=0, step=3)

    monkeypatch.setattr(trainer, "pretrain", fake_pretrain)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(k, "unset")  # the task overwrites them; monkeypatch restores them
    env = {
        "SUBMITIT_EXECUTOR": "slurm",
        "SLURM_JOB_ID": "4242",
        "SLURM_NTASKS": "16",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "11",
        "SLURM_LOCALID": "3",
        "SLURM_JOB_NODELIST": "gpu[017-018]",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    task = SlurmTraining(resolved_dict(load_config("wav2vec2-tiny")), str(tmp_path), "m.jsonl", [])
    assert task() == 3
    assert seen == {
        "RANK": "11",
        "WORLD_SIZE": "16",
        "LOCAL_RANK": "3",
        "MASTER_ADDR": "gpu017",
        "MASTER_PORT": str(20000 + 4242),
        "max_steps": 200,
    }
    assert isinstance(task.checkpoint().function, SlurmTraining)  # requeued on preemption


def test_slurm_submission_without_slurm_says_so(tiny_corpus, tmp_path, capsys):
    from essl.cli.main import main
    from essl.errors import EXIT_USER_ERROR

    if shutil.which("srun"):
        pytest.skip("this machine has SLURM")
    args = [
        "pretrain",
        "wav2vec2-tiny",
        str(tmp_path / "run"),
        "--manifest",
        str(tiny_corpus),
        "--slurm",
    ]
    assert main(args) == EXIT_USER_ERROR
    assert "--slurm" in capsys.readouterr().err
