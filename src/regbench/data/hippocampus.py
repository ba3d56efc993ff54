"""The hippocampus task: MSD Task04 brain MRI crops, inter-subject 3D registration.

Preprocessing, per subject of the official ``dataset.json`` training list (labelled cases), in id
order: reoriented to ``axcodes`` (RAS) at ``spacing`` (every case is 1 mm already, so this only
permutes and flips), centre-cropped or zero-padded to ``shape``; intensities scaled so that the
1st and 99th percentiles map to 0 and 1, then clipped to [0, 1]. Labels keep the MSD convention:
1 anterior (head), 2 posterior (body and tail). The first ``subjects`` cases are split train / val
/ test in that order; evaluation pairs are ordered inter-subject test pairs, drawn with the seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from regbench.data import volumes
from regbench.data.prepare import Recipe, Scan, unpaired

LABELS = {1: "anterior", 2: "posterior"}
FOLDER = "Task04_Hippocampus"
RECIPE = Recipe(
    "Medical Segmentation Decathlon Task04 Hippocampus (CC BY-SA 4.0)",
    LABELS,
    {"percentile": 99, "low": 1, "clip": True},
)


def scans(root: Path):
    listing = root / "dataset.json"
    try:
        cases = json.loads(listing.read_text())["training"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{listing}: not an MSD dataset.json with a 'training' list ({err})") from None
    for case in sorted(cases, key=lambda c: c["image"]):
        sid = Path(case["image"]).name.removesuffix(".nii.gz")
        yield Scan(sid, volumes.load(root / case["image"]), volumes.load(root / case["label"], np.int16))


def prepare(
    source: str, settings: dict, seed: int, out_dir, task: str, source_dir, evaluation_only: bool
) -> Path:
    """Preprocess the extracted MSD folder ``source_dir`` (holding ``Task04_Hippocampus/``)."""
    return unpaired(scans(Path(source_dir) / FOLDER), RECIPE, settings, seed, out_dir, task, evaluation_only)
