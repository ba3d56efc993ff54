"""Abdomen CT and MR, 3D: MR → CT (Learn2Reg AbdomenMRCT), CT follow-up → baseline (PSMAReg), both
intra-patient, and inter-subject CT (Learn2Reg AbdomenCTCT).

AbdomenMRCT (§4.4 of the reference notes): case ``i`` is ``AbdomenMRCT_{i:04d}_0000`` (MR, moving)
and ``_0001`` (CT, fixed), in ``imagesTr``/``labelsTr`` (1 liver, 2 spleen, 3 right kidney, 4 left
kidney) or ``imagesTs``/``TSlabelsTs`` (TotalSegmentator ids 5, 1, 2, 3 → 1–4). The paper trains
on 9–16 and evaluates on 1–8 (``train_cases`` / ``test_cases``). MR divided by its 99.9th
percentile and clipped; CT window [-450, 450] → [0, 1]. Pre-alignment, as the paper's
``translation`` setting: the MR's grid is moved by the mean over the organs labelled in both
scans of (MR centroid − CT centroid), in training and evaluation (labels are used here).

PSMAReg (CT–CT): ``PSMAReg_dataset.json`` ``training_paired`` entries (``subject``, ``CT``,
``Follow-up 01 CT``, ``CT Label``, ``Follow-up 01 CT Label``), already affinely aligned and cropped
(160×128×160); the subjects of ``dataset_split.json`` (``train`` / ``test``). Follow-up (moving) →
baseline (fixed); window [-300, 300]; the 8 TotalSegmentator organs 5 liver, 1 spleen, 2 right
kidney, 3 left kidney, 6 stomach, 7 pancreas, 52 aorta, 63 inferior vena cava → 1–8.

AbdomenCTCT (CT–CT inter-subject; public, scripted; not used by the paper, a stand-in for the
gated PSMAReg): ``AbdomenCTCT/AbdomenCTCT_dataset.json`` lists ``training`` images (cases 1–30,
labels in ``labelsTr/``, 192×160×256 at 2 mm, already affinely aligned by Learn2Reg) and the 45
``registration_val`` pairs, which are the evaluation pairs (ID'd ``pair-000``…); their 10 cases are
the test subjects and the other 20 the training subjects. Window [-300, 300] as the CT–CT task's;
the 13 organ labels are kept (1 spleen … 13 left adrenal gland).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from regbench.data import volumes
from regbench.data.cases import case_numbers
from regbench.data.prepare import Case, Recipe, Scan, listed, listed_id, paired
from regbench.io import read_json

MRCT_LABELS = {1: "liver", 2: "spleen", 3: "right kidney", 4: "left kidney"}
TOTALSEGMENTATOR_TO_MRCT = {5: 1, 1: 2, 2: 3, 3: 4}
CTCT_IDS = [5, 1, 2, 3, 6, 7, 52, 63]
CTCT_LABELS = dict(
    enumerate(["liver", "spleen", "right kidney", "left kidney", "stomach", "pancreas", "aorta", "IVC"], 1)
)


CTCT_L2R_LABELS = dict(
    enumerate(
        ["spleen", "right kidney", "left kidney", "gall bladder", "oesophagus", "liver", "stomach", "aorta",
         "IVC", "portal and splenic vein", "pancreas", "right adrenal gland", "left adrenal gland"],
        1,
    )
)  # fmt: skip
CT_WINDOW = {"window": [-300, 300]}


def centroid_shift(fixed: Scan, moving: Scan) -> np.ndarray:
    """Mean over the labels present in both scans of (moving centroid − fixed centroid), world mm."""
    shifts = []
    common = set(np.unique(fixed.labels.array)) & set(np.unique(moving.labels.array)) - {0}
    for label in sorted(common):
        centres = [
            volumes.apply(scan.labels.affine, ndimage.center_of_mass(scan.labels.array == label))
            for scan in (fixed, moving)
        ]
        shifts.append(centres[1] - centres[0])
    return np.mean(shifts, axis=0) if shifts else np.zeros(3)


def _mrct_scan(root: Path, case: int, index: int) -> Scan:
    name = f"AbdomenMRCT_{case:04d}_{index:04d}"
    for images, labels, mapping in (
        ("imagesTr", "labelsTr", None),
        ("imagesTs", "TSlabelsTs", TOTALSEGMENTATOR_TO_MRCT),
    ):
        if (root / images / f"{name}.nii.gz").exists():
            label_volume = volumes.load(root / labels / f"{name}.nii.gz", np.int16)
            label_volume.array = volumes.remap(label_volume.array, mapping)
            intensity = {"percentile": 99.9, "clip": True} if index == 0 else {"window": [-450, 450]}
            return Scan(
                name, volumes.load(root / images / f"{name}.nii.gz"), label_volume, intensity=intensity
            )
    raise FileNotFoundError(
        f"{root}/imagesTr/{name}.nii.gz: AbdomenMRCT case {case} not found (nor in imagesTs)"
    )


def mrct_cases(root: Path, settings: dict):
    for test, key in ((False, "train_cases"), (True, "test_cases")):
        for case in case_numbers(settings[key]):
            yield Case(f"AbdomenMRCT_{case:04d}", _mrct_scan(root, case, 1), _mrct_scan(root, case, 0), test)


def psmareg_cases(root: Path):
    listing, split_file = root / "PSMAReg_dataset.json", root / "dataset_split.json"
    try:
        entries = json.loads(listing.read_text())["training_paired"]
        split = json.loads(split_file.read_text())
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{root}: PSMAReg_dataset.json (training_paired) and dataset_split.json needed ({err})"
        ) from None
    roles = {str(s): False for s in split.get("train", [])} | {str(s): True for s in split.get("test", [])}
    for entry in entries:
        subject = str(entry["subject"])
        if subject not in roles:
            continue
        scans = []
        for image, labels, tag in (
            ("CT", "CT Label", "baseline"),
            ("Follow-up 01 CT", "Follow-up 01 CT Label", "followup"),
        ):
            label_volume = volumes.load(root / entry[labels], np.int16)
            label_volume.array = volumes.remap(label_volume.array, {k: n for n, k in enumerate(CTCT_IDS, 1)})
            scans.append(Scan(f"{subject}_{tag}", volumes.load(root / entry[image]), label_volume))
        yield Case(subject, scans[0], scans[1], roles[subject])


def abdomen_ctct(settings: dict, out_dir, task: str, root: Path) -> Path:
    """AbdomenCTCT: the listed training images and the validation pairs as the evaluation pairs."""
    folder = root / "AbdomenCTCT"
    listing_path = folder / "AbdomenCTCT_dataset.json"
    listing = read_json(listing_path)
    recipe = Recipe("Learn2Reg AbdomenCTCT (BTCV terms)", CTCT_L2R_LABELS, CT_WINDOW)
    training = sorted(entry["image"] for entry in listing.get("training", []))
    pairs = [(e["fixed"], e["moving"]) for e in listing.get("registration_val", [])]

    def load(relative: str, test: bool) -> Scan:
        labels = folder / "labelsTr" / Path(relative).name
        return Scan(listed_id(relative), volumes.load(folder / relative), volumes.load(labels, np.int16))

    return listed(listing_path, training, pairs, load, recipe, settings, out_dir, task)


def prepare(
    source: str, settings: dict, seed: int, out_dir, task: str, source_dir, evaluation_only: bool
) -> Path:
    root = Path(source_dir)
    if source == "abdomen_ctct":
        return abdomen_ctct(settings, out_dir, task, root)
    if source == "abdomen_mrct":
        recipe = Recipe("Learn2Reg AbdomenMRCT (per-source terms in the archive)", MRCT_LABELS)
        cases = mrct_cases(root / "AbdomenMRCT", settings)
        return paired(cases, recipe, settings, out_dir, task, evaluation_only, prealign=centroid_shift)
    recipe = Recipe("PSMAReg (Learn2Reg 2026 terms)", CTCT_LABELS, CT_WINDOW)
    return paired(psmareg_cases(root), recipe, settings, out_dir, task, evaluation_only)
