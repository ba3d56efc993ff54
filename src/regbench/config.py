"""Study-config checks that a JSON schema cannot express (run after schema validation).

Every error names the config key at fault and says why.
"""

from __future__ import annotations

import copy
import math

from regbench import registry
from regbench.data.cases import LUNG250M_CASES, case_numbers
from regbench.data.registry import sources
from regbench.names import PRESETS, canonical, divisor, grid

#: results/<STUDY_FOLDER>/ holds the study-wide analysis, so no task may have this name
STUDY_FOLDER = "study"
#: a stressed evaluation set of a task is named ``<task><STRESS><mode>``
STRESS = "/stress/"
#: a further evaluation set of a task is named ``<task><EVALUATION><name>``
EVALUATION = "/eval/"


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
        unknown = sorted(set(names["backbones"]) - set(registry.backbones()))
        if unknown:
            raise ConfigError(
                f"config key 'models.backbones': unknown {unknown} (available: {list(registry.backbones())})"
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
    names = models(config)
    divisors = {name: divisor(name) for name in names}
    for task in config["tasks"]:
        if task not in config["task_settings"]:
            raise ConfigError(
                f"config key 'tasks': task {task!r} has no entry under 'task_settings' "
                f"(defined: {', '.join(config['task_settings'])})"
            )
        if task == STUDY_FOLDER:
            raise ConfigError(f"config key 'tasks': {task!r} is reserved for the study-wide results folder")
    # (the schema's defaults where a key is absent)
    baselines = config.get("baselines", ["identity", "ants"])
    for name in baselines:
        if name not in registry.methods():
            raise ConfigError(
                f"config key 'baselines': {name!r} is not a registered method (available: "
                f"{', '.join(registry.methods())}; a plugin registers more)"
            )
    external = [n for settings in config["task_settings"].values() for n in settings.get("external", {})]
    for name in external:
        if name in registry.methods() or name in registry.backbones():
            raise ConfigError(
                f"config key 'task_settings.*.external.{name}': the name of a registered method or "
                "backbone; name the external method otherwise"
            )
    baseline = config.get("analysis", {}).get("baseline", "cnn")
    methods = [*names, *baselines, *external]
    if baseline not in methods:
        raise ConfigError(
            f"config key 'analysis.baseline': {baseline!r} is not among the study's models or baselines "
            f"({', '.join(methods)}); the paired tests need it"
        )
    for task, settings in config["task_settings"].items():
        for name, data in data_sections(task, settings):
            check_data(name, data, settings["data"], divisors)
        for name in settings["training"].get("per_model", {}):
            try:
                canonical(name)
            except ValueError as err:
                raise ConfigError(
                    f"config key 'task_settings.{task}.training.per_model.{name}': {err}"
                ) from None
        iterations = settings["training"]["iterations"]
        late = [n for n in settings["training"].get("snapshots", []) if n > iterations]
        if late:
            raise ConfigError(
                f"config key 'task_settings.{task}.training.snapshots': {late} come after the last "
                f"iteration ({iterations})"
            )
        if settings["training"].get("lambda_grid"):
            check_lambda_grid(task, settings)
        window = settings["training"].get("swin_window")
        dims = settings["data"]["dims"]
        if window is not None and len(window) != dims:
            raise ConfigError(
                f"config key 'task_settings.{task}.training.swin_window': {window} needs {dims} entries"
            )
        evaluation = settings.get("evaluation", {})  # schema defaults: regbench, dice
        protocol, primary = evaluation.get("protocol", "regbench"), evaluation.get("primary_metric")
        hd95 = "hd95_voxels" if protocol == "learn2reg" else "hd95"
        if primary in {"hd95", "hd95_voxels"} - {hd95}:
            raise ConfigError(
                f"config key 'task_settings.{task}.evaluation.primary_metric': the {protocol} protocol "
                f"measures HD95 as {hd95!r}, not {primary!r}"
            )
        stress = settings["stress"]
        count = pair_count(config, task)
        if stress["modes"] and count is not None and stress["cases"] > count:
            raise ConfigError(
                f"config key 'task_settings.{task}.stress.cases': {stress['cases']} cases need as many "
                f"test pairs, the task has {count}"
            )
    check_methods(config, baselines)


def _defaults_filled(validator_class):
    """A JSON-schema validator class that also fills in the defaults of missing properties."""
    from jsonschema import validators

    properties = validator_class.VALIDATORS["properties"]

    def fill(validator, schema_properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in schema_properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from properties(validator, schema_properties, instance, schema)

    return validators.extend(validator_class, {"properties": fill})


def method_sections(task: str, settings: dict) -> list[tuple[str, str, dict]]:
    """``(config key, method name, settings)`` of every method section of a task: the built-ins'
    ``task_settings.<task>.<name>`` and ``task_settings.<task>.methods.<name>``."""
    sections = [
        (f"task_settings.{task}.methods.{name}", name, values)
        for name, values in settings.get("methods", {}).items()
    ]
    builtins = [m.name for m in registry.BUILTIN_METHODS]
    sections += [(f"task_settings.{task}.{n}", n, settings[n]) for n in builtins if n in settings]
    return sections


def check_method_settings(record: registry.Method, values: dict, key: str) -> dict:
    """``values`` checked against the method's settings schema, its defaults filled in (in place)."""
    if record.settings is None:
        return values
    from jsonschema import Draft202012Validator

    validator = _defaults_filled(Draft202012Validator)(dict(record.settings))
    error = next(iter(sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = ".".join([key, *map(str, error.absolute_path)])
        raise ConfigError(f"config key '{where}': {error.message} (method {record.name!r})")
    return values


def method_grid(config: dict, task: str, name: str) -> dict:
    """What a method's grid checks see of a task: shape, spacing (mm; None where the data decide)
    and the memory of the method's job."""
    data = config["task_settings"][task]["data"]
    spacing = data.get("spacing")
    if spacing is None and data["source"] == "demo":
        spacing = [data.get("resolution_mm", 2)] * data["dims"]
    resources = config.get("resources", {})
    job = resources.get(name) or resources.get("evaluate") or {}
    return {"shape": list(data["shape"]), "spacing": spacing, "mem_mb": job.get("mem_mb", 4000)}


def check_methods(config: dict, baselines: list[str]) -> None:
    """Every method section of every task against its method's schema (defaults filled in, also
    for the study's methods without a section), and the study's methods against each task's grid."""
    known = registry.methods()
    for task, settings in config["task_settings"].items():
        for key, name, values in method_sections(task, settings):
            if name not in known:
                raise ConfigError(
                    f"config key '{key}': no registered method {name!r} (available: "
                    f"{', '.join(known)}){registry.broken(name)}"
                )
            if not isinstance(values, dict):
                raise ConfigError(f"config key '{key}': expected a mapping of settings, got {values!r}")
            check_method_settings(known[name], values, key)
        for name in baselines:
            record = known[name]
            if name not in settings and name not in settings.get("methods", {}):
                # the section the job will be given, with the defaults filled in
                (settings.setdefault("methods", {}) if record.plugin else settings)[name] = {}
            section = "methods." * bool(record.plugin) + name
            values = method_settings(config, task, name)
            check_method_settings(record, values, f"task_settings.{task}.{section}")
            if record.check and settings["data"]["dims"] in record.dims:
                try:
                    registry.resolve(record.check, f"method {name!r}")(
                        values, method_grid(config, task, name)
                    )
                except ValueError as err:
                    raise ConfigError(f"config key 'task_settings.{task}.{section}': {err}") from None


def check_lambda_grid(task: str, settings: dict) -> None:
    """λ is chosen on the validation pairs: the runs must log them."""
    key = f"config key 'task_settings.{task}.training.lambda_grid'"
    if settings["training"].get("val_every", 50) == 0:
        raise ConfigError(f"{key}: λ is chosen on the validation log, and training.val_every is 0")
    if len(settings["training"]["lambda_grid"]) < 2:
        raise ConfigError(f"{key}: a grid needs at least two values (one λ is training.lambda)")
    source = sources().get(settings["data"]["source"])
    if source is not None and source.split and settings["data"]["split"].get("val", 2) < 2:
        raise ConfigError(f"{key}: λ is chosen on validation pairs, which need data.split.val of 2 or more")


def data_sections(task: str, settings: dict) -> list[tuple[str, dict]]:
    """``(config key, data settings)`` of a task and of each of its evaluation sets."""
    sets = [
        (f"task_settings.{task}.evaluation_sets.{n}", d)
        for n, d in settings.get("evaluation_sets", {}).items()
    ]
    return [(f"task_settings.{task}.data", settings["data"]), *sets]


def check_data(key: str, data: dict, task_data: dict, divisors: dict[str, int]) -> None:
    """Check one data section (a task's, or an evaluation set's against its task's)."""
    where = f"config key '{key}"
    evaluation_set = ".evaluation_sets." in key
    if evaluation_set and (data["dims"], data["shape"]) != (task_data["dims"], task_data["shape"]):
        raise ConfigError(
            f"{where}': dims and shape must be the task's ({task_data['shape']}), got {data['shape']}"
        )
    known = sources()
    if data["source"] not in known:
        raise ConfigError(
            f"{where}.source': unknown source {data['source']!r} (available: {', '.join(known)})"
        )
    source = known[data["source"]]
    if not evaluation_set and source.evaluation_only:
        raise ConfigError(
            f"{where}.source': {data['source']!r} has no training data; use it as an evaluation set"
        )
    missing = [k for k in source.needs if k not in data]
    if missing:
        raise ConfigError(f"{where}': source {data['source']!r} needs {', '.join(missing)}")
    for field in ("shape", "spacing"):
        if field in data and len(data[field]) != data["dims"]:
            raise ConfigError(f"{where}.{field}': {data[field]} needs {data['dims']} entries (dims)")
    for name, multiple in divisors.items():
        if any(n % multiple for n in data["shape"]):
            raise ConfigError(
                f"{where}.shape': model {name!r} needs sizes divisible by {multiple}, got {data['shape']}"
            )
        if math.prod(n // multiple for n in data["shape"]) < 2:  # instance norm needs 2 voxels
            raise ConfigError(
                f"{where}.shape': {data['shape']} leaves model {name!r} a single voxel at its coarsest "
                f"level (1/{multiple}); make a side at least {2 * multiple}"
            )
    if "url" in data and not ("sha256" in data or "md5" in data):
        raise ConfigError(f"{where}.url': a replacement URL needs its sha256 or md5")
    split = data["split"]
    if (
        source.split
        and not evaluation_set
        and (split["train"] < 2 or split["train"] + split["val"] + 2 > data["subjects"])
    ):
        raise ConfigError(
            f"{where}.split': train={split['train']}, val={split['val']} of {data['subjects']} "
            "subjects must leave at least 2 training and 2 test subjects"
        )


def stress_set(task: str, mode: str) -> str:
    """The name of a task's stressed evaluation set: its results live in ``results/<name>/``."""
    return f"{task}{STRESS}{mode}"


def base_task(name: str) -> str:
    """The task of a task, stressed-set or evaluation-set name (``demo/stress/svf`` → ``demo``)."""
    return name.split("/")[0]


def stress_sets(config: dict, task: str) -> list[str]:
    return [stress_set(task, mode) for mode in config["task_settings"][task]["stress"]["modes"]]


def evaluation_sets(config: dict, task: str) -> list[str]:
    """The names of a task's further evaluation sets: ``<task>/eval/<name>``."""
    return [f"{task}{EVALUATION}{name}" for name in config["task_settings"][task]["evaluation_sets"]]


def data_settings(config: dict, name: str) -> dict:
    """The data settings of a task or of one of its evaluation sets."""
    settings = config["task_settings"][base_task(name)]
    if EVALUATION in name:
        return settings.get("evaluation_sets", {})[name.split(EVALUATION)[1]]
    return settings["data"]


def pair_count(config: dict, name: str) -> int | None:
    """The number of evaluation pairs of a task, stressed or evaluation set, where it is known
    before preparation (None where the data decide: slices, listed validation pairs)."""
    settings = config["task_settings"][base_task(name)]
    if STRESS in name:
        stress = settings["stress"]
        return stress["cases"] * len(stress[f"{name.split(STRESS)[1]}_mm"])
    data = data_settings(config, name)
    counted_by = sources()[data["source"]].pairs
    if counted_by == "test_cases":
        return len(case_numbers(data["test_cases"]))
    if counted_by == "cases":
        return len(data.get("cases", LUNG250M_CASES))
    return data[counted_by] if counted_by else None


#: training settings that plan jobs around a training run and never change the network it
#: trains: they stay out of its settings (and so out of its fingerprint and rerun triggers)
PLANNING_KEYS = ("snapshots", "lambda_grid", "lambda_max_folding_pct")


def training_settings(config: dict, task: str, model: str, lam: float | None = None) -> dict:
    """A model's training settings on a task: the task's ``training``, with the model's entry of
    its ``per_model`` (by name or paper alias) applied, and ``lambda`` set to ``lam`` where the
    run is one of a λ grid's."""
    training = dict(config["task_settings"][base_task(task)].get("training", {}))
    for key in PLANNING_KEYS:
        training.pop(key, None)
    per_model = {canonical(name): values for name, values in training.pop("per_model", {}).items()}
    settings = training | per_model.get(canonical(model), {})
    return settings if lam is None else settings | {"lambda": lam}


def snapshots(config: dict, task: str) -> list[int]:
    """The iterations before the last at which a task's training runs keep their weights."""
    training = config["task_settings"][base_task(task)]["training"]
    return sorted({n for n in training.get("snapshots", []) if n < training["iterations"]})


def lambda_grid(config: dict, task: str) -> list[str]:
    """A task's λ grid as the run folders' labels (``0.5`` for ``lambda0.5``); [] without one."""
    return [
        f"{value:g}" for value in config["task_settings"][base_task(task)]["training"].get("lambda_grid", [])
    ]


def snapshot_method(model: str, iteration: int) -> str:
    """The method name of a model's snapshot: ``cnn-DWP@100``."""
    return f"{model}@{iteration}"


def method_settings(config: dict, task: str, name: str) -> dict:
    """A registered method's settings on a task: ``task_settings.<task>.<name>`` for the
    built-ins, else ``task_settings.<task>.methods.<name>`` (plugins), else none."""
    settings = config["task_settings"][task]
    return settings[name] if name in settings else settings.get("methods", {}).get(name, {})


def external_methods(config: dict, task: str) -> list[str]:
    """The external methods scored on a task, stressed or evaluation set (only the task itself
    has their fields)."""
    if task != base_task(task):
        return []
    return list(config["task_settings"][task].get("external", {}))


def parts(config: dict, task: str, method: str) -> list[str]:
    """The job names of a method's registration and evaluation: the method itself, or one
    ``<method>.part<k>of<n>`` per batch of at most ``pairs_per_job`` pairs."""
    per_job = config["pairs_per_job"]
    count = pair_count(config, task)
    n = -(-count // per_job) if per_job and count else 1
    return [method] if n <= 1 else [f"{method}.part{k}of{n}" for k in range(1, n + 1)]
