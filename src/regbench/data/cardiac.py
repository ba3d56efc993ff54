"""Cardiac cine MRI, 2D intra-patient (end-diastole ↔ end-systole): ACDC and M&Ms.

Preprocessing (the paper's 2D protocol, §4.3 of the reference notes):
- each ED and ES volume is scaled by its maximum (→ [0, 1]);
- only short-axis slices where the right ventricle, myocardium and left ventricle are all labelled
  at both ED and ES are kept; each becomes a 2D subject ``<patient>_s<k>_ed`` / ``_es``;
- a ``shape`` (128×128) window centred on the ED foreground's bounding box, the same for every
  slice and both frames of a patient. Deviation: the paper keeps the native in-plane spacing
  (1.37–1.68 mm); one task needs one spacing, so slices are resampled to ``spacing`` (1.5 mm);
- labels in the ACDC convention: 1 RV cavity, 2 myocardium, 3 LV cavity (M&Ms, which numbers them
  1 LV, 2 myocardium, 3 RV, is renumbered);
- training pairs: the ED and ES slices of the training patients (drawn in a random direction);
  evaluation pairs: per slice, ES (moving) registered to ED (fixed), ID'd ``<patient>_s<k>``.

ACDC: patients ``train_cases`` and ``test_cases`` (numbers and ranges such as ``"1-100"``; the
paper trains on 1–100, the training folder, and tests on 101–150, the testing folder), ED/ES frames
from ``Info.cfg``.
M&Ms (evaluation only): every labelled subject of the dataset information CSV (``External code``,
``ED``, ``ES``; frames numbered from 0) with ``<code>/<code>_sa.nii.gz`` and ``_sa_gt.nii.gz`` 4D
volumes; at most ``subjects`` when set.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from regbench.data import volumes
from regbench.data.cases import case_numbers
from regbench.data.prepare import Case, Recipe, Scan, paired
from regbench.data.volumes import Volume

LABELS = {1: "RV", 2: "myocardium", 3: "LV"}
MNMS_TO_ACDC = {1: 3, 2: 2, 3: 1}
ACDC_FOLDER = Path("ACDC/database")


def slice_cases(name: str, ed: tuple[Volume, Volume], es: tuple[Volume, Volume], test: bool) -> list[Case]:
    """The valid short-axis slices of one patient's ED and ES (image, labels) volumes."""
    (ed_image, ed_labels), (_, es_labels) = ed, es
    for image, labels in (ed, es):
        if image.array.shape != labels.array.shape or image.array.ndim != 3:
            raise ValueError(f"{labels.path}: shape {labels.array.shape} does not match {image.path}")
    spacing = ed_image.spacing[:2]
    plane = np.diag([*spacing, 1.0])
    foreground = np.argwhere(ed_labels.array > 0)
    if not len(foreground):
        raise ValueError(f"{ed_labels.path}: no labelled voxel")
    centre = (foreground.min(0)[:2] + foreground.max(0)[:2]) / 2 * spacing
    scaled = {
        frame: volumes.percentile_scale(image.array, 100) for frame, (image, _) in (("ed", ed), ("es", es))
    }
    cases = []
    for k in range(ed_image.array.shape[2]):
        present = [set(np.unique(v.array[..., k]).astype(int)) for v in (ed_labels, es_labels)]
        if not all({1, 2, 3} <= p for p in present):
            continue
        scans = [
            Scan(
                f"{name}_s{k:02d}_{frame}",
                Volume(scaled[frame][..., k], plane, image.path),
                Volume(labels.array[..., k], plane, labels.path),
            )
            for frame, (image, labels) in (("ed", ed), ("es", es))
        ]
        cases.append(Case(f"{name}_s{k:02d}", scans[0], scans[1], test, centre))
    return cases


def _info(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: ACDC patient information not found") from None
    info = dict(line.split(":", 1) for line in lines if ":" in line)
    if "ED" not in info or "ES" not in info:
        raise ValueError(f"{path}: no ED / ES frame numbers")
    return {k.strip(): v.strip() for k, v in info.items()}


def acdc_cases(root: Path, settings: dict):
    for test, key in ((False, "train_cases"), (True, "test_cases")):
        for number in case_numbers(settings[key]):
            name = f"patient{number:03d}"
            folders = [root / split / name for split in ("training", "testing")]
            folder = next((f for f in folders if f.is_dir()), None)
            if folder is None:
                raise FileNotFoundError(f"{folders[0]}: ACDC patient not found (nor under testing/)")
            info = _info(folder / "Info.cfg")
            frames = []
            for phase in ("ED", "ES"):
                stem = folder / f"{name}_frame{int(info[phase]):02d}"
                frames.append((volumes.load(f"{stem}.nii.gz"), volumes.load(f"{stem}_gt.nii.gz", np.int16)))
            yield from slice_cases(name, *frames, test)


def _frame(volume: Volume, index: int, dtype) -> Volume:
    if volume.array.ndim != 4 or not 0 <= index < volume.array.shape[3]:
        raise ValueError(f"{volume.path}: no frame {index} in a volume of shape {volume.array.shape}")
    return Volume(volume.array[..., index].astype(dtype), volume.affine, volume.path)


def mnms_cases(root: Path, limit: int | None):
    listing = next((p for p in sorted(root.rglob("*.csv")) if "External code" in p.read_text()[:2000]), None)
    if listing is None:
        raise FileNotFoundError(f"{root}: no M&Ms dataset information CSV (with an 'External code' column)")
    with listing.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["External code"])
    used = 0
    for row in rows:
        code = row["External code"].strip()
        images = list(root.rglob(f"{code}/{code}_sa.nii.gz"))
        if not images or not images[0].with_name(f"{code}_sa_gt.nii.gz").exists():
            continue  # unlabelled (the test subjects of some releases)
        image = volumes.load(images[0], dims=(4,))  # cine: the ED and ES frames are taken below
        labels = volumes.load(images[0].with_name(f"{code}_sa_gt.nii.gz"), np.int16, dims=(4,))
        labels.array = volumes.remap(labels.array, MNMS_TO_ACDC)
        frames = [
            (_frame(image, int(row[p]), np.float32), _frame(labels, int(row[p]), np.int16))
            for p in ("ED", "ES")
        ]
        yield from slice_cases(code, *frames, test=True)
        used += 1
        if used == limit:
            return
    if limit is not None and used < limit:
        raise ValueError(f"{listing}: {limit} subjects asked, {used} labelled found")


def prepare(
    source: str, settings: dict, seed: int, out_dir, task: str, source_dir, evaluation_only: bool
) -> Path:
    root = Path(source_dir)
    if source == "acdc":
        recipe = Recipe("ACDC (CC BY-NC-SA 4.0; cite Bernard et al. 2018)", LABELS)
        return paired(
            acdc_cases(root / ACDC_FOLDER, settings), recipe, settings, out_dir, task, evaluation_only
        )
    recipe = Recipe("M&Ms (Campello et al. 2021)", LABELS)
    cases = mnms_cases(root, settings.get("subjects"))
    return paired(cases, recipe, settings, out_dir, task, evaluation_only=True)
