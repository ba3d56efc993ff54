"""A finished study's small outputs, gathered into one folder to commit or publish
(``regbench record``): the task's tables (Markdown, CSV, the per-pair values), its figures as PNG,
the stress summary and curves, the budget curves, the study's disentangling analysis and
leaderboard, the wall time of every stage, the training curves and the exact config. Nothing large
(no fields, checkpoints or images) is copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from regbench.analysis import figures
from regbench.config import STUDY_FOLDER
from regbench.io import write_csv

#: per task: the files copied when present, relative to ``results/<task>/``
TASK_FILES = (
    "tables/summary.md",
    "tables/summary.csv",
    "tables/comparison.csv",
    "tables/per_pair.csv",
    "figures/metrics.png",
    "figures/heatmap.png",
    "figures/cost.png",
    "figures/qualitative.png",
    "stress/summary.md",
    "stress/summary.csv",
    "stress/curves.png",
    "budget/summary.md",
    "budget/curves.csv",
    "budget/effects.csv",
    "budget/curves.png",
)
STUDY_FILES = (
    "disentangling.md",
    "disentangling.csv",
    "contrasts.csv",
    "disentangling.png",
    "leaderboard.md",
    "leaderboard.csv",
    "leaderboard_tasks.csv",
)


def stage_of(benchmark: Path, task_folder: Path) -> tuple[str, str, str]:
    """``(set, stage, job)`` of a Snakemake benchmark file under ``results/<task>/``: the set is
    the task or its stressed set (``stress/<mode>``), the stage the folder under ``benchmarks/``
    (``train``, ``register``, ``evaluate``) or ``ants``."""
    relative = benchmark.relative_to(task_folder)
    parts = relative.parts
    where = parts.index("benchmarks")
    subset = "/".join(parts[:where]) or "task"
    inner = parts[where + 1 :]
    stage = inner[0] if len(inner) > 1 else inner[0].split("-seed")[0]
    return subset, stage, Path(inner[-1]).stem


def wall_times(task_folder: Path) -> pd.DataFrame:
    """One row per benchmarked job of a task and its stressed sets: set, stage, job, seconds,
    peak resident memory (MB)."""
    rows = []
    for path in sorted(Path(task_folder).rglob("benchmarks/**/*.tsv")):
        measured = pd.read_csv(path, sep="\t")
        subset, stage, job = stage_of(path, Path(task_folder))
        rows.append(
            dict(
                set=subset,
                stage=stage,
                job=job,
                seconds=measured["s"].sum(),
                max_rss_mb=measured["max_rss"].max(),
            )
        )
    return pd.DataFrame(rows, columns=["set", "stage", "job", "seconds", "max_rss_mb"])


def record(results: Path, tasks: list[str], config: Path, out: Path) -> list[Path]:
    """Copy the small outputs of ``tasks`` from ``results`` into ``out`` (one folder per task,
    ``study/`` for the disentangling analysis), with ``wall_times.csv`` and
    ``training_curves.png`` per task and the config; return the files written."""
    results, out = Path(results), Path(out)
    written = []

    def copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)

    for task in tasks:
        folder = results / task
        if not (folder / "tables/summary.csv").exists():
            raise FileNotFoundError(f"{folder}/tables/summary.csv: the task {task!r} has no tables yet")
        for name in TASK_FILES:
            if (folder / name).exists():
                copy(folder / name, out / task / name)
        write_csv(out / task / "wall_times.csv", wall_times(folder))
        written.append(out / task / "wall_times.csv")
        runs = sorted(path.parent for path in folder.glob("train/*/seed*/train_log.csv"))
        if runs:
            figures.training_figure(runs, out / task / "training_curves.png")
            written += [out / task / "training_curves.png", out / task / "training_curves.pdf"]
    for name in STUDY_FILES:
        if (results / STUDY_FOLDER / name).exists():
            copy(results / STUDY_FOLDER / name, out / STUDY_FOLDER / name)
    copy(Path(config), out / "config.yaml")
    return written
