"""`regbench cost`: the DAG's schedule on hand-made jobs, and the command on a small study."""

import pytest
import yaml

from regbench import cli, cost
from tests.conftest import TINY


def _job(rule, seconds, deps=(), threads=1, gpu=0):
    return cost.Job(rule, {}, threads, {"gpu": str(gpu)}, [], [], seconds=seconds, deps=list(deps))


def test_the_schedule_follows_dependencies_and_capacity():
    # prepare (10) -> two trainings (100, 60) -> their registrations (5 each); a baseline (50) beside
    jobs = [
        _job("prepare", 10),
        _job("train", 100, [0], gpu=1),
        _job("train", 60, [0], gpu=1),
        _job("register", 5, [1], gpu=1),
        _job("register", 5, [2], gpu=1),
        _job("baseline", 50, [0]),
    ]
    # one GPU: the trainings in turn (10 + 100 + 60 + 5 + 5); the CPU job beside them
    assert cost.schedule(jobs, gpus=1, cores=None, device="cuda") == pytest.approx(180)
    # two GPUs: the longer branch decides (10 + 100 + 5)
    assert cost.schedule(jobs, gpus=2, cores=None, device="cuda") == pytest.approx(115)
    # on two CPU cores every job takes a core, longest ready first: the trainings at 10, the
    # baseline when the shorter ends (70 -> 120), the registrations after the longer (110, 115)
    assert cost.schedule(jobs, gpus=1, cores=2, device="cpu") == pytest.approx(120)
    assert cost.schedule(jobs, gpus=1, cores=1, device="cpu") == pytest.approx(230)


def test_the_command_measures_a_small_study_and_flags_memory(tmp_path, capsys):
    study = yaml.safe_load(TINY.read_text()) | {"models": ["cnn"], "baselines": ["identity", "demons"]}
    study["resources"]["train"]["mem_mb"] = 10  # no training fits in 10 MB: flagged
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    assert (
        cli.main(
            ["cost", "--configfile", str(tmp_path / "study.yaml"), "--iterations", "1", "--device", "cpu"]
        )
        == 0
    )
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("jobs=") and "device_hours=" in last and "wall_h_at_1=" in last
    jobs = int(last.split()[0].split("=")[1])
    assert jobs > 10 and "tiny" in out and "train" in out and "register_method" in out
    assert "EXCEEDS: train" in out and "raise resources.train.mem_mb" in out
