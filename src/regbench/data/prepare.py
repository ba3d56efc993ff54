"""From a dataset's scans to a task's prepared subjects, pairs and manifest.

A dataset module lists its scans (:class:`Scan`) and states its :class:`Recipe` (intensity rule,
label renumbering, orientation); this module puts every scan on the task grid and writes the
manifest. Three designs:

- :func:`unpaired`: inter-subject registration. Every scan is centred on its own grid; subjects
  are split train / val / test (or all test, for an evaluation set) and the evaluation pairs are
  drawn among the test subjects with the seed.
- :func:`listed`: inter-subject, where the dataset's listing names the training images and the
  evaluation pairs (Learn2Reg's LUMIR and AbdomenCTCT): the pairs' subjects are the test split,
  and a training image that is also in a pair is left out of training.
- :func:`paired`: intra-patient registration (lung, cardiac, follow-up CT). The moving scan is
  resampled on its fixed scan's grid, so that their relative position is kept (optionally moved
  by a pre-alignment); training pairs are the training cases' (fixed, moving) scans, evaluation
  pairs the test cases', with their landmarks.

Grid settings (a task's ``data`` section): ``shape``, ``spacing`` (mm per axis) and ``axcodes``
(e.g. ``LIA``; absent: each scan's own axis directions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from regbench.data import manifest, volumes
from regbench.data.manifest import split_subjects, test_pairs
from regbench.data.volumes import Volume


@dataclass
class Recipe:
    """How a dataset's scans become task subjects."""

    source: str  # the dataset's name and terms, for the manifest
    labels: dict[int, str]  # task label id → name
    intensity: dict = field(default_factory=dict)  # see volumes.normalise
    label_map: dict[int, int] | None = None  # dataset label id → task id (None: kept)


@dataclass
class Scan:
    """One image of a dataset: its id, volumes and landmarks (voxels of ``image``)."""

    id: str
    image: Volume
    labels: Volume | None = None
    landmarks: np.ndarray | None = None
    intensity: dict | None = None  # overrides the recipe's (e.g. MR and CT of one pair)
    mask: Volume | None = None  # the dataset's own mask (Learn2Reg masksTr), where it has one


@dataclass
class Case:
    """An intra-patient pair: ``moving`` is registered to ``fixed``."""

    id: str
    fixed: Scan
    moving: Scan
    test: bool  # an evaluation case, else a training case
    centre: np.ndarray | None = None  # world position of the grid's centre (default: the fixed scan's)


def task_grid(settings: dict, scan: Scan, centre=None) -> np.ndarray:
    """The task grid for ``scan``, centred on ``centre`` (world mm) or on the scan's centre."""
    image = scan.image
    axcodes = settings.get("axcodes") if image.array.ndim == 3 else None
    return volumes.grid(
        volumes.directions(axcodes, image),
        settings["spacing"],
        settings["shape"],
        image.centre if centre is None else centre,
        image,
    )


def place(out_dir: Path, scan: Scan, recipe: Recipe, affine: np.ndarray, settings: dict) -> dict:
    """Write ``scan`` resampled on the grid ``affine``; its manifest entry."""
    image = volumes.normalise(
        scan.image.array, recipe.intensity if scan.intensity is None else scan.intensity
    )
    shape = settings["shape"]
    array = volumes.resample(Volume(image, scan.image.affine, scan.image.path), affine, shape, order=1)
    labels = None
    if scan.labels is not None:
        if scan.labels.array.shape != scan.image.array.shape:
            raise ValueError(
                f"{scan.labels.path}: shape {scan.labels.array.shape} differs from its image "
                f"{scan.image.path} {scan.image.array.shape}"
            )
        renumbered = volumes.remap(scan.labels.array, recipe.label_map)
        labels = volumes.resample(Volume(renumbered, scan.labels.affine, scan.labels.path), affine, shape, 0)
    mask = None
    if scan.mask is not None:
        binary = Volume((scan.mask.array > 0).astype(np.int16), scan.mask.affine, scan.mask.path)
        mask = volumes.resample(binary, affine, shape, 0)
    return manifest.write_subject(out_dir, scan.id, array, labels, settings["spacing"], mask)


def write_manifest(
    out_dir, task: str, settings: dict, recipe: Recipe, subjects, splits, pairs, **extra
) -> Path:
    """Write the manifest of ``subjects`` prepared on the grid of ``settings`` by ``recipe``."""
    return manifest.write(
        out_dir,
        task,
        settings["spacing"],
        recipe.labels,
        subjects,
        splits,
        pairs,
        recipe.source,
        settings["shape"],
        **extra,
    )


def unpaired(
    scans, recipe: Recipe, settings: dict, seed: int, out_dir, task: str, evaluation_only: bool
) -> Path:
    """Prepare inter-subject data from ``scans`` (an iterable, loaded lazily; at most
    ``settings['subjects']`` are used when set)."""
    out_dir = Path(out_dir)
    limit = settings.get("subjects")
    subjects = {}
    for scan in tqdm(scans, desc=f"{task} subjects", unit="subject", total=limit):
        subjects[scan.id] = place(out_dir, scan, recipe, task_grid(settings, scan), settings)
        if limit is not None and len(subjects) == limit:
            break
    ids = list(subjects)
    if limit is not None and len(ids) < limit:
        raise ValueError(f"{recipe.source}: {limit} subjects asked, {len(ids)} found")
    if evaluation_only:
        splits = {"train": [], "val": [], "test": ids}
    else:
        splits = split_subjects(ids, settings["split"])
    pairs = [
        {"id": pid, "fixed": fixed, "moving": moving}
        for pid, fixed, moving in test_pairs(splits["test"], settings["test_pairs"], seed)
    ]
    return write_manifest(out_dir, task, settings, recipe, subjects, splits, pairs)


def listed_id(relative: str) -> str:
    """A subject id from a Learn2Reg file name: ``./imagesTr/X_0001_0000.nii.gz`` → ``X_0001``
    (a second modality or time point, ``_0001``, keeps its suffix)."""
    return Path(relative).name.removesuffix(".nii.gz").removesuffix("_0000")


def listed(
    listing: Path,
    training: list[str],
    pairs: list[tuple[str, str]],
    load,
    recipe: Recipe,
    settings: dict,
    out_dir,
    task: str,
) -> Path:
    """Prepare a dataset whose ``listing`` file names its ``training`` images and its evaluation
    ``pairs`` ((fixed, moving) paths; the first ``settings['test_pairs']`` when set);
    ``load(relative, test)`` gives the :class:`Scan` of a path."""
    out_dir, pairs = Path(out_dir), pairs[: settings.get("test_pairs")]
    subjects, splits = {}, {"train": [], "val": [], "test": []}
    evaluated = {listed_id(path) for pair in pairs for path in pair}
    training = [relative for relative in training if listed_id(relative) not in evaluated]
    if len(training) < 2 or not pairs:
        raise ValueError(
            f"{listing}: {len(training)} training images (outside the evaluation pairs) and "
            f"{len(pairs)} evaluation pairs; at least 2 and 1 are needed"
        )

    def add(relative: str, split: str) -> str:
        sid = listed_id(relative)
        if sid not in subjects:
            scan = load(relative, split == "test")
            subjects[sid] = place(out_dir, scan, recipe, task_grid(settings, scan), settings)
            splits[split].append(sid)
        return sid

    for relative in tqdm(training, desc=f"{task} training images", unit="image"):
        add(relative, "train")
    entries = [
        {"id": f"pair-{k:03d}", "fixed": add(fixed, "test"), "moving": add(moving, "test")}
        for k, (fixed, moving) in enumerate(tqdm(pairs, desc=f"{task} evaluation pairs", unit="pair"))
    ]
    return write_manifest(out_dir, task, settings, recipe, subjects, splits, entries)


def paired(
    cases, recipe: Recipe, settings: dict, out_dir, task: str, evaluation_only=False, prealign=None
) -> Path:
    """Prepare intra-patient data from ``cases``. ``prealign(fixed, moving)`` (optional) gives the
    world shift (mm) by which the moving scan's grid is moved before resampling."""
    out_dir = Path(out_dir)
    subjects, splits, pairs, training = {}, {"train": [], "val": [], "test": []}, [], []
    for case in tqdm(cases, desc=f"{task} cases", unit="case"):
        fixed_grid = task_grid(settings, case.fixed, case.centre)
        moving_grid = fixed_grid.copy()
        if prealign is not None:
            moving_grid[:-1, -1] += prealign(case.fixed, case.moving)
        for scan, affine in ((case.fixed, fixed_grid), (case.moving, moving_grid)):
            subjects[scan.id] = place(out_dir, scan, recipe, affine, settings)
            splits["test" if case.test else "train"].append(scan.id)
        if not case.test:
            training.append([case.fixed.id, case.moving.id])
            continue
        pair = {"id": case.id, "fixed": case.fixed.id, "moving": case.moving.id}
        if case.fixed.landmarks is not None and case.moving.landmarks is not None:
            points = (
                volumes.move_points(case.fixed.landmarks, case.fixed.image.affine, fixed_grid),
                volumes.move_points(case.moving.landmarks, case.moving.image.affine, moving_grid),
            )
            for key, array in zip(("fixed_landmarks", "moving_landmarks"), points):
                pair[key] = manifest.write_landmarks(out_dir, f"{case.id}_{key}", array)
        pairs.append(pair)
    if not pairs or not (training or evaluation_only):
        raise ValueError(f"{recipe.source}: {len(training)} training and {len(pairs)} evaluation cases found")
    extra = {"training_pairs": training} if training else {}
    return write_manifest(out_dir, task, settings, recipe, subjects, splits, pairs, **extra)
