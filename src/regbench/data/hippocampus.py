"""The hippocampus task: MSD Task04 brain MRI crops, inter-subject 3D registration.

Preprocessing, per subject of the official ``dataset.json`` training list (labelled cases):
reoriented to the closest canonical (RAS) orientation with nibabel; kept at the native 1 mm
spacing (every case is 1 mm isotropic, checked); centre-cropped or zero-padded to the task's
``shape``; intensities scaled so that the 1st and 99th percentiles of the image map to 0 and 1,
then clipped to [0, 1]. Labels keep the MSD convention: 1 anterior (head), 2 posterior
(body and tail). The first ``subjects`` cases in id order are used, split train / val / test in
that order; evaluation pairs are ordered inter-subject test pairs, drawn with the seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from regbench.data import manifest
from regbench.data.manifest import split_subjects, test_pairs
from regbench.io import save_image

LABELS = {1: "anterior", 2: "posterior"}
FOLDER = "Task04_Hippocampus"


def fit(array: np.ndarray, shape) -> np.ndarray:
    """Centre-crop or zero-pad ``array`` to ``shape``."""
    out = np.zeros(shape, array.dtype)
    src, dst = [], []
    for n, m in zip(array.shape, shape):
        start = abs(n - m) // 2
        if n >= m:
            src.append(slice(start, start + m))
            dst.append(slice(0, m))
        else:
            src.append(slice(0, n))
            dst.append(slice(start, start + n))
    out[tuple(dst)] = array[tuple(src)]
    return out


def normalise(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [1, 99])
    return np.clip((image - low) / max(high - low, 1e-6), 0, 1).astype(np.float32)


def _load(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    try:
        image = nib.as_closest_canonical(nib.load(path))
        return np.asarray(image.dataobj, dtype=np.float32), tuple(
            float(z) for z in image.header.get_zooms()[:3]
        )
    except Exception as err:  # nibabel raises several unrelated types for broken files
        raise ValueError(f"{path}: cannot read image ({err})") from None


def prepare(settings: dict, seed: int, out_dir: str | Path, task: str, source_dir: str | Path) -> Path:
    """Preprocess the extracted MSD folder ``source_dir`` (holding ``Task04_Hippocampus/``) into
    ``out_dir``; the manifest is written last."""
    root, out_dir = Path(source_dir) / FOLDER, Path(out_dir)
    listing = root / "dataset.json"
    try:
        cases = json.loads(listing.read_text())["training"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{listing}: not an MSD dataset.json with a 'training' list ({err})") from None
    cases = sorted(cases, key=lambda c: c["image"])[: settings["subjects"]]
    if len(cases) < settings["subjects"]:
        raise ValueError(f"{listing}: {settings['subjects']} subjects asked, {len(cases)} labelled cases")
    shape = settings["shape"]
    subjects = {}
    for case in tqdm(cases, desc="hippocampus subjects", unit="subject"):
        sid = Path(case["image"]).name.removesuffix(".nii.gz")
        image, spacing = _load(root / case["image"])
        labels, label_spacing = _load(root / case["label"])
        if image.shape != labels.shape or not np.allclose(spacing, label_spacing):
            raise ValueError(f"{root / case['label']}: grid differs from its image {case['image']}")
        if not np.allclose(spacing, 1.0, atol=1e-3):
            raise ValueError(f"{root / case['image']}: spacing {spacing}, expected 1 mm isotropic")
        entry = {"image": f"subjects/{sid}_image.nii.gz", "labels": f"subjects/{sid}_labels.nii.gz"}
        save_image(out_dir / entry["image"], fit(normalise(image), shape), [1.0] * 3)
        save_image(out_dir / entry["labels"], fit(np.rint(labels).astype(np.int16), shape), [1.0] * 3)
        subjects[sid] = entry
    splits = split_subjects(list(subjects), settings["split"])
    pairs = [
        {"id": pid, "fixed": fixed, "moving": moving}
        for pid, fixed, moving in test_pairs(splits["test"], settings["test_pairs"], seed)
    ]
    source = "Medical Segmentation Decathlon Task04 Hippocampus (CC BY-SA 4.0)"
    return manifest.write(out_dir, task, [1.0] * 3, LABELS, subjects, splits, pairs, source, shape)
