"""The prepared-data manifest: subjects, splits, label names and ID'd evaluation pairs.

Layout (paths relative to the manifest's folder)::

    {"task": ..., "dims": 2, "shape": [96, 128], "spacing": [2.0, 2.0],
     "labels": {"1": "L-CSF", ...},
     "subjects": {"sub-000": {"image": "...nii.gz", "labels": "...nii.gz",
                              "mask": "...nii.gz" (where the dataset has masks)}, ...},
     "splits": {"train": [...], "val": [...], "test": [...]},
     "pairs": [{"id": "pair-000", "fixed": "sub-012", "moving": "sub-013",
                "true_displacement": "...npy"}, ...]}

``true_displacement`` (optional) is the known displacement from the fixed to the moving image in
voxel units, channels first, in the convention of :mod:`regbench.models.fields`.
``fixed_landmarks`` and ``moving_landmarks`` (optional, together) are CSV files of corresponding
points, one ``x,y,z`` row (voxel coordinates on the task grid, array-index order) per landmark.
``training_pairs`` (optional) lists ``[a, b]`` training subjects that may be registered to each
other (the scans of one patient, for intra-patient tasks); without it any two training subjects
form a training pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import numpy as np

from regbench.io import atomic_path, load_image, read_json, save_image, write_json

REQUIRED_KEYS = ("task", "dims", "shape", "spacing", "labels", "subjects", "splits", "pairs")


def part_of(pairs: list, part: tuple[int, int]) -> list:
    """Part ``k`` of ``n`` (1-based) of the pairs: contiguous, sizes differing by at most one."""
    k, n = part
    if not 1 <= k <= n:
        raise ValueError(f"part {k}/{n}: expected 1 <= k <= n")
    start, stop = ((len(pairs) * i) // n for i in (k - 1, k))
    return pairs[start:stop]


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
        unknown = [
            f"{pair.get('id', '?')}: {pair.get(role)!r}"
            for pair in data["pairs"]
            for role in ("fixed", "moving")
            if pair.get(role) not in data["subjects"]
        ]
        if unknown:
            raise ValueError(
                f"{path}: pairs name subjects the manifest does not list ({', '.join(unknown[:5])})"
            )
        if not isinstance(data["splits"], dict):
            raise ValueError(f"{path}: splits must map split names to subject lists")
        unlisted = [
            f"{split}: {subject!r}"
            for split, subjects in data["splits"].items()
            for subject in subjects
            if subject not in data["subjects"]
        ]
        if unlisted:
            raise ValueError(
                f"{path}: splits name subjects the manifest does not list ({', '.join(unlisted[:5])})"
            )
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

    @property
    def training_pairs(self) -> list[tuple[str, str]] | None:
        pairs = self.data.get("training_pairs")
        return None if pairs is None else [tuple(p) for p in pairs]

    def split(self, name: str) -> list[str]:
        """The subjects of a split (none where the manifest has no such split)."""
        return list(self.data["splits"].get(name, []))

    def image(self, subject: str) -> np.ndarray:
        return load_image(self.root / self.data["subjects"][subject]["image"])

    def label_map(self, subject: str) -> np.ndarray:
        return load_image(self.root / self.data["subjects"][subject]["labels"], dtype=np.int16)

    def mask(self, subject: str) -> np.ndarray | None:
        """The dataset's own mask of a subject (Learn2Reg's ``masksTr``), None where it has none."""
        entry = self.data["subjects"][subject]
        return load_image(self.root / entry["mask"], dtype=np.int16) > 0 if "mask" in entry else None

    def landmarks(self, pair: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """The pair's ``(fixed, moving)`` landmarks ``[n, ndim]`` in voxels, or None."""
        if "fixed_landmarks" not in pair:
            return None
        points = []
        for key in ("fixed_landmarks", "moving_landmarks"):
            path = self.root / pair[key]
            try:
                points.append(np.loadtxt(path, delimiter=",", ndmin=2))
            except (OSError, ValueError) as err:
                raise ValueError(f"{path}: landmarks of {pair['id']} not readable ({err})") from None
        return points[0], points[1]

    def true_displacement(self, pair: dict) -> np.ndarray | None:
        if "true_displacement" not in pair:
            return None
        path = self.root / pair["true_displacement"]
        try:
            return np.load(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: true displacement of {pair['id']} not found") from None


def split_subjects(ids: list[str], sizes: dict) -> dict[str, list[str]]:
    """``train``, ``val`` and ``test`` (the rest) subject lists, in the order given."""
    n_train, n_val = sizes["train"], sizes["val"]
    if n_train + n_val >= len(ids):
        raise ValueError(f"split train={n_train}, val={n_val} leaves no test subject of {len(ids)}")
    return {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}


def test_pairs(test_ids: list[str], count: int, seed: int) -> list[tuple[str, str, str]]:
    """``(pair ID, fixed, moving)`` for ``count`` inter-subject pairs drawn without replacement from
    the ordered pairs of ``test_ids`` (seeded), in a fixed order."""
    ordered = list(permutations(test_ids, 2))
    if count > len(ordered):
        raise ValueError(f"{count} test pairs asked, {len(test_ids)} test subjects give {len(ordered)}")
    chosen = sorted(np.random.default_rng([seed, 10**6]).permutation(len(ordered))[:count])
    return [(f"pair-{k:03d}", *ordered[index]) for k, index in enumerate(chosen)]


def write_subject(
    out_dir: Path,
    sid: str,
    image: np.ndarray,
    labels: np.ndarray | None,
    spacing,
    mask: np.ndarray | None = None,
) -> dict:
    """Save a prepared subject's image, label map (zeros when it has none) and, where the dataset
    has one, its mask under ``out_dir/subjects/``; its manifest entry."""
    entry = {"image": f"subjects/{sid}_image.nii.gz", "labels": f"subjects/{sid}_labels.nii.gz"}
    save_image(out_dir / entry["image"], image.astype(np.float32), spacing)
    labels = np.zeros(image.shape, np.int16) if labels is None else labels.astype(np.int16)
    save_image(out_dir / entry["labels"], labels, spacing)
    if mask is not None:
        entry["mask"] = f"subjects/{sid}_mask.nii.gz"
        save_image(out_dir / entry["mask"], (mask > 0).astype(np.int16), spacing)
    return entry


def write_landmarks(out_dir: Path, name: str, points: np.ndarray) -> str:
    """Save ``points`` ``[n, ndim]`` (voxels) as ``out_dir/landmarks/<name>.csv``; the relative path."""
    relative = f"landmarks/{name}.csv"
    with atomic_path(out_dir / relative) as tmp:
        np.savetxt(tmp, np.asarray(points, dtype=float), delimiter=",", fmt="%.5f")
    return relative


def write(
    out_dir: Path,
    task: str,
    spacing,
    labels: dict[int, str],
    subjects: dict,
    splits: dict,
    pairs: list,
    source: str,
    shape,
    **extra,
) -> Path:
    """Write ``out_dir/manifest.json`` (call it last: its presence means the data are complete)."""
    manifest = {
        "task": task,
        "dims": len(shape),
        "shape": list(shape),
        "spacing": [float(s) for s in spacing],
        "labels": {str(k): v for k, v in labels.items()},
        "subjects": subjects,
        "splits": splits,
        "pairs": pairs,
        "source": source,
        **extra,
    }
    path = Path(out_dir) / "manifest.json"
    write_json(path, manifest)
    return path
