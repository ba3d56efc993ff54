"""The whole DAG through Snakemake on the tiny study: tables, determinism, config errors, lint."""

import filecmp
import glob
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY, snakemake

pytestmark = pytest.mark.integration


#: the tiny study of ``runs`` has an external method too: ``zeros``, zero fields in the Learn2Reg
#: layout under <run>/submission/ (this overlay, merged over the tiny config, names it; the last
#: --configfile option is the one Snakemake reads, so it names both files)
EXTERNAL = ("--configfile", str(TINY), "external.yaml")


def zero_fields(folder, manifest_path):
    """A submission of zero fields for every pair of a prepared manifest (Learn2Reg layout)."""
    import json

    import numpy as np

    data = json.loads(manifest_path.read_text())
    folder.mkdir(exist_ok=True)
    for pair in data["pairs"]:
        zeros = np.zeros((*data["shape"], data["dims"]), np.float32)
        np.savez(folder / f"disp_{pair['fixed']}_{pair['moving']}.npz", disp=zeros)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import yaml

    first, second = tmp_path_factory.mktemp("run1"), tmp_path_factory.mktemp("run2")
    overlay = {"task_settings": {"tiny": {"external": {"zeros": {"folder": "submission"}}}}}
    for run in (first, second):
        (run / "external.yaml").write_text(yaml.safe_dump(overlay))
        snakemake(run, "results/tiny/data/manifest.json", *EXTERNAL)  # the pairs the fields are for
        zero_fields(run / "submission", run / "results/tiny/data/manifest.json")
        snakemake(run, *EXTERNAL)
    return first, second


def test_tables_have_every_method_and_learning_beats_identity(runs):
    table = pd.read_csv(runs[0] / "results/tiny/tables/summary.csv").set_index("method")
    # demons and rescnn: the example plugin's method and backbone, beside the built-ins;
    # unigradicon is listed too, and left out: it registers 3D images and this task is 2D
    baselines = ["identity", "ants", "elastix", "convexadam", "fireants", "demons"]
    assert list(table.index) == [*baselines, "zeros", "cnn", "rescnn", "cnn-DWP"]
    # the external method: its own row group, scored as the identity (zero fields) on the same pairs
    assert table.loc["zeros", "group"] == "External methods"
    assert table.loc["zeros", "dice_mean"] == table.loc["identity", "dice_mean"]
    assert table["pairs"].eq(4).all()
    assert table["dice_mean"].between(0, 1).all() and (table["hd95_mean"] >= 0).all()
    for method in ("ants", "elastix", "convexadam", "fireants", "demons", "cnn", "cnn-DWP", "rescnn"):
        assert table.loc[method, "dice_mean"] > table.loc["identity", "dice_mean"]
        assert table.loc[method, "epe_mm_mean"] < table.loc["identity", "epe_mm_mean"]
    assert table.loc["identity", "nonpositive_jacobian_pct_mean"] == 0 and table["ndv_pct_mean"].notna().all()
    assert (
        table["ssim_mean"].between(0, 1).all()
        and table["peak_memory_mb_mean"].drop(["identity", "zeros"]).gt(0).all()
        and np.isnan(table.loc["zeros", "runtime_s_mean"])  # made elsewhere: not measured here
    )
    assert table.loc["cnn", "ssim_mean"] > table.loc["identity", "ssim_mean"]
    markdown = (runs[0] / "results/tiny/tables/summary.md").read_text()
    groups = ["*Reference*", "*External methods*", "*Baseline*", "*Trend-driven backbones*"]
    groups.append("*Registration-specific designs*")
    assert [line.split(" |")[0][2:] for line in markdown.splitlines() if line.startswith("| *")] == groups
    assert "| cnn-DWP (DWP) | 4 × 1 |" in markdown
    latex = (runs[0] / "results/tiny/tables/summary.tex").read_text()
    assert latex.count(r"\toprule") == 1 and r"cnn-DWP (DWP) & 4 $\times$ 1" in latex
    for figure in ("metrics", "heatmap", "cost", "qualitative"):
        for suffix in (".png", ".pdf"):
            assert (runs[0] / "results/tiny/figures" / (figure + suffix)).stat().st_size > 10_000
    study = pd.read_csv(runs[0] / "results/study/disentangling.csv")
    assert set(study["factor"]) == {"design", "backbone"} and set(study["task"]) == {"tiny"}
    # training curves: the val split's 2 pairs registered at the start, every 50 iterations and at the end
    dice = {}
    for model in ("cnn", "rescnn", "cnn-DWP"):
        validation = pd.read_csv(runs[0] / f"results/tiny/train/{model}/seed0/val_log.csv")
        assert list(validation["iteration"]) == [0, 50, 100, 150] and validation["pairs"].eq(2).all()
        assert validation["similarity"].notna().all()
        dice[model] = validation["dice"]
    assert all(d.between(0, 1).all() for d in dice.values()) and dice["cnn"].iloc[-1] > dice["cnn"].iloc[0]
    assert (runs[0] / "results/tiny/figures/training.png").stat().st_size > 10_000
    # budget curves: each network at its snapshot (75 iterations) and at the end (150), one seed
    curves = pd.read_csv(runs[0] / "results/tiny/budget/curves.csv")
    assert sorted(set(curves["method"])) == ["cnn", "cnn-DWP", "rescnn"]
    assert set(curves["iteration"]) == {75, 150} and curves["seeds"].eq(1).all()
    final = curves[curves["iteration"] == 150].set_index("method")["mean"]
    assert final["cnn"] == pytest.approx(table.loc["cnn", "dice_mean"])  # the final model is the 150 point
    effects = pd.read_csv(runs[0] / "results/tiny/budget/effects.csv")
    assert set(effects["iteration"]) == {75, 150} and set(effects["factor"]) == {"backbone", "design"}
    assert (runs[0] / "results/tiny/budget/curves.png").stat().st_size > 10_000
    assert "75" in (runs[0] / "results/tiny/budget/summary.md").read_text()


def test_the_results_page_sorts_filters_and_links_in_a_real_browser(runs, tmp_path):
    """The tiny study's page in headless Chromium: every method in the overall table in the
    ranking's order, a click on a header sorts, unticking a family hides its rows, the links lead
    to files that exist and the figures load; the screenshot stays in the test's folder."""
    from tests.browser import Browser, executable

    if executable() is None:
        pytest.skip("no Chromium: apt-get install chromium-headless-shell (.ci/run installs it)")
    results = runs[0] / "results"
    board = pd.read_csv(results / "study/leaderboard.csv")
    browser = Browser(tmp_path / "profile")
    rows = "Array.from(document.querySelectorAll('table')[0].tBodies[0].rows)"
    try:
        browser.open((results / "leaderboard.html").as_uri())
        names = browser.evaluate(f"{rows}.map(r => r.cells[0].firstChild.textContent)")
        assert names == list(board["method"]) and "zeros" in names and "cnn@75" not in names
        browser.click("table th:nth-child(3)")  # rank score, ascending
        scores = browser.evaluate(f"{rows}.map(r => parseFloat(r.cells[2].dataset.value))")
        assert scores == sorted(scores) and scores != list(board["rank_score"])
        browser.click("table th:nth-child(3)")  # descending
        assert (
            browser.evaluate(f"{rows}.map(r => parseFloat(r.cells[2].dataset.value))") == sorted(scores)[::-1]
        )
        browser.click("input.family[value=external]")
        hidden = browser.evaluate(
            "Array.from(document.querySelectorAll('tr.hidden')).map(r => r.cells[0].firstChild.textContent)"
        )
        assert set(hidden) == {"zeros"}
        links = set(
            browser.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
        )
        assert links and all((results / link).exists() for link in links)
        images = browser.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 100)")
        assert len(images) >= 2 and all(images)  # the disentangling and the budget curves
        assert browser.screenshot(tmp_path / "leaderboard.png").stat().st_size > 20_000
    finally:
        browser.close()


def test_stress_and_evaluation_sets_are_registered_by_the_task_models_and_summarised(tmp_path):
    import yaml

    config = yaml.safe_load(TINY.read_text()) | {"models": ["cnn"], "baselines": ["identity", "ants"]}
    task = config["task_settings"]["tiny"]
    task["stress"]["modes"] = ["translation", "svf"]
    task["evaluation"]["protocol"] = "learn2reg"  # the challenges' metrics, end to end
    # a further evaluation set: other subjects with larger deformations, scored by the same models
    larger = task["data"] | {"subjects": 4, "test_pairs": 3, "deformation": {"velocity_std_mm": 9}}
    task["evaluation_sets"] = {"larger": larger}
    (tmp_path / "stress.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--configfile", str(tmp_path / "stress.yaml"))
    sets = pd.read_csv(tmp_path / "results/tiny/eval/larger/tables/summary.csv").set_index("method")
    assert list(sets.index) == ["identity", "ants", "cnn"] and sets["pairs"].eq(3).all()
    own = pd.read_csv(tmp_path / "results/tiny/tables/summary.csv").set_index("method")
    assert sets.loc["identity", "dice_mean"] < own.loc["identity", "dice_mean"]  # larger deformations
    assert "hd95_voxels_mean" in own and "hd95_mean" not in own and own["sdlogj_mean"].notna().all()
    assert "HD95 (voxels)" in (tmp_path / "results/tiny/tables/summary.md").read_text()
    assert not (tmp_path / "results/tiny/eval/larger/train").exists()
    summary = pd.read_csv(tmp_path / "results/tiny/stress/summary.csv")
    assert sorted(summary["mode"].unique()) == ["svf", "translation"]
    assert sorted(summary["method"].unique()) == ["ants", "cnn", "identity"]
    assert {"0 mm", "6 mm", "8 mm", "breakdown_mm"} <= set(summary.columns)
    svf = pd.read_csv(tmp_path / "results/tiny/stress/svf/metrics/identity.csv")
    epe = svf[svf["metric"] == "epe_p95_mm"].set_index("pair_id")["value"]
    # the identity's error is the applied field itself: 0 at 0 mm, the calibrated p95 at 6 mm
    assert epe["pair-000@0mm"] == 0 and epe["pair-000@6mm"] == pytest.approx(6.0, rel=0.1)
    assert (tmp_path / "results/tiny/stress/curves.png").stat().st_size > 10_000
    assert not (tmp_path / "results/tiny/stress/svf/train").exists()  # the task's models are reused


def test_pairs_are_scored_by_id_for_every_method(runs):
    rows = pd.read_csv(runs[0] / "results/tiny/tables/per_pair.csv")
    assert rows.groupby("method")["pair_id"].apply(sorted).map(tuple).nunique() == 1


def test_same_config_and_seed_give_identical_metric_files(runs):
    first, second = (run / "results/tiny/metrics" for run in runs)
    names = sorted(p.name for p in first.iterdir())
    learned = ["cnn-DWP-seed0.csv", "cnn-seed0.csv", "rescnn-seed0.csv"]
    learned += ["cnn-DWP@75-seed0.csv", "cnn@75-seed0.csv", "rescnn@75-seed0.csv"]  # snapshots
    baselines = ["ants-seed0.csv", "elastix-seed0.csv", "convexadam.csv", "fireants.csv", "demons.csv"]
    baselines += ["identity.csv", "zeros.csv"]
    assert names == sorted([*baselines, *learned])
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == []


def test_pairs_per_job_splits_registration_and_evaluation_without_changing_results(runs):
    """Rerun the second study with jobs of at most 3 of its 4 pairs: trained models are reused,
    every method is registered and scored in two jobs, and the rows are the same. Splitting is
    the same code for every method without training: two of them (one seeded) stand for all."""
    done = snakemake(runs[1], *EXTERNAL, "--config", "pairs_per_job=3", "baselines=[identity,ants]")
    assert "rule train:" not in done.stdout + done.stderr
    metrics = runs[1] / "results/tiny/metrics"
    methods = ("identity", "ants-seed0", "zeros", "cnn-seed0", "cnn-DWP-seed0", "rescnn-seed0")
    for method in methods:
        parts = [pd.read_csv(metrics / f"{method}.part{k}of2.csv") for k in (1, 2)]
        assert [part["pair_id"].nunique() for part in parts] == [2, 2]
        together = pd.concat(parts, ignore_index=True)
        pd.testing.assert_frame_equal(together, pd.read_csv(runs[0] / f"results/tiny/metrics/{method}.csv"))
    table = pd.read_csv(runs[1] / "results/tiny/tables/summary.csv")
    assert table["pairs"].eq(4).all() and len(table) == len(methods)


def test_fields_are_temporary(runs):
    assert not list((runs[0] / "results/tiny/fields").glob("*.npz"))


def test_training_killed_under_snakemake_resumes_with_its_whole_log_and_is_rescored(tmp_path):
    """kill -9 of a ``--forcerun train`` run after a checkpoint: the previous model must still be
    there (it is what the existing metrics came from), and the next plain run must resume the
    training from the checkpoint (not report nothing to do), score again and leave a log with
    every iteration once, though Snakemake deletes the log before each run."""
    import os
    import signal
    import subprocess
    import time

    import yaml

    from tests.conftest import snakemake_command

    config = yaml.safe_load(TINY.read_text()) | {"models": ["cnn"], "baselines": ["identity"]}
    config["task_settings"]["tiny"]["training"] |= {"iterations": 200, "checkpoint_every": 20}
    (tmp_path / "kill.yaml").write_text(yaml.safe_dump(config))
    args = ("results/tiny/metrics/cnn-seed0.csv", "--configfile", str(tmp_path / "kill.yaml"))
    run = tmp_path / "results/tiny/train/cnn/seed0"
    snakemake(tmp_path, *args)
    first_metrics = (tmp_path / "results/tiny/metrics/cnn-seed0.csv").stat().st_mtime

    cmd, env = snakemake_command(tmp_path, "--cores", "1", "--forcerun", "train", *args)
    job = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not (run / "checkpoint.pt").exists() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert (run / "checkpoint.pt").exists() and (run / "model.pt").exists()
    # the kept model keeps its whole training log (the rerun's grows beside it)
    assert list(pd.read_csv(run / "train_log.csv")["iteration"]) == list(range(1, 201))

    snakemake(tmp_path, "--unlock", *args)
    again = snakemake(tmp_path, *args)
    assert "resuming cnn from" in again.stdout + again.stderr
    assert (tmp_path / "results/tiny/metrics/cnn-seed0.csv").stat().st_mtime > first_metrics
    log = pd.read_csv(run / "train_log.csv")
    assert list(log["iteration"]) == list(range(1, 201))
    assert not (run / "checkpoint.pt").exists()
    # the tiny study's snapshot (75), kept after the resume, belongs to the resumed run
    from regbench import snapshots

    snapshots.load(run / "model.pt", "cpu", 75)


def test_unknown_config_key_is_named(tmp_path):
    done = snakemake(tmp_path, "-n", "--config", "iterations=5", check=False)
    assert done.returncode != 0 and "iterations" in done.stdout + done.stderr


def test_unbuildable_model_is_rejected_with_reason(tmp_path):
    done = snakemake(tmp_path, "-n", "--config", "models=[cnn-WP]", check=False)
    assert done.returncode != 0
    assert "config key 'models'" in done.stdout + done.stderr and "needs 'D'" in done.stdout + done.stderr


def test_lint_is_clean(tmp_path):
    done = snakemake(tmp_path, "--lint", check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_preset_trains_and_is_scored_through_the_pipeline(tmp_path):
    import yaml

    from regbench.names import PRESETS

    config = yaml.safe_load(TINY.read_text())
    config["task_settings"]["tiny"]["training"].update(iterations=3, checkpoint_every=2, snapshots=[])
    config["task_settings"]["tiny"]["data"]["shape"] = [64, 64]  # Swin models need multiples of 32
    config |= {"models": "all", "baselines": ["identity"]}
    configfile = tmp_path / "all.yaml"
    configfile.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--configfile", str(configfile))
    table = pd.read_csv(tmp_path / "results/tiny/tables/summary.csv")
    assert sorted(table["method"]) == sorted(["identity", *PRESETS])
    assert table["dice_mean"].notna().all() and table["pairs"].eq(4).all()
    groups = table.groupby("group", sort=False)["method"].apply(list).to_dict()
    assert groups["Trend-driven backbones"] == ["mamba", "swin", "mambatm", "lk", "less"]
    assert groups["Registration-specific designs"] == ["cnn-D", "cnn-DWP", "cnn-DWCP", "cnn-DWCPI", "vfa"]
    study = pd.read_csv(tmp_path / "results/study/disentangling.csv")
    # against cnn: 5 backbones alone; swin with D, DWP, DWCP, DWCPI; less with DWP, DWCP, DWCPI
    assert study.set_index(["metric", "factor"]).loc[("dice", "backbone"), "contrasts"] == 5 + 4 + 3


def planned_jobs(output: str) -> dict[str, int]:
    """Rule → job count from a Snakemake run's "Job stats" table."""
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    jobs = {}
    for line in lines:
        name, _, count = line.partition(" ")
        if name == "total" or not count.strip().isdigit():
            break
        jobs[name] = int(count)
    return jobs


def test_two_runs_of_disjoint_methods_merge_into_the_tables_of_one_run(runs, tmp_path):
    """Two results folders, each with half of the methods of the tiny study (as two labs' runs on
    the same pairs), merge and rebuild from cache into the tables and ranking of the whole run; a
    run with other pairs is refused, naming why."""
    from regbench import cli
    from regbench.merge import PER_METHOD

    results = runs[0] / "results/tiny"
    jobs = sorted(p.stem for p in (results / "metrics").glob("*.csv"))
    for k, half in enumerate((jobs[::2], jobs[1::2])):
        folder = tmp_path / f"lab{k}/results/tiny"
        shutil.copytree(results / "data", folder / "data")
        for kind in PER_METHOD:
            (folder / kind).mkdir()
            for job in half:
                shutil.copy(next((results / kind).glob(f"{glob.escape(job)}.*")), folder / kind)
    merged = tmp_path / "merged"
    assert cli.main(["merge", str(tmp_path / "lab0"), str(tmp_path / "lab1"), "--out", str(merged)]) == 0
    snakemake(merged, "--config", "from_cache=true")
    for table in ("tables/summary.csv", "tables/comparison.csv"):
        whole, joined = (pd.read_csv(run / "results/tiny" / table) for run in (runs[0], merged))
        keys = ["method", "metric"] if "metric" in whole else ["method"]
        pd.testing.assert_frame_equal(
            joined.sort_values(keys, ignore_index=True), whole.sort_values(keys, ignore_index=True)
        )
    board = pd.read_csv(merged / "results/study/leaderboard.csv")
    pd.testing.assert_frame_equal(board, pd.read_csv(runs[0] / "results/study/leaderboard.csv"))
    # another run's pairs: refused with the reason
    other = tmp_path / "other/results/tiny"
    shutil.copytree(results / "data", other / "data")
    manifest = json.loads((other / "data/manifest.json").read_text())
    manifest["pairs"][0]["moving"] = manifest["pairs"][1]["moving"]
    (other / "data/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"tiny: .* are not the same study: the manifests' pairs differ"):
        from regbench.merge import merge

        merge([tmp_path / "lab0", tmp_path / "other"], tmp_path / "refused")


def test_tables_rebuild_from_cached_results_without_upstream_jobs(runs, tmp_path):
    """Deleting the tables reschedules only the aggregate jobs, in the same checkout and in a fresh
    folder that holds nothing but the metric, timing, preview and data files (new mtimes, no
    checkpoints, no Snakemake metadata) with ``from_cache=true``."""
    before = pd.read_csv(runs[0] / "results/tiny/tables/summary.csv")
    aggregates = {"aggregate": 1, "aggregate_budget": 1, "aggregate_study": 1, "leaderboard": 1, "all": 1}
    shutil.rmtree(runs[0] / "results/tiny/tables")
    shutil.rmtree(runs[0] / "results/study")
    shutil.rmtree(runs[0] / "results/tiny/budget")
    dry = snakemake(runs[0], "-n", *EXTERNAL)
    assert planned_jobs(dry.stdout + dry.stderr) == aggregates
    shutil.copytree(
        runs[0] / "results/tiny",
        tmp_path / "results/tiny",
        ignore=shutil.ignore_patterns("train", "fields", "logs", "benchmarks", "summary.*", "curves.*"),
        copy_function=shutil.copy,  # new mtimes, in no particular order
    )
    shutil.copy(runs[0] / "external.yaml", tmp_path)
    done = snakemake(tmp_path, *EXTERNAL, "--config", "from_cache=true")
    assert planned_jobs(done.stdout + done.stderr) == aggregates
    after = pd.read_csv(tmp_path / "results/tiny/tables/summary.csv")
    pd.testing.assert_frame_equal(before, after)
    assert (tmp_path / "results/study/disentangling.md").exists()
    assert not (tmp_path / "results/tiny/train").exists()


def test_replacing_an_external_methods_files_rescores_exactly_that_method(runs):
    """The folder's files are inputs of the import: a new field for one pair reimports and rescores
    the external method, and nothing else is rerun but the tables."""
    import numpy as np

    folder = runs[0] / "submission"
    replaced = sorted(folder.iterdir())[0]
    np.savez(replaced, disp=np.ones_like(np.load(replaced)["disp"]))
    dry = snakemake(runs[0], "-n", *EXTERNAL)
    jobs = planned_jobs(dry.stdout + dry.stderr)
    assert jobs == {"import_external_fields": 1, "evaluate": 1, "aggregate": 1, "aggregate_study": 1} | {
        "aggregate_budget": 1,  # it reads the task's per-pair table
        "leaderboard": 1,
        "all": 1,
    }
    snakemake(runs[0], *EXTERNAL)
    table = pd.read_csv(runs[0] / "results/tiny/tables/summary.csv").set_index("method")
    assert table.loc["zeros", "epe_mm_mean"] != table.loc["identity", "epe_mm_mean"]


def test_changing_the_snapshot_list_retrains_nothing(runs, tmp_path):
    """Snapshots are no training setting: another list plans registration and scoring only, and
    an iteration the runs did not keep is named when its registration runs, with what to do."""
    import yaml

    overlay = yaml.safe_load((runs[1] / "external.yaml").read_text())
    overlay["task_settings"]["tiny"]["training"] = {"snapshots": [50, 75]}
    (runs[1] / "snapshots.yaml").write_text(yaml.safe_dump(overlay))
    args = ("--configfile", str(TINY), "snapshots.yaml")
    dry = snakemake(runs[1], "-n", *args)
    jobs = planned_jobs(dry.stdout + dry.stderr)
    assert "train" not in jobs and jobs["register_model"] == 3 and jobs["aggregate_budget"] == 1
    done = snakemake(runs[1], "results/tiny/metrics/cnn@50-seed0.csv", *args, check=False)
    assert done.returncode != 0
    log = (runs[1] / "results/tiny/logs/register/cnn@50-seed0.log").read_text()
    assert "did not keep iteration 50 (kept: [75])" in log and "--forcerun train" in log
