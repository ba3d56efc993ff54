"""The SLURM profile: fill in the values a cluster user sets once, and install it by name.

``profiles/slurm/config.yaml`` is the profile, usable as is: Snakemake looks for ``--profile
slurm`` in the working directory first, where ``slurm`` links to ``profiles/slurm``, so
``snakemake --profile slurm`` works as typed in a fresh clone. :func:`install` fills in
partition, account, GPU model and status command (in place, by default).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from regbench.io import atomic_path

#: rules that ask for a GPU (``resources.train`` and ``resources.register`` in the study config)
GPU_RULES = ("train", "register_model")


def profile(
    template: Path,
    partition: str | None = None,
    account: str | None = None,
    gpu_model: str | None = None,
    status_command: str | None = None,
) -> dict:
    """The template's settings with the given values filled in."""
    try:
        settings = yaml.safe_load(Path(template).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{template}: SLURM profile template not found") from None
    if not isinstance(settings, dict) or settings.get("executor") != "slurm":
        raise ValueError(f"{template}: not a SLURM profile (expected 'executor: slurm')")
    resources = settings.setdefault("default-resources", {})
    if partition:
        resources["slurm_partition"] = partition
    if account:
        resources["slurm_account"] = account
    if gpu_model:
        settings["set-resources"] = {rule: {"gpu_model": gpu_model} for rule in GPU_RULES}
    if status_command:
        if status_command not in ("sacct", "squeue"):
            raise ValueError(f"status command {status_command!r}: expected 'sacct' or 'squeue'")
        settings["slurm-status-command"] = status_command
    return settings


def install(template: Path, dest: Path, **values) -> Path:
    """Write the filled-in profile to ``dest/config.yaml`` (atomically) and return that path."""
    settings = profile(template, **values)
    path = Path(dest) / "config.yaml"
    header = (
        "# filled in by `regbench slurm-profile`; the commented original: "
        "`git show HEAD:profiles/slurm/config.yaml`\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(settings, sort_keys=False))
    return path
