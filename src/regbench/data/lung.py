"""Lung CT, intra-patient (inspiration/expiration): NLST (Learn2Reg 2023) and Lung250M-4B.

Preprocessing (both): HU window [-1000, 500] → [0, 1], clipped (the paper's); each pair on its
fixed scan's grid at the task's ``spacing`` and ``shape`` (the paper's NLST grid is 224×192×224 at
1.5 mm, the native one, so NLST is copied without resampling), in the scan's own axis order;
outside the scan 0 (air). Label 1 = the lung mask where the dataset has one. Landmarks (voxel
CSVs) are moved through the same affines, so TRE stays in mm.

- NLST: case ``i`` is ``imagesTr/NLST_{i:04d}_0000`` (fixed) and ``_0001`` (moving), with
  ``masksTr/`` and ``keypointsTr/`` of the same names; ``train_cases`` and ``test_cases`` are
  case numbers and ranges (``"1-110"``). The paper trains on 1–110 and tests on 250–299, which
  the public release (1–110 with keypoints) does not contain.
- Lung250M-4B (evaluation only): the paper's 17 cases ``imagesTs/case_{i:03d}_2`` (fixed) and
  ``_1`` (moving), landmarks ``landmarkTs/case_{i:03d}.csv`` (moving xyz, fixed xyz, voxels).
  Deviation: the paper resizes them to 224×192×224 by interpolation (changing their spacing); here
  they are resampled at the task spacing, so distances stay in mm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from regbench.data import volumes
from regbench.data.cases import LUNG250M_CASES, case_numbers
from regbench.data.prepare import Case, Recipe, Scan, paired

WINDOW = {"window": [-1000, 500]}
NLST_FOLDER = "NLST"


def read_points(path: Path, columns: int = 3) -> np.ndarray:
    """Landmarks of a header-less CSV (``columns`` numbers per row), with an error naming the file."""
    try:
        points = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read landmarks ({err})") from None
    if points.shape[1] != columns:
        raise ValueError(f"{path}: {points.shape[1]} columns, expected {columns}")
    return points


def _optional(path: Path, dtype=np.float32):
    return volumes.load(path, dtype) if path.exists() else None


def _nlst_scan(root: Path, case: int, index: int) -> Scan:
    name = f"NLST_{case:04d}_{index:04d}"
    image = root / "imagesTr" / f"{name}.nii.gz"
    if not image.exists():
        raise FileNotFoundError(f"{image}: NLST case {case} not found (check train_cases / test_cases)")
    keypoints = root / "keypointsTr" / f"{name}.csv"
    return Scan(
        name,
        volumes.load(image),
        _optional(root / "masksTr" / f"{name}.nii.gz", np.int16),
        read_points(keypoints) if keypoints.exists() else None,
    )


def nlst_cases(root: Path, settings: dict):
    for test, key in ((False, "train_cases"), (True, "test_cases")):
        for case in case_numbers(settings[key]):
            yield Case(f"NLST_{case:04d}", _nlst_scan(root, case, 0), _nlst_scan(root, case, 1), test)


def lung250m_cases(root: Path, cases: list[int]):
    for case in cases:
        name = f"case_{case:03d}"
        scans = []
        for index in (2, 1):  # fixed (exhale), moving (inhale)
            image = root / "imagesTs" / f"{name}_{index}.nii.gz"
            if not image.exists():
                raise FileNotFoundError(f"{image}: Lung250M-4B case {case} not found")
            scans.append(
                Scan(
                    f"{name}_{index}",
                    volumes.load(image),
                    _optional(root / "masksTs" / f"{name}_{index}.nii.gz"),
                )
            )
        points = read_points(root / "landmarkTs" / f"{name}.csv", columns=6)
        scans[1].landmarks, scans[0].landmarks = points[:, :3], points[:, 3:]
        yield Case(name, scans[0], scans[1], test=True)


def prepare(
    source: str, settings: dict, seed: int, out_dir, task: str, source_dir, evaluation_only: bool
) -> Path:
    root = Path(source_dir)
    recipe_labels = {1: "lung"}
    if source == "nlst":
        recipe = Recipe("NLST (Learn2Reg 2023; TCIA NLST terms)", recipe_labels, WINDOW)
        return paired(
            nlst_cases(root / NLST_FOLDER, settings), recipe, settings, out_dir, task, evaluation_only
        )
    recipe = Recipe("Lung250M-4B (Falta et al. 2023)", recipe_labels, WINDOW)
    cases = settings.get("cases", LUNG250M_CASES)
    return paired(lung250m_cases(root, cases), recipe, settings, out_dir, task, evaluation_only=True)
