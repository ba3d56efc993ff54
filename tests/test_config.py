import collections
import re
import subprocess
import sys

import pytest
import yaml

from regbench import config as study
from regbench.names import PRESETS, parse
from tests.conftest import REPO, TINY


def _config(**changes):
    return yaml.safe_load(TINY.read_text()) | changes


def test_model_lists_resolve_aliases_and_drop_duplicates():
    assert study.models(_config(models=["VXM", "cnn", "TM-DWCP"])) == ["cnn", "swin-DWCP"]


def test_all_is_the_paper_presets_and_grid_the_factorial_grid():
    assert study.models(_config(models="all")) == list(PRESETS)
    grid = study.models(_config(models="grid"))
    built_in = [name for name in grid if parse(name).record.plugin is None]  # plugins add their cells
    assert len(built_in) == 36 and set(PRESETS) <= set(grid)


def test_backbones_times_designs():
    models = study.models(_config(models={"backbones": ["lk", "less"], "designs": ["", "D", "DWCPI"]}))
    assert models == ["lk", "lk-D", "lk-DWCPI", "less", "less-DWCPI"]  # less-D is less


def test_unknown_backbone_in_a_grid_is_named():
    with pytest.raises(study.ConfigError, match="models.backbones.*'vit'"):
        study.models(_config(models={"backbones": ["vit"], "designs": [""]}))


def test_shape_must_suit_every_model():
    config = _config(models=["cnn", "swin"])  # tiny is 48 × 64: fine for cnn, not for swin
    with pytest.raises(study.ConfigError, match=r"model 'swin' needs sizes divisible by 32"):
        study.check(config)
    config["task_settings"]["tiny"]["data"]["shape"] = [64, 64]
    study.check(config)


def test_swin_window_needs_one_entry_per_dimension():
    config = _config(models=["cnn"])
    config["task_settings"]["tiny"]["training"]["swin_window"] = [5, 6, 7]
    with pytest.raises(study.ConfigError, match="swin_window': \\[5, 6, 7\\] needs 2 entries"):
        study.check(config)


def test_planning_imports_no_torch():
    """The Snakefile imports regbench.config in every planning process: it must stay light."""
    code = "import sys, regbench.config; print([m for m in ('torch', 'monai', 'scipy') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_slurm_profile_is_filled_in_and_installed(tmp_path):
    from regbench import cluster

    template = REPO / "profiles/slurm/config.yaml"
    path = cluster.install(template, tmp_path / "slurm", partition="gpu", account="lab", gpu_model="a100")
    settings = yaml.safe_load(path.read_text())
    assert settings["executor"] == "slurm" and settings["slurm-requeue"] is True
    assert settings["default-resources"]["slurm_partition"] == "gpu"
    assert settings["default-resources"]["slurm_account"] == "lab"
    assert settings["set-resources"] == {r: {"gpu_model": "a100"} for r in ("train", "register_model")}
    assert cluster.profile(template, status_command="squeue")["slurm-status-command"] == "squeue"
    with pytest.raises(ValueError, match="'sacct' or 'squeue'"):
        cluster.profile(template, status_command="qstat")
    with pytest.raises(ValueError, match="not a SLURM profile"):
        cluster.profile(REPO / "profiles/default/profile.yaml")


def test_pairs_per_job_names_the_parts():
    config = _config(pairs_per_job=3)  # tiny: 4 test pairs
    assert study.parts(config, "tiny", "ants-seed0") == ["ants-seed0.part1of2", "ants-seed0.part2of2"]
    assert study.parts(config, "tiny", "identity") == ["identity.part1of2", "identity.part2of2"]
    assert study.parts(_config(pairs_per_job=0), "tiny", "cnn-seed0") == ["cnn-seed0"]
    assert study.parts(_config(pairs_per_job=4), "tiny", "cnn-seed0") == ["cnn-seed0"]


def test_parts_cover_every_pair_once_in_order():
    from regbench.data.manifest import part_of

    pairs = list(range(10))
    for n in (1, 3, 4, 10):
        chunks = [part_of(pairs, (k, n)) for k in range(1, n + 1)]
        assert sum(chunks, []) == pairs and max(map(len, chunks)) - min(map(len, chunks)) <= 1
    with pytest.raises(ValueError, match="part 4/3"):
        part_of(pairs, (4, 3))


def test_seeds_and_switches_from_the_command_line_get_their_types():
    config = _config(seeds=["0", "2"], from_cache="true", keep_fields="False")  # as `--config` gives
    study.coerce_command_line(config)
    assert config["seeds"] == [0, 2] and config["from_cache"] is True and config["keep_fields"] is False


def test_stressed_sets_are_named_counted_and_checked():
    config = _config(pairs_per_job=3)
    assert study.stress_sets(config, "tiny") == []
    config["task_settings"]["tiny"]["stress"]["modes"] = ["translation", "svf"]
    assert study.stress_sets(config, "tiny") == ["tiny/stress/translation", "tiny/stress/svf"]
    assert study.base_task("tiny/stress/svf") == "tiny"
    assert study.pair_count(config, "tiny") == 4 and study.pair_count(config, "tiny/stress/svf") == 2 * 2
    assert study.parts(config, "tiny/stress/svf", "cnn-seed0") == ["cnn-seed0.part1of2", "cnn-seed0.part2of2"]
    config["task_settings"]["tiny"]["stress"]["cases"] = 5
    with pytest.raises(study.ConfigError, match="stress.cases': 5 cases need as many test pairs"):
        study.check(config)


def test_the_primary_hd95_must_be_the_protocols():
    config = _config()
    evaluation = config["task_settings"]["tiny"]["evaluation"]
    evaluation |= {"protocol": "learn2reg", "primary_metric": "hd95"}
    with pytest.raises(study.ConfigError, match="learn2reg protocol measures HD95 as 'hd95_voxels'"):
        study.check(config)
    evaluation["primary_metric"] = "hd95_voxels"
    study.check(config)


def test_a_shape_leaving_one_voxel_at_the_coarsest_level_is_refused():
    config = _config(models=["cnn"], baselines=["identity"])
    config["task_settings"]["tiny"]["data"] |= {"dims": 3, "shape": [16, 16, 16]}
    with pytest.raises(study.ConfigError, match=r"leaves model 'cnn' a single voxel .*at least 32"):
        study.check(config)
    config["task_settings"]["tiny"]["data"]["shape"] = [16, 16, 32]
    study.check(config)


def test_the_baseline_must_be_among_the_methods():
    with pytest.raises(study.ConfigError, match="analysis.baseline': 'cnn' is not among the study's models"):
        study.check(_config(models=["cnn-DWP"]))
    study.check(_config(models=["cnn-DWP"], analysis={"baseline": "ants"}))


def test_task_names_are_folder_and_wildcard_safe():
    from jsonschema import ValidationError, validate

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    config = _config()
    config["task_settings"]["my-task"] = config["task_settings"].pop("tiny")
    with pytest.raises(ValidationError, match="my-task"):
        validate(config, schema)
    with pytest.raises(ValidationError, match="my-task"):
        validate(_config(tasks=["my-task"]), schema)


def test_a_replacement_data_url_needs_a_checksum():
    config = _config()
    config["task_settings"]["tiny"]["data"]["url"] = "https://mirror.example.org/Task04_Hippocampus.tar"
    with pytest.raises(study.ConfigError, match="url': a replacement URL needs its sha256 or md5"):
        study.check(config)
    config["task_settings"]["tiny"]["data"]["md5"] = "0" * 32
    study.check(config)


def test_paper_study_plans_every_task_model_and_evaluation_set(tmp_path):
    from regbench import registry
    from tests.conftest import snakemake

    done = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config/paper.yaml"))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout, re.M))
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    sets = [n for s in paper["task_settings"].values() for n in s.get("evaluation_sets", {})]
    sources = {s["data"]["source"] for s in paper["task_settings"].values()}
    sources |= {
        d["source"] for s in paper["task_settings"].values() for d in s.get("evaluation_sets", {}).values()
    }
    assert int(counts["train"]) == len(PRESETS) * len(paper["tasks"]) == 19 * 5
    assert int(counts["prepare_evaluation_set"]) == len(sets) == 7
    assert int(counts["aggregate"]) == len(paper["tasks"]) + len(sets)
    assert int(counts["fetch_dataset"]) == len(sources) == 12
    # every baseline registers every (part of every) set that the models register: tasks,
    # evaluation and stress sets, except the sets of a dimension it does not register
    # (uniGradICON: 3D only; the paper's cardiac task is 2D)
    baselines = paper["baselines"]
    assert len(paper["seeds"]) == 1
    assert {"identity", "ants", "elastix", "convexadam", "fireants", "unigradicon"} <= set(baselines)
    field = r"output: results/(\S+)/fields/([a-z0-9_]+)(?:-seed\d+)?(?:\.part\d+of\d+)?\.npz"
    jobs = collections.Counter(re.findall(field, done.stdout))
    cnn_jobs = {folder: n for (folder, method), n in jobs.items() if method == "cnn"}
    scored = len(paper["tasks"]) + len(sets) + int(counts["prepare_stress"])
    assert len(cnn_jobs) == scored
    for folder, n in cnn_jobs.items():
        task = folder.split("/")[0]
        dims = paper["task_settings"][task]["data"]["dims"]
        for name in baselines:
            expected = n if dims in registry.method(name).dims else 0
            assert jobs[folder, name] == expected, (folder, name)
    unigradicon = [jobs[folder, "unigradicon"] for folder in cnn_jobs]
    assert 0 in unigradicon and max(unigradicon) > 0


def test_evaluation_sets_must_share_the_task_grid():
    config = _config(models=["cnn"])
    data = config["task_settings"]["tiny"]["data"]
    config["task_settings"]["tiny"]["evaluation_sets"] = {"other": data | {"shape": [64, 64]}}
    with pytest.raises(
        study.ConfigError, match=r"evaluation_sets\.other': dims and shape must be the task's"
    ):
        study.check(config)
    config["task_settings"]["tiny"]["evaluation_sets"] = {"other": data | {"source": "oasis"}}
    with pytest.raises(study.ConfigError, match=r"evaluation_sets\.other': source 'oasis' needs spacing"):
        study.check(config)
    config["task_settings"]["tiny"]["data"] = data | {"source": "mnms", "spacing": [1, 1]}
    with pytest.raises(study.ConfigError, match="'mnms' has no training data; use it as an evaluation set"):
        study.check(config)


def test_sources_come_from_the_dataset_registry_and_an_unknown_one_is_named():
    from regbench.data.registry import sources

    assert sources()["oasis"].evaluation_only and sources()["hippocampus"].split
    config = _config()
    config["task_settings"]["tiny"]["data"]["source"] = "nosuch"
    with pytest.raises(
        study.ConfigError, match=r"tiny.data.source': unknown source 'nosuch' \(available: demo, "
    ):
        study.check(config)
    config["task_settings"]["tiny"]["data"]["source"] = "oasis"
    with pytest.raises(study.ConfigError, match="'oasis' has no training data"):
        study.check(config)


def test_per_model_training_settings_apply_to_that_model_only():
    config = _config(models=["cnn", "cnn-DWCPI"])
    training = config["task_settings"]["tiny"]["training"]
    training["per_model"] = {"DWCPI": {"pyramid_iterations": [1, 2, 1, 1]}}  # a paper alias
    study.check(config)
    assert study.training_settings(config, "tiny", "cnn-DWCPI")["pyramid_iterations"] == [1, 2, 1, 1]
    assert "pyramid_iterations" not in study.training_settings(config, "tiny", "cnn")
    assert "per_model" not in study.training_settings(config, "tiny", "cnn")
    assert study.training_settings(config, "tiny/stress/svf", "DWCPI")["pyramid_iterations"] == [1, 2, 1, 1]
    training["per_model"] = {"vit-DWCPI": {"pyramid_iterations": [1, 1, 1, 1]}}
    with pytest.raises(study.ConfigError, match="training.per_model.vit-DWCPI"):
        study.check(config)


def test_models_lists_a_tasks_parameter_counts_and_architecture():
    done = subprocess.run(
        [sys.executable, "-m", "regbench", "models", "--task", "abdomen_ctct"],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    table = done.stdout.split("\nbackbones:")[0].splitlines()[2:]
    rows = {line.split()[0]: line for line in table if line.strip()}
    assert "46,510,035" in rows["swin"] and "window 5×4×5" in rows["swin"]
    cardiac = subprocess.run(
        [sys.executable, "-m", "regbench", "models", "--task", "cardiac"],
        capture_output=True, text=True, check=True, cwd=REPO,
    ).stdout  # fmt: skip
    assert re.search(r"cnn-DWCPI +DWCPI +553,656 +iterations 1-2-1-1", cardiac)
    assert re.search(r"swin-DWCPI .* window 8×8, iterations 1-1-2-2", cardiac)
    missing = subprocess.run(
        [sys.executable, "-m", "regbench", "models", "--task", "liver"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert missing.returncode != 0 and "no task 'liver'" in missing.stderr


@pytest.mark.parametrize(
    "section, values, message",
    [
        (
            "methods.demons",
            {"iterations": "fifty"},
            r"methods\.demons\.iterations': 'fifty' is not of type 'integer'",
        ),
        (
            "methods.demons",
            {"iteration": 5},
            r"methods\.demons': Additional properties .*'iteration' was unexpected",
        ),
        (
            "methods.demons",
            {"iterations": -5},
            r"methods\.demons\.iterations': -5 is less than the minimum of 1",
        ),
        ("methods.demonz", {}, r"methods\.demonz': no registered method 'demonz'"),
        ("ants", {"type_of_transform": "Bogus"}, r"ants\.type_of_transform': 'Bogus' is not one of"),
        (
            "elastix",
            {"grid_spacing_mm": 0.01},
            r"elastix': grid_spacing_mm 0\.01: finer than the task's voxels",
        ),
        ("convexadam", {"search_radius": 40}, r"convexadam': search_radius 40: .* reach only the padding"),
        ("convexadam", {"grid_spacing": 5}, r"convexadam': grid_spacing 5: it and 2 must divide"),
        ("fireants", {"iterations": [5, 5]}, r"fireants': scales \[4, 2, 1\] and iterations \[5, 5\]"),
    ],
)
def test_method_settings_are_checked_at_start_naming_task_method_and_key(section, values, message):
    config = _config(models=["cnn"])
    *parents, name = section.split(".")
    target = config["task_settings"]["tiny"]
    for parent in parents:
        target = target[parent]
    target[name] = values
    with pytest.raises(study.ConfigError, match=rf"config key 'task_settings\.tiny\.{message}"):
        study.check(config)


def test_method_defaults_are_filled_in_and_grid_limits_use_the_memory_of_the_job():
    config = _config(models=["cnn"])
    study.check(config)
    settings = config["task_settings"]["tiny"]
    assert settings["methods"]["demons"] == {"iterations": 50, "sigma": 1.5, "max_step": 1.0}
    assert settings["convexadam"]["search_radius"] == 3 and settings["ants"]["type_of_transform"] == "SyNOnly"
    # the hippocampus grid: radius 6 needs about 1.2 GB (18,432 cells of 2), fine in 4 GB, not in 1 GB;
    # elastix at 1 mm about 4 GB (measured 4.0), at 2 mm 1.5 GB
    config = _config(models=["cnn"], baselines=["convexadam", "elastix"])
    config["task_settings"]["tiny"]["data"] |= {"dims": 3, "shape": [48, 64, 48], "spacing": [1, 1, 1]}
    config["task_settings"]["tiny"] |= {"convexadam": {"search_radius": 6}, "elastix": {"grid_spacing_mm": 2}}
    study.check(config)
    config["resources"]["convexadam"] = {"mem_mb": 1000}
    with pytest.raises(
        study.ConfigError, match=r"search_radius 6 .* needs about 1\.\d GB .*resources\.convexadam"
    ):
        study.check(config)
    config["resources"] |= {"convexadam": {"mem_mb": 2000}, "elastix": {"mem_mb": 3000}}
    config["task_settings"]["tiny"]["elastix"]["grid_spacing_mm"] = 1
    with pytest.raises(
        study.ConfigError, match=r"grid_spacing_mm 1 \(174,267 control points\) needs about 4\.\d GB"
    ):
        study.check(config)
    # FireANTs' smallest grid, on a grid FireANTs cannot register
    config = _config(models=["cnn"], baselines=["fireants"])
    config["task_settings"]["tiny"]["data"]["shape"] = [48, 16]
    with pytest.raises(study.ConfigError, match=r"fireants': needs at least 32 voxels .* 48×16"):
        study.check(config)
