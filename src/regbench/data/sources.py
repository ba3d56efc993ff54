"""The data sources a task (or an evaluation set) can be prepared from, and their preparation."""

from __future__ import annotations

from pathlib import Path

from regbench.data import abdomen, brain, cardiac, demo, hippocampus, lung
from regbench.data.fetch import dataset_dir
from regbench.data.registry import get

#: source → the module that prepares it
FAMILIES = {
    "demo": demo,
    "hippocampus": hippocampus,
    **dict.fromkeys(["lumir", "oasis", "ixi", "lpba40", "mindboggle", "adni"], brain),
    **dict.fromkeys(["nlst", "lung250m"], lung),
    **dict.fromkeys(["acdc", "mnms"], cardiac),
    **dict.fromkeys(["abdomen_mrct", "abdomen_ctct", "psmareg"], abdomen),
}


def prepare(
    settings: dict, seed: int, out: str | Path, task: str, data_root: str | Path, evaluation_only=False
):
    """Prepare ``task`` (or an evaluation set) from ``settings['source']`` into ``out``."""
    source = settings["source"]
    if source not in FAMILIES:
        raise ValueError(f"task {task!r}: unknown data source {source!r} (available: {', '.join(FAMILIES)})")
    if source == "demo":
        return demo.prepare(settings, seed, out, task, evaluation_only)
    folder = dataset_dir(data_root, get(source))
    return FAMILIES[source].prepare(source, settings, seed, out, task, folder, evaluation_only)
