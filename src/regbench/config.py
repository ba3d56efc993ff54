"""Study-config checks that a JSON schema cannot express (run after schema validation).

Every error names the config key at fault and says why.
"""

from __future__ import annotations

from regbench.models import PRESETS, canonical
from regbench.models.networks import RegistrationNet


class ConfigError(ValueError):
    pass


def models(config: dict) -> list[str]:
    """The canonical names of the configured models (``all`` means every preset)."""
    names = PRESETS if config["models"] == "all" else config["models"]
    resolved = []
    for name in names:
        try:
            resolved.append(canonical(name))
        except ValueError as err:
            raise ConfigError(f"config key 'models': {err}") from None
    return list(dict.fromkeys(resolved))


def check(config: dict) -> None:
    """Raise :class:`ConfigError` for settings that would fail later in the pipeline."""
    models(config)
    for task in config["tasks"]:
        if task not in config["task_settings"]:
            raise ConfigError(
                f"config key 'tasks': task {task!r} has no entry under 'task_settings' "
                f"(defined: {', '.join(config['task_settings'])})"
            )
    for task, settings in config["task_settings"].items():
        data = settings["data"]
        where = f"config key 'task_settings.{task}.data"
        if len(data["shape"]) != data["dims"]:
            raise ConfigError(f"{where}.shape': {data['shape']} needs {data['dims']} entries (dims)")
        if any(n % RegistrationNet.divisor for n in data["shape"]):
            raise ConfigError(
                f"{where}.shape': every size must be divisible by {RegistrationNet.divisor}, "
                f"got {data['shape']}"
            )
        split = data["split"]
        if split["train"] < 2 or split["train"] + split["val"] + 2 > data["subjects"]:
            raise ConfigError(
                f"{where}.split': train={split['train']}, val={split['val']} of {data['subjects']} "
                "subjects must leave at least 2 training and 2 test subjects"
            )
