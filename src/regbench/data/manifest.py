"""The prepared-data manifest: subjects, splits, label names and ID'd evaluation pairs.

Layout (paths relative to the manifest's folder)::

    {"task": ..., "dims": 2, "shape": [96, 128], "spacing": [2.0, 2.0],
     "labels": {"1": "L-CSF", ...},
     "subjects": {"sub-000": {"image": "...nii.gz", "labels": "...nii.gz"}, ...},
     "splits": {"train": [...], "val": [...], "test": [...]},
     "pairs": [{"id": "pair-000", "fixed": "sub-012", "moving": "sub-013",
                "true_displacement": "...npy"}, ...]}

``true_displacement`` (optional) is the known displacement from the fixed to the moving image in
voxel units, channels first, in the convention of :mod:`regbench.models.fields`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regbench.io import load_image, read_json

REQUIRED_KEYS = ("task", "dims", "shape", "spacing", "labels", "subjects", "splits", "pairs")


@dataclass
class Manifest:
    path: Path
    data: dict

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        path = Path(path)
        data = read_json(path)
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"{path}: manifest lacks {', '.join(missing)}")
        return cls(path, data)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in self.data["spacing"])

    @property
    def ndim(self) -> int:
        return int(self.data["dims"])

    @property
    def labels(self) -> dict[int, str]:
        return {int(k): v for k, v in self.data["labels"].items()}

    @property
    def pairs(self) -> list[dict]:
        return self.data["pairs"]

    def split(self, name: str) -> list[str]:
        return list(self.data["splits"][name])

    def image(self, subject: str) -> np.ndarray:
        return load_image(self.root / self.data["subjects"][subject]["image"])

    def label_map(self, subject: str) -> np.ndarray:
        return load_image(self.root / self.data["subjects"][subject]["labels"], dtype=np.int16)

    def true_displacement(self, pair: dict) -> np.ndarray | None:
        if "true_displacement" not in pair:
            return None
        path = self.root / pair["true_displacement"]
        try:
            return np.load(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: true displacement of {pair['id']} not found") from None
