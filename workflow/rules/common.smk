# Config validation, the model / method lists and the target lists.
import json
import os
import re
import shlex
import sys

from snakemake.utils import validate

# The checkout's regbench comes first, in this process and in every job (local or SLURM),
# whichever environment runs the rules.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from regbench import config as regbench_config
from regbench import registry
from regbench.layout import field_files


regbench_config.coerce_command_line(config)
validate(config, schema="../schemas/config.schema.yaml")
try:
    regbench_config.check(config)
except regbench_config.ConfigError as err:
    raise WorkflowError(str(err)) from None

MODELS = regbench_config.models(config)
#: the study's methods that register without training, by name (their registry records)
REGISTERED = {name: registry.method(name) for name in config["baselines"]}
#: every task's external methods (fields made elsewhere), by name
EXTERNAL = {n for task in config["tasks"] for n in regbench_config.external_methods(config, task)}
DATA_ROOT = config["data_root"]
STUDY = regbench_config.STUDY_FOLDER
SEEDS = [str(s) for s in config["seeds"]]
ENV = "../../envs/regbench.yaml"


wildcard_constraints:
    # a task, one of its stressed sets (results/<task>/stress/<mode>/) or of its further
    # evaluation sets (results/<task>/eval/<name>/)
    task=r"[A-Za-z0-9_]+(/stress/(translation|svf)|/eval/[A-Za-z0-9_]+)?",
    name=r"[A-Za-z0-9_]+",
    model="|".join(map(re.escape, MODELS)),
    seed=r"\d+",
    mode=r"translation|svf",
    method=r"[A-Za-z0-9_.@-]+",
    part=r"(\.part\d+of\d+)?",
    # a model's snapshot: cnn-DWP@100 is cnn-DWP after 100 iterations of its training run
    at=r"(@\d+)?",
    # the λ of one run of a λ grid (training.lambda_grid)
    lam=r"[0-9][0-9.e+-]*",


BASE_TASK = r"[A-Za-z0-9_]+"  # wildcard constraint of rules that only a task itself has
#: the tasks whose models train at every λ of a grid (training.lambda_grid) and keep one
GRID_TASKS = [task for task in config["tasks"] if regbench_config.lambda_grid(config, task)]
#: wildcard constraints of a task whose models train once (train) or once per λ (train_lambda)
ONE_LAMBDA_TASK = "".join(f"(?!{task}(?![A-Za-z0-9_]))" for task in GRID_TASKS) + BASE_TASK
GRID_TASK = "|".join(GRID_TASKS) or "(?!)"


def task_settings(task, section):
    """A section of the settings of a task (or of a stressed set's task)."""
    return config["task_settings"][regbench_config.base_task(task)][section]


def settings_json(task, section):
    """A task's settings section as JSON for the command line (and a rerun trigger)."""
    return json.dumps(task_settings(task, section), sort_keys=True)


def training_json(task, model, lam=None):
    """A model's training settings on a task as JSON (its ``per_model`` entry applied; ``lam``:
    the λ of a λ grid's run)."""
    value = None if lam is None else float(lam)
    return json.dumps(regbench_config.training_settings(config, task, model, value), sort_keys=True)


def snapshot_option(task):
    """``--snapshots 100 200`` where a task's training runs keep snapshots, else ''."""
    kept = regbench_config.snapshots(config, task)
    return f"--snapshots {' '.join(map(str, kept))}" if kept else ""


def snapshot_methods(task):
    """A task's snapshot methods (``cnn@100-seed0``, ...): scored on the task's own test pairs."""
    if task != base_task(task):
        return []
    if config["from_cache"]:
        return cached_methods(task, snapshots=True)
    kept = regbench_config.snapshots(config, task)
    return [f"{regbench_config.snapshot_method(m, n)}-seed{s}" for m in MODELS for n in kept for s in SEEDS]


def cached_jobs(task):
    """The registration/evaluation job names whose metric files a set has (cached results)."""
    return [path.stem for path in sorted(Path(f"results/{task}/metrics").glob("*.csv"))]


def cached_methods(task, snapshots=False, configured=()):
    """The methods of a set's metric files (from cached results, e.g. merged runs): the configured
    ones first, in their order, then the others; snapshots (``@``) or the rest."""
    found = dict.fromkeys(job.split(".part")[0] for job in cached_jobs(task))
    found = [m for m in found if ("@" in m) == snapshots]
    return [m for m in configured if m in found] + [m for m in found if m not in configured]


def data_json(name):
    """The data settings of a task or evaluation set as JSON for the command line."""
    return json.dumps(regbench_config.data_settings(config, name), sort_keys=True)


def aggregate_settings(task):
    """A task's analysis settings as JSON: the study's, its primary metric, the swin window."""
    settings = dict(
        config["analysis"],
        primary_metric=task_settings(task, "evaluation")["primary_metric"],
        swin_window=task_settings(task, "training").get("swin_window"),
    )
    return json.dumps(settings, sort_keys=True)


def lambda_selections(task):
    """The λ selections of a task's models (none without a λ grid)."""
    base = base_task(task)
    return [f"results/{base}/train/{m}/lambda.json" for m in MODELS] if base in GRID_TASKS else []


def budget_settings(task):
    """A task's budget analysis settings as JSON: the study's, its primary metric, its iterations."""
    settings = dict(
        config["analysis"],
        primary_metric=task_settings(task, "evaluation")["primary_metric"],
        iterations=task_settings(task, "training")["iterations"],
    )
    return json.dumps(settings, sort_keys=True)


def stress_settings(task):
    """The stress analysis settings of a task as JSON."""
    return json.dumps(
        dict(
            primary_metric=task_settings(task, "evaluation")["primary_metric"],
            breakdown_fraction=task_settings(task, "stress")["breakdown_fraction"],
        )
    )


def dataset_stamp(name):
    """The completeness stamp of the dataset a task or evaluation set is prepared from ([] for the demo)."""
    source = regbench_config.data_settings(config, name)["source"]
    return [] if source == "demo" else [f"{DATA_ROOT}/{source}/regbench-verified.json"]


def dataset_override(dataset):
    """``--url ... --sha256 ...`` where a task or evaluation set replaces the registry's archive."""
    for task in config["tasks"]:
        for data in (regbench_config.data_settings(config, n) for n in [task, *evaluation_sets(task)]):
            if data["source"] != dataset or "url" not in data:
                continue
            check = f"--sha256 {data['sha256']}" if "sha256" in data else f"--md5 {data['md5']}"
            return f"--url {shlex.quote(data['url'])} {check}"
    return ""


def methods(task):
    """Every method name scored on a task (or set): the baselines (once per seed where
    seeded; those that register the task's dimension), the task's external methods, then each
    model × seed."""
    names = []
    dims = regbench_config.data_settings(config, task)["dims"]
    for name, record in REGISTERED.items():
        if dims in record.dims:
            names += [f"{name}-seed{s}" for s in SEEDS] if record.seeded else [name]
    names += regbench_config.external_methods(config, task)
    names += [f"{m}-seed{s}" for m in MODELS for s in SEEDS]
    # cached results (from_cache) are whatever the metric files hold, e.g. of merged runs
    return cached_methods(task, configured=names) if config["from_cache"] else names


def method_resources(name):
    """A method's job size: ``resources.<name>``, else the evaluation job's."""
    return config["resources"].get(name, config["resources"]["evaluate"])


def parts(task, method):
    """A method's registration/evaluation jobs (``pairs_per_job``): ``cnn-seed0`` or
    ``cnn-seed0.part1of3``, ``cnn-seed0.part2of3``, ... (from cached results: the files present)."""
    if config["from_cache"]:  # the whole method's file where there is one, else its parts
        jobs = [job for job in cached_jobs(task) if job.split(".part")[0] == method]
        return [method] if method in jobs else jobs
    return regbench_config.parts(config, task, method)


def evaluated(task, names=None):
    """The registration/evaluation jobs of a task's methods (default: every method of its tables)."""
    return [part for method in (names or methods(task)) for part in parts(task, method)]


def method_name(method):
    """The method of a name such as ``cnn-seed0.part1of3`` (``cnn``)."""
    return method.split(".part")[0].rsplit("-seed", 1)[0]


def seed_option(method):
    """``--seed N`` for a seeded method name, '' for identity."""
    seed = re.search(r"-seed(\d+)", method)
    return f"--seed {seed[1]}" if seed else ""


def part_option(part):
    """``--part K/N`` for a wildcard such as ``.part1of3``, '' for the whole set."""
    match = re.fullmatch(r"\.part(\d+)of(\d+)", part)
    return f"--part {match[1]}/{match[2]}" if match else ""


def temp_unless_kept(path):
    """Displacement fields are large: removed once scored unless ``keep_fields`` is set."""
    return path if config["keep_fields"] else temp(path)


def figure(name):
    """A task's figure ``name``.png in the report, with the caption ``report/<name>.rst``."""
    return report(
        f"results/{{task}}/figures/{name}.png",
        caption=f"../report/{name}.rst",
        category="Figures",
        subcategory="{task}",
    )


def base_task(task):
    return regbench_config.base_task(task)


def stress_sets(task):
    return regbench_config.stress_sets(config, task)


def evaluation_sets(task):
    return regbench_config.evaluation_sets(config, task)


def scored_sets():
    """Every task and further evaluation set: each gets its tables and enters the study analysis."""
    return [name for task in config["tasks"] for name in [task, *evaluation_sets(task)]]


def page_figures():
    """The figures the results page embeds: the disentangling, stress and budget curves."""
    stressed = [f"results/{task}/stress/curves.png" for task in config["tasks"] if stress_sets(task)]
    budgets = [f"results/{task}/budget/curves.png" for task in config["tasks"] if snapshot_methods(task)]
    return [f"results/{STUDY}/disentangling.png", *stressed, *budgets]


def all_targets():
    stressed = [task for task in config["tasks"] if stress_sets(task)]
    # the training curves come from the training logs, which a run from cached metrics lacks
    trained = [] if config["from_cache"] or not MODELS else config["tasks"]
    return (
        expand("results/{task}/tables/summary.md", task=scored_sets())
        + [f"results/{STUDY}/disentangling.md", f"results/{STUDY}/leaderboard.md", "results/leaderboard.html"]
        + expand("results/{task}/stress/summary.md", task=stressed)
        + expand("results/{task}/figures/training.png", task=trained)
        + [f"results/{task}/budget/summary.md" for task in config["tasks"] if snapshot_methods(task)]
    )
