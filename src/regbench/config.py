"""Study-config checks that a JSON schema cannot express (run after schema validation).

Every error names the config key at fault and says why.
"""

from __future__ import annotations

from regbench.models import PRESETS, canonical
from regbench.models.zoo import BACKBONES, divisor, grid

#: results/<STUDY_FOLDER>/ holds the study-wide analysis, so no task may have this name
STUDY_FOLDER = "study"
#: a stressed evaluation set of a task is named ``<task><STRESS><mode>``
STRESS = "/stress/"


class ConfigError(ValueError):
    pass


#: top-level keys that are booleans, which ``--config key=true`` gives as the string 'true'
BOOLEAN_KEYS = ("keep_fields", "from_cache")


def coerce_command_line(config: dict) -> None:
    """Snakemake reads ``--config seeds='[0,1]' from_cache=true`` with YAML's base loader, as
    strings: make the seeds integers and the switches booleans again (before schema validation)."""
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.isdigit() else s for s in seeds]
    for key in BOOLEAN_KEYS:
        value = config.get(key)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            config[key] = value.lower() == "true"


def models(config: dict) -> list[str]:
    """The canonical names of the configured models.

    ``all`` means the paper's presets, ``grid`` every well-defined backbone × design-set cell, and
    ``{backbones: [...], designs: [...]}`` the cells of that product.
    """
    names = config["models"]
    if names == "all":
        names = PRESETS
    elif names == "grid":
        names = grid()
    elif isinstance(names, dict):
        unknown = sorted(set(names["backbones"]) - set(BACKBONES))
        if unknown:
            raise ConfigError(
                f"config key 'models.backbones': unknown {unknown} (available: {list(BACKBONES)})"
            )
        names = grid(names["backbones"], names["designs"])
        if not names:
            raise ConfigError("config key 'models': no well-defined model in backbones × designs")
    resolved = []
    for name in names:
        try:
            resolved.append(canonical(name))
        except ValueError as err:
            raise ConfigError(f"config key 'models': {err}") from None
    return list(dict.fromkeys(resolved))


def check(config: dict) -> None:
    """Raise :class:`ConfigError` for settings that would fail later in the pipeline."""
    divisors = {name: divisor(name) for name in models(config)}
    for task in config["tasks"]:
        if task not in config["task_settings"]:
            raise ConfigError(
                f"config key 'tasks': task {task!r} has no entry under 'task_settings' "
                f"(defined: {', '.join(config['task_settings'])})"
            )
        if task == STUDY_FOLDER:
            raise ConfigError(f"config key 'tasks': {task!r} is reserved for the study-wide results folder")
    for task, settings in config["task_settings"].items():
        data = settings["data"]
        where = f"config key 'task_settings.{task}.data"
        if len(data["shape"]) != data["dims"]:
            raise ConfigError(f"{where}.shape': {data['shape']} needs {data['dims']} entries (dims)")
        for name, multiple in divisors.items():
            if any(n % multiple for n in data["shape"]):
                raise ConfigError(
                    f"{where}.shape': model {name!r} needs every size divisible by {multiple}, "
                    f"got {data['shape']}"
                )
        if "url" in data and not ("sha256" in data or "md5" in data):
            raise ConfigError(f"{where}.url': a replacement URL needs its sha256 or md5")
        window = settings["training"].get("swin_window")
        if window is not None and len(window) != data["dims"]:
            raise ConfigError(
                f"config key 'task_settings.{task}.training.swin_window': {window} needs {data['dims']} "
                "entries (dims)"
            )
        stress = settings["stress"]
        if stress["modes"] and stress["cases"] > pair_count(config, task):
            raise ConfigError(
                f"config key 'task_settings.{task}.stress.cases': {stress['cases']} cases need as many "
                f"test pairs, the task has {data['test_pairs']}"
            )
        split = data["split"]
        if split["train"] < 2 or split["train"] + split["val"] + 2 > data["subjects"]:
            raise ConfigError(
                f"{where}.split': train={split['train']}, val={split['val']} of {data['subjects']} "
                "subjects must leave at least 2 training and 2 test subjects"
            )


def stress_set(task: str, mode: str) -> str:
    """The name of a task's stressed evaluation set: its results live in ``results/<name>/``."""
    return f"{task}{STRESS}{mode}"


def base_task(name: str) -> str:
    """The task of a task or stressed-set name (``demo/stress/svf`` → ``demo``)."""
    return name.split(STRESS)[0]


def stress_sets(config: dict, task: str) -> list[str]:
    return [stress_set(task, mode) for mode in config["task_settings"][task]["stress"]["modes"]]


def pair_count(config: dict, name: str) -> int:
    """The number of evaluation pairs of a task or stressed set (known before preparation)."""
    settings = config["task_settings"][base_task(name)]
    if STRESS in name:
        stress = settings["stress"]
        return stress["cases"] * len(stress[f"{name.split(STRESS)[1]}_mm"])
    data = settings["data"]
    if data["source"] in ("demo", "hippocampus"):
        return data["test_pairs"]
    raise ConfigError(f"data source {data['source']!r}: number of evaluation pairs unknown")


def parts(config: dict, task: str, method: str) -> list[str]:
    """The job names of a method's registration and evaluation: the method itself, or one
    ``<method>.part<k>of<n>`` per batch of at most ``pairs_per_job`` pairs."""
    per_job = config["pairs_per_job"]
    count = pair_count(config, task)
    n = -(-count // per_job) if per_job and method != "identity" else 1
    return [method] if n <= 1 else [f"{method}.part{k}of{n}" for k in range(1, n + 1)]
