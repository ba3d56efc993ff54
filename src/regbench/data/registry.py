"""The dataset registry (``datasets.yaml`` beside this module): sources, checksums, terms."""

from __future__ import annotations

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

    @property
    def scripted(self) -> bool:
        return self.access == "script"


def load(path: str | Path = REGISTRY) -> dict[str, Dataset]:
    """Every dataset of the registry, by name."""
    entries = yaml.safe_load(Path(path).read_text())
    datasets = {}
    for name, entry in entries.items():
        files = [DataFile(**f) for f in entry.pop("files", [])]
        dataset = Dataset(name=name, files=files, **entry)
        if dataset.access not in ("script", "gated"):
            raise ValueError(f"{path}: dataset {name!r}: access must be 'script' or 'gated'")
        if dataset.scripted and not all(f.url for f in files):
            raise ValueError(f"{path}: dataset {name!r} is scripted but a file has no url")
        if not dataset.scripted and not dataset.instructions:
            raise ValueError(f"{path}: gated dataset {name!r} needs instructions")
        datasets[name] = dataset
    return datasets


def get(name: str, path: str | Path = REGISTRY) -> Dataset:
    datasets = load(path)
    if name not in datasets:
        raise ValueError(f"dataset {name!r}: not in {path} (known: {', '.join(datasets)})")
    return datasets[name]
