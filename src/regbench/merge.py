"""Results of several runs of one study joined in one results folder (``regbench merge``).

A lab that scored its own method on its own cluster, on the same ID'd pairs, puts its results
beside a study run elsewhere: each run's ``results/`` holds, per task (and stressed or evaluation
set), the data manifest and per method its metric, timing and preview files. The merge copies them
into one folder, refusing, with the reason:

- runs whose manifests of a set differ (task, grid, spacing, labels, subjects of every pair, pair IDs);
- runs that scored a set under different protocols (the metrics they computed differ, e.g.
  ``hd95`` against the Learn2Reg protocol's ``hd95_voxels``);
- a method that two runs scored with different results.

The merged folder is then rebuilt through the cached-results path (``--config from_cache=true``),
which takes its methods from the metric files present: every table, figure, ranking and the page.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pandas as pd

from regbench.io import read_json

#: per set, the folders of per-method files that the cached-results path reads
PER_METHOD = ("metrics", "timing", "previews")
#: the manifest entries that must agree for two runs' results to be comparable
COMPARED = ("task", "dims", "shape", "spacing", "labels", "pairs")


def results_folder(run: Path) -> Path:
    """A run's results folder: ``<run>/results`` (a Snakemake working directory) or ``run`` itself."""
    run = Path(run)
    folder = run / "results" if (run / "results").is_dir() else run
    if not any(folder.rglob("data/manifest.json")):
        raise FileNotFoundError(f"{run}: no results (no <set>/data/manifest.json under {folder})")
    return folder


def sets_of(folder: Path) -> list[str]:
    """The sets of a results folder (``demo``, ``demo/stress/svf``, ...), relative paths."""
    return sorted(str(p.parent.parent.relative_to(folder)) for p in folder.rglob("data/manifest.json"))


def _manifest_key(path: Path) -> dict:
    data = read_json(path)
    key = {name: data.get(name) for name in COMPARED}
    key["pairs"] = [(p["id"], p["fixed"], p["moving"]) for p in data["pairs"]]
    return key


def _difference(a: dict, b: dict) -> str:
    for name in COMPARED:
        if a[name] != b[name]:
            if name == "pairs":
                ours, theirs = dict((p[0], p[1:]) for p in a[name]), dict((p[0], p[1:]) for p in b[name])
                changed = sorted(set(ours) ^ set(theirs)) or sorted(k for k in ours if ours[k] != theirs[k])
                return f"pairs differ (first: {changed[0]})"
            return f"{name} differs ({a[name]!r} against {b[name]!r})"
    return ""


def _metric_names(folder: Path) -> set[str]:
    names = set()
    for path in sorted((folder / "metrics").glob("*.csv")):
        names |= set(pd.read_csv(path, usecols=["metric"])["metric"])
    return names


def merge(runs: list[Path], out: Path) -> dict[str, int]:
    """Copy the results of ``runs`` into ``out/results``; return the method files per set."""
    folders = [results_folder(run) for run in runs]
    target = Path(out) / "results"
    copied: dict[str, int] = {}
    for name in sorted({s for folder in folders for s in sets_of(folder)}):
        having = [f for f in folders if (f / name / "data/manifest.json").exists()]
        first = having[0]
        reference, protocol = _manifest_key(first / name / "data/manifest.json"), _metric_names(first / name)
        for other in having[1:]:
            problem = _difference(reference, _manifest_key(other / name / "data/manifest.json"))
            if problem:
                raise ValueError(
                    f"{name}: {first} and {other} are not the same study: the manifests' {problem}"
                )
            theirs = _metric_names(other / name)
            if protocol and theirs and protocol != theirs:
                raise ValueError(
                    f"{name}: {first} and {other} computed different metrics ({sorted(protocol ^ theirs)}): "
                    "another evaluation protocol"
                )
        if not (target / name / "data").exists():
            shutil.copytree(first / name / "data", target / name / "data")
        count = 0
        for folder in having:
            for kind in PER_METHOD:
                for source in sorted((folder / name / kind).glob("*")):
                    destination = target / name / kind / source.name
                    if destination.exists() and not filecmp.cmp(source, destination, shallow=False):
                        raise ValueError(
                            f"{name}: {source.name} differs between runs ({source} and the one copied "
                            "before it): the same method scored twice with other results"
                        )
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, destination)
                    count += kind == "metrics"
        copied[name] = count
    return copied
