"""The dataset registry (``datasets.yaml`` beside this module): sources, checksums, terms, and
how each is prepared (:class:`Source`; the demo's is :data:`DEMO`). Light to import: the study
config is checked against it while planning."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REGISTRY = Path(__file__).with_name("datasets.yaml")


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset, stored as ``<data_root>/<dataset>/<name>``."""

    name: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    extract: bool = False
    entries: int | None = None  # members of the archive, where known


@dataclass(frozen=True)
class Source:
    """How a task's data are prepared from a source (the demo or a registered dataset)."""

    name: str
    family: str  # the module of regbench.data that prepares it
    needs: tuple[str, ...] = ()  # data settings it needs beyond source, dims and shape
    evaluation_only: bool = False  # no training data: only an evaluation set may use it
    split: bool = False  # its subjects are split train / val / test by `split`
    pairs: str | None = None  # the data setting that counts its evaluation pairs, where one does


#: the synthesised demo study (no download)
DEMO = Source("demo", "demo", ("subjects", "test_pairs"), split=True, pairs="test_pairs")


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    tasks: list[str]
    landing: str
    licence: str
    citation: str
    access: str  # script or gated
    layout: str
    files: list[DataFile] = field(default_factory=list)
    instructions: str = ""
    preparation: Source | None = None  # (every registered dataset has one)

    @property
    def scripted(self) -> bool:
        return self.access == "script"


def load(path: str | Path = REGISTRY) -> dict[str, Dataset]:
    """Every dataset of the registry, by name."""
    entries = yaml.safe_load(Path(path).read_text())
    datasets = {}
    for name, entry in entries.items():
        files = [DataFile(**f) for f in entry.pop("files", [])]
        preparation = entry.pop("preparation", None)
        if not preparation:
            raise ValueError(f"{path}: dataset {name!r} has no preparation (family, needs, ...)")
        preparation = Source(name, **{k: tuple(v) if k == "needs" else v for k, v in preparation.items()})
        dataset = Dataset(name=name, files=files, preparation=preparation, **entry)
        if dataset.access not in ("script", "gated"):
            raise ValueError(f"{path}: dataset {name!r}: access must be 'script' or 'gated'")
        if dataset.scripted and not all(f.url for f in files):
            raise ValueError(f"{path}: dataset {name!r} is scripted but a file has no url")
        if not dataset.scripted and not dataset.instructions:
            raise ValueError(f"{path}: gated dataset {name!r} needs instructions")
        datasets[name] = dataset
    return datasets


@functools.cache
def sources(path: str | Path = REGISTRY) -> dict[str, Source]:
    """Every data source by name: the demo, then the registered datasets."""
    return {"demo": DEMO, **{name: d.preparation for name, d in load(path).items()}}


def get(name: str, path: str | Path = REGISTRY) -> Dataset:
    datasets = load(path)
    if name not in datasets:
        raise ValueError(f"dataset {name!r}: not in {path} (known: {', '.join(datasets)})")
    return datasets[name]
