"""`regbench doctor`: each check's OK and FAIL paths, arranged on this machine (CPU, no SLURM)."""

import sys

import pytest
import yaml

from regbench import cli, doctor, registry


def _status(checks, name):
    return next(c for c in checks if c.name == name).status


def test_python_ok_and_too_old(monkeypatch):
    assert doctor.python_check().status == doctor.OK
    monkeypatch.setattr(sys, "version_info", (3, 9, 18))
    assert doctor.python_check().status == doctor.FAIL


def test_mamba_kernels_fail_only_where_a_gpu_study_trains_mamba(monkeypatch):
    import torch

    monkeypatch.setattr(doctor, "_installed", lambda module: module not in ("mamba_ssm", "causal_conv1d"))
    mamba = {"models": ["cnn", "Mam-VXM"], "task_settings": {}}
    assert doctor.mamba_check({"models": ["cnn"]}).status == doctor.OK
    assert doctor.mamba_check(mamba).status == doctor.WARN  # no GPU here: the CPU scan runs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    failed = doctor.mamba_check(mamba)
    assert failed.status == doctor.FAIL and "pip install mamba-ssm" in failed.advice


def test_a_missing_baseline_package_fails_where_the_study_uses_it(monkeypatch):
    checks = doctor.baseline_checks({"baselines": ["identity", "fireants"]})
    assert _status(checks, "fireants") == doctor.OK
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda module: module != "fireants" and real(module))
    assert _status(doctor.baseline_checks({"baselines": ["identity", "fireants"]}), "fireants") == doctor.FAIL
    assert _status(doctor.baseline_checks({"baselines": ["identity"]}), "fireants") == doctor.WARN


def test_data_root_writable_with_room_or_not(tmp_path, monkeypatch):
    study = {"data_root": str(tmp_path / "data"), "task_settings": {"t": {"data": {"source": "acdc"}}}}
    assert doctor.data_check(study).status == doctor.OK and not (tmp_path / "data").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert doctor.data_check({"data_root": str(blocked / "data")}).status == doctor.FAIL
    # ACDC's 2.5 GB archive (and as much extracted) against 1 MB free
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: type("U", (), {"free": 2**20})())
    assert doctor.data_check(study).status == doctor.FAIL


def test_a_broken_plugin_fails(monkeypatch):
    assert all(c.status == doctor.OK for c in doctor.plugin_checks())
    monkeypatch.setitem(
        registry.BROKEN, "bad", "plugin bad (entry point 'bad'): cannot be imported (SystemExit: 3)"
    )
    assert any(c.status == doctor.FAIL and "SystemExit" in c.detail for c in doctor.plugin_checks())


def test_slurm_profile_filled_unfilled_missing_and_the_plugin(tmp_path, monkeypatch):
    profile = tmp_path / "config.yaml"
    profile.write_text(
        yaml.safe_dump(
            {"executor": "slurm", "default-resources": {"slurm_partition": "gpu", "slurm_account": "lab"}}
        )
    )
    assert _status(doctor.slurm_checks(profile), "SLURM profile") == doctor.OK
    profile.write_text(yaml.safe_dump({"executor": "slurm", "default-resources": {"mem_mb": 4000}}))
    assert _status(doctor.slurm_checks(profile), "SLURM profile") == doctor.WARN
    assert _status(doctor.slurm_checks(tmp_path / "none.yaml"), "SLURM profile") == doctor.FAIL
    monkeypatch.setattr(doctor, "_installed", lambda module: module != "snakemake_executor_plugin_slurm")
    assert _status(doctor.slurm_checks(profile), "SLURM executor plugin") == doctor.FAIL


@pytest.mark.parametrize("fails", [False, True])
def test_the_command_prints_every_check_and_exits_non_zero_on_a_fail(fails, tmp_path, monkeypatch, capsys):
    study = tmp_path / "study.yaml"
    data_root = (tmp_path / "blocked" / "data") if fails else (tmp_path / "data")
    if fails:
        (tmp_path / "blocked").write_text("")
    study.write_text(yaml.safe_dump({"models": ["cnn"], "data_root": str(data_root), "task_settings": {}}))
    code = cli.main(["doctor", "--configfile", str(study)])
    out = capsys.readouterr().out
    assert code == int(fails) and "Python" in out and "data_root" in out and "SLURM profile" in out
    assert ("1 FAIL" in out) == fails
