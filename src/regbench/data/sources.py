"""The data sources a task (or an evaluation set) can be prepared from, and their preparation."""

from __future__ import annotations

import importlib
from pathlib import Path

from regbench.data import demo
from regbench.data.fetch import dataset_dir
from regbench.data.registry import get, sources


def prepare(
    settings: dict, seed: int, out: str | Path, task: str, data_root: str | Path, evaluation_only=False
):
    """Prepare ``task`` (or an evaluation set) from ``settings['source']`` into ``out``."""
    source, known = settings["source"], sources()
    if source not in known:
        raise ValueError(f"task {task!r}: unknown data source {source!r} (available: {', '.join(known)})")
    if source == "demo":
        return demo.prepare(settings, seed, out, task, evaluation_only)
    folder = dataset_dir(data_root, get(source))
    family = importlib.import_module(f"regbench.data.{known[source].family}")
    return family.prepare(source, settings, seed, out, task, folder, evaluation_only)
