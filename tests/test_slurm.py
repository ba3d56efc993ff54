"""The workflow on a real one-node SLURM (slurmctld + slurmd + munge on 127.0.0.1, fake GPUs).

Select alone with ``pytest -m slurm``. Skipped, with the reason, where the cluster cannot be
started: not root, SLURM not installed, or a real ``/etc/slurm/slurm.conf`` present.

One scenario, shared by the tests below: a reference run on the local executor; a SLURM run whose
training job is cancelled with ``scancel`` once it has written a checkpoint; a SLURM rerun that
finishes the study.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from regbench import cluster as slurm_profile
from tests import slurm_cluster
from tests.conftest import REPO, TINY, snakemake, snakemake_command

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
GPU_RULES = set(slurm_profile.GPU_RULES)


def _study(path: Path) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config |= {"models": ["cnn"], "baselines": ["identity"]}
    config["task_settings"]["tiny"]["training"].update(iterations=200, checkpoint_every=10)
    path.write_text(yaml.safe_dump(config))
    return path


def _test_profile(dest: Path) -> Path:
    """profiles/slurm with the test cluster's partition, squeue polling (no accounting), short waits."""
    settings = slurm_profile.profile(
        REPO / "profiles/slurm/config.yaml", partition="debug", status_command="squeue"
    )
    settings |= {
        "jobs": 4,
        "latency-wait": 5,
        "slurm-init-seconds-before-status-checks": 4,
        "slurm-keep-successful-logs": True,
    }
    settings["default-resources"]["mem_mb"] = 500
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(settings))
    return dest


def _start_snakemake(workdir: Path, configfile: Path, profile: Path) -> subprocess.Popen:
    # `--configfile tiny.yaml <configfile>`: the study's settings over the tiny ones
    cmd, env = snakemake_command(workdir, str(configfile), "--profile", str(profile))
    return subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    """Wait for Snakemake; on timeout interrupt it with SIGINT (it cancels its jobs; TERM would hang)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        raise AssertionError(f"snakemake on SLURM did not finish in {timeout} s:\n{out[-4000:]}") from None
    return out


def _submitted(output: str) -> dict[str, str]:
    """SLURM job ID → rule, from Snakemake's submission lines."""
    return {job: re.search(r"rule_([a-z_]+)/", log)[1] for job, log in SUBMITTED.findall(output)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_cluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    test_cluster = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm-lab"))
    try:
        test_cluster.start()
        yield test_cluster
    finally:
        test_cluster.stop()


@pytest.fixture(scope="module")
def scenario(cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm-study")
    study = _study(base / "study.yaml")
    local, remote = base / "local", base / "slurm"
    local.mkdir()
    remote.mkdir()
    started = time.monotonic()
    snakemake(local, "--configfile", str(TINY), str(study))
    # the limits follow this machine: the same study on the local executor, three times over
    # (slower under load), plus the scheduler's polling and submission for each of its jobs
    limit = 3 * (time.monotonic() - started) + 300
    profile = _test_profile(base / "profile")

    started = time.monotonic()
    first = _start_snakemake(remote, study, profile)
    checkpoint = remote / "results/tiny/train/cnn/seed0/checkpoint.pt"
    while not checkpoint.exists():
        assert first.poll() is None, f"snakemake ended before training checkpointed:\n{first.stdout.read()}"
        assert time.monotonic() - started < limit, f"no training checkpoint after {limit:.0f} s"
        time.sleep(0.2)
    running = [j for j, job in cluster.jobs().items() if "rule_train/" in job.get("StdOut", "")]
    subprocess.run(["scancel", *running], check=True, env=cluster.env)
    cancelled = _finish(first, limit)

    second = _start_snakemake(remote, study, profile)
    rerun = _finish(second, limit)
    return {
        "local": local,
        "remote": remote,
        "cancelled": (first.returncode, cancelled, running),
        "rerun": (second.returncode, rerun),
        "jobs": cluster.jobs(),
        "seconds": time.monotonic() - started,
    }


def test_cancelled_training_fails_with_its_log_path(scenario):
    returncode, output, cancelled = scenario["cancelled"]
    assert returncode != 0 and len(cancelled) == 1
    assert re.search(rf"SLURM-job '{cancelled[0]}' failed", output), output[-3000:]
    log = _submitted(output)
    assert log[cancelled[0]] == "train"
    assert f".snakemake/slurm_logs/rule_train/tiny_cnn_0/{cancelled[0]}.log" in output


def test_rerun_resumes_training_and_submits_only_what_is_missing(scenario):
    returncode, output = scenario["rerun"]
    assert returncode == 0, output[-3000:]
    first = _submitted(scenario["cancelled"][1])
    second = _submitted(output)
    assert "prepare_data" in first.values() and "prepare_data" not in second.values()
    assert sorted(second.values()).count("train") == 1 and "register_method" not in second.values()
    train_job = next(job for job, rule in second.items() if rule == "train")
    log = (scenario["remote"] / f".snakemake/slurm_logs/rule_train/tiny_cnn_0/{train_job}.log").read_text()
    assert re.search(r"resuming cnn from \S+checkpoint\.pt at iteration [1-9]\d*", log), log[-2000:]


def test_every_job_went_through_sbatch_and_only_learning_got_a_gpu(scenario):
    submitted = _submitted(scenario["cancelled"][1]) | _submitted(scenario["rerun"][1])
    jobs = scenario["jobs"]
    assert set(submitted) <= set(jobs)  # SLURM's own records of every submitted job
    rules = set(submitted.values())
    assert {"prepare_data", "register_method", "train", "register_model", "evaluate"} <= rules
    assert "aggregate" not in rules  # a local rule
    for job, rule in submitted.items():
        gpus = jobs[job].get("TresPerJob", "")
        assert ("gpu:1" in gpus) == (rule in GPU_RULES), (rule, gpus)
    train_job = next(job for job, rule in _submitted(scenario["rerun"][1]).items() if rule == "train")
    log = (scenario["remote"] / f".snakemake/slurm_logs/rule_train/tiny_cnn_0/{train_job}.log").read_text()
    assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log), "the training job saw no GPU from the scheduler"


def test_results_equal_the_local_executor(scenario):
    local, remote = scenario["local"] / "results/tiny", scenario["remote"] / "results/tiny"
    for name in ("identity.csv", "cnn-seed0.csv"):
        assert (local / "metrics" / name).read_bytes() == (remote / "metrics" / name).read_bytes(), name
    columns = lambda t: t[[c for c in t.columns if not c.startswith(("runtime", "peak_memory"))]]  # noqa: E731
    pd.testing.assert_frame_equal(
        columns(pd.read_csv(local / "tables/summary.csv")),
        columns(pd.read_csv(remote / "tables/summary.csv")),
    )
    print(f"SLURM scenario wall time: {scenario['seconds']:.0f} s")


def test_regenerating_tables_or_rerunning_a_subset_submits_no_training(scenario):
    profile = scenario["remote"].parent / "profile"
    study = scenario["remote"].parent / "study.yaml"
    for extra in (["--forcerun", "aggregate"], ["--config", "models=[cnn]", "seeds=[0]"]):
        done = snakemake(
            scenario["remote"], "-n", "--configfile", str(study), "--profile", str(profile), *extra
        )
        planned = set(re.findall(r"^(?:local)?rule (\w+):", done.stdout + done.stderr, re.M))
        tables = {"aggregate", "aggregate_study", "aggregate_stress", "aggregate_budget", "leaderboard"}
        tables.add("all")
        assert planned <= tables, (extra, planned)


def test_daemons_are_stopped_by_pid(cluster, scenario):
    pids = dict(cluster.pids)
    assert {"slurmctld", "slurmd"} <= set(pids)
    cluster.stop()
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name


#: every study config, and each overlay (config/overlays/<study>-<variant>.yaml) on its study
STUDIES = [[path] for path in sorted((REPO / "config").glob("*.yaml"))] + [
    [REPO / "config" / f"{path.stem.split('-')[0]}.yaml", path]
    for path in sorted((REPO / "config/overlays").glob("*.yaml"))
]


@pytest.mark.parametrize("study", STUDIES, ids=lambda files: "+".join(p.name for p in files))
def test_dry_run_with_the_slurm_profile_puts_gpus_on_exactly_the_learning_jobs(tmp_path, study):
    """No cluster needed: every study config's planned jobs and their resources under the SLURM
    profile, named as a user types it in the checkout (`--profile slurm`)."""
    args = ["-n", "--profile", "slurm", "--configfile", *map(str, study)]
    if not any("pairs_per_job" in yaml.safe_load(path.read_text()) for path in study):
        args += ["--config", "pairs_per_job=3"]
    cmd, env = snakemake_command(tmp_path, *args)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(
        r"^(?:local)?rule (\w+):\n((?:.*\n)*?)\s+resources: (.*)$", done.stdout + done.stderr, re.M
    )
    rules = {rule for rule, _, _ in jobs}
    assert {"train", "register_model", "register_method", "evaluate", "prepare_data"} <= rules
    # and the methods without training whose job asks for one (resources.<method>.gpu)
    asked = {}
    for path in study:
        for name, job in yaml.safe_load(path.read_text()).get("resources", {}).items():
            asked.setdefault(name, {}).update(job)
    for rule, block, resources in jobs:
        method = re.search(r"output: results/\S+/fields/([a-z0-9_]+)", block)
        gpu = rule in GPU_RULES or (rule == "register_method" and asked.get(method[1], {}).get("gpu", 0) > 0)
        assert ("gpu=1" in resources) == gpu, (rule, resources)
