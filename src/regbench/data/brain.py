"""Brain MRI, inter-subject: trained on LUMIR, evaluated zero-shot on OASIS, IXI, LPBA40,
Mindboggle-101 and ADNI (each an evaluation set of the brain task).

Preprocessing, as in the paper (§4.1 of the reference notes) unless said:
- every scan reoriented to ``axcodes`` (the paper's LIA gives 160×192×224 at 1 mm) and centre
  cropped or padded to ``shape``; resampled only where a scan's spacing differs from ``spacing``;
- intensities: LUMIR, LPBA40 and Mindboggle divided by their 99.99th percentile (negatives → 0,
  no upper clip); ADNI min-max to [0, 1]; OASIS and IXI are already normalised and kept;
- labels in one convention, the 35 structures of neurite's OASIS "seg35" (FreeSurfer aseg ids
  2, 3, 4, 5, 7, 8, 10–18, 26, 28, 30, 31, 41–44, 46, 47, 49–54, 58, 60, 62, 63 → 1–35; the paper
  one-hot encodes the same 35 aseg ids for ADNI, IXI and Mindboggle). Mindboggle's cortical DKT
  labels are not scored, as in the paper. LPBA40 keeps its own 56 structure ids;
- evaluation pairs: ``test_pairs`` ordered inter-subject pairs drawn with the seed among the
  first ``subjects`` scans (deviation: the paper draws, per subject, one random later partner,
  topped up to 200 pairs).

Layouts: LUMIR ``LUMIR25/LUMIR25_dataset.json`` (``training`` images; ``validation`` pairs, labels
in ``labelsVal/``); OASIS neurite (``OASIS_OAS1_*/aligned_norm.nii.gz`` + ``aligned_seg35``) or
Learn2Reg (``OASIS/OASIS_dataset.json``); IXI TransMorph pickles ``IXI_data/Test/*.pkl`` (no
affine: taken to be in the task orientation); LPBA40 ``S??/S??.delineation.skullstripped`` and
``.structure.label`` images; Mindboggle ``*/t1weighted_brain.MNI152.nii.gz`` +
``labels.DKT31.manual+aseg.MNI152.nii.gz`` (Colin27-1 excluded, as in the paper); ADNI
``splits/test_small.csv`` (``IMAGEUID``) → ``FS72/<uid>/{norm,aseg}.nii.gz``.
"""

from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path

import numpy as np

from regbench.data import volumes
from regbench.data.prepare import Recipe, Scan, listed, listed_id, unpaired
from regbench.data.volumes import Volume
from regbench.io import read_json

SEG35_NAMES = [
    "cerebral WM", "cortex", "lateral ventricle", "inf. lat. ventricle", "cerebellum WM",
    "cerebellum cortex", "thalamus", "caudate", "putamen", "pallidum",
]  # fmt: skip
SEG35 = {
    **{k + 1: f"L {n}" for k, n in enumerate(SEG35_NAMES)},
    11: "3rd ventricle", 12: "4th ventricle", 13: "brain stem", 14: "L hippocampus", 15: "L amygdala",
    16: "L accumbens", 17: "L ventral DC", 18: "L vessel", 19: "L choroid plexus",
    **{20 + k: f"R {n}" for k, n in enumerate(SEG35_NAMES)},
    30: "R hippocampus", 31: "R amygdala", 32: "R accumbens", 33: "R ventral DC", 34: "R vessel",
    35: "R choroid plexus",
}  # fmt: skip
ASEG_IDS = [2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26, 28, 30, 31,
            41, 42, 43, 44, 46, 47, 49, 50, 51, 52, 53, 54, 58, 60, 62, 63]  # fmt: skip
ASEG_TO_SEG35 = {aseg: k + 1 for k, aseg in enumerate(ASEG_IDS)}
LPBA40_IDS = [*range(21, 35), *range(41, 51), *range(61, 69), *range(81, 93), 101, 102, 121, 122,
              *range(161, 167), 181, 182]  # fmt: skip
PERCENTILE = {"percentile": 99.99}


def _scan(sid: str, image: Path, labels: Path | None, mask: Path | None = None) -> Scan:
    load = volumes.load
    return Scan(
        sid,
        load(image),
        None if labels is None else load(labels, np.int16),
        mask=None if mask is None else load(mask, np.int16),
    )


def oasis_scans(root: Path):
    learn2reg = root / "OASIS/OASIS_dataset.json"
    if learn2reg.exists():
        for entry in sorted(read_json(learn2reg)["training"], key=lambda e: e["image"]):
            sid = listed_id(entry["image"])
            mask = learn2reg.parent / entry["mask"] if "mask" in entry else None  # the masked metrics'
            yield _scan(sid, learn2reg.parent / entry["image"], learn2reg.parent / entry["label"], mask)
        return
    folders = sorted(p.parent for p in root.glob("OASIS_OAS1_*/aligned_norm.nii.gz"))
    if not folders:
        raise FileNotFoundError(
            f"{root}: neither OASIS/OASIS_dataset.json nor OASIS_OAS1_*/aligned_norm.nii.gz"
        )
    for folder in folders:
        yield _scan(folder.name, folder / "aligned_norm.nii.gz", folder / "aligned_seg35.nii.gz")


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and tuples only: a pickle from elsewhere cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}  # fmt: skip

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return super().find_class(module, name)


def ixi_scans(root: Path, axcodes: str | None):
    files = sorted((root / "IXI_data/Test").glob("*.pkl"))
    if not files:
        raise FileNotFoundError(f"{root / 'IXI_data/Test'}: no TransMorph IXI pickles (*.pkl)")
    affine = np.eye(4)
    affine[:3, :3] = volumes.directions(axcodes or "RAS", None)
    for path in files:
        try:
            image, labels = _ArraysOnly(io.BytesIO(path.read_bytes())).load()[:2]
        except Exception as err:  # pickle raises several types for foreign or broken files
            raise ValueError(f"{path}: not a TransMorph (image, labels) pickle ({err})") from None
        yield Scan(
            path.stem,
            Volume(np.asarray(image, np.float32), affine, path),
            Volume(np.asarray(labels, np.int16), affine, path),
        )


def lpba40_scans(root: Path):
    images = sorted(p for p in root.rglob("S*.delineation.skullstripped.*") if ".hdr" not in p.name)
    if not images:
        raise FileNotFoundError(f"{root}: no LPBA40 S??.delineation.skullstripped images")
    for image in images:
        sid = image.name.split(".")[0]
        labels = [
            p for p in image.parent.glob(f"{sid}.delineation.structure.label.*") if ".hdr" not in p.name
        ]
        if not labels:
            raise FileNotFoundError(f"{image.parent}: no {sid}.delineation.structure.label image")
        yield _scan(sid, image, labels[0])


def mindboggle_scans(root: Path):
    images = sorted(root.rglob("t1weighted_brain.MNI152.nii.gz"))
    if not images:
        raise FileNotFoundError(f"{root}: no */t1weighted_brain.MNI152.nii.gz")
    for image in images:
        if image.parent.name != "Colin27-1":
            yield _scan(image.parent.name, image, image.with_name("labels.DKT31.manual+aseg.MNI152.nii.gz"))


def adni_scans(root: Path):
    listing = root / "splits/test_small.csv"
    try:
        with listing.open(newline="") as handle:
            uids = [row["IMAGEUID"].strip() for row in csv.DictReader(handle)]
    except (FileNotFoundError, KeyError) as err:
        raise ValueError(
            f"{listing}: an ADNI evaluation list with an IMAGEUID column is needed ({err})"
        ) from None
    for uid in uids:
        yield _scan(f"ADNI_{uid}", root / "FS72" / uid / "norm.nii.gz", root / "FS72" / uid / "aseg.nii.gz")


def lumir(settings: dict, out_dir: Path, task: str, root: Path) -> Path:
    """LUMIR: training images (unlabelled) and the validation pairs as the task's evaluation pairs."""
    folder = root / "LUMIR25"
    listing_path = folder / "LUMIR25_dataset.json"
    listing = read_json(listing_path)
    recipe = Recipe("LUMIR 2025 (Learn2Reg; OpenBHB, CC BY 4.0)", SEG35, PERCENTILE, ASEG_TO_SEG35)
    training = sorted(entry["image"] for entry in listing.get("training", []))[: settings.get("subjects")]
    pairs = [(e["fixed"], e["moving"]) for e in listing.get("validation", [])]

    def load(relative: str, test: bool) -> Scan:
        labels = folder / "labelsVal" / Path(relative).name
        return _scan(listed_id(relative), folder / relative, labels if test and labels.exists() else None)

    return listed(listing_path, training, pairs, load, recipe, settings, out_dir, task)


def prepare(
    source: str, settings: dict, seed: int, out_dir, task: str, source_dir, evaluation_only: bool
) -> Path:
    root = Path(source_dir)
    if source == "lumir":
        return lumir(settings, Path(out_dir), task, root)
    lpba40_labels = {k: f"LPBA40 structure {k}" for k in LPBA40_IDS}
    recipe, scans = {
        "oasis": (Recipe("OASIS-1 (OASIS data use agreement)", SEG35), oasis_scans(root)),
        "ixi": (Recipe("IXI (CC BY-SA 3.0), TransMorph preprocessing", SEG35, {}, ASEG_TO_SEG35),
                ixi_scans(root, settings.get("axcodes"))),
        "lpba40": (Recipe("LPBA40 (LONI terms)", lpba40_labels, PERCENTILE), lpba40_scans(root)),
        "mindboggle": (Recipe("Mindboggle-101 (CC BY-NC-SA 3.0)", SEG35, PERCENTILE, ASEG_TO_SEG35),
                       mindboggle_scans(root)),
        "adni": (Recipe("ADNI (data use agreement)", SEG35, {"min_max": True}, ASEG_TO_SEG35),
                 adni_scans(root)),
    }[source]  # fmt: skip
    return unpaired(scans, recipe, settings, seed, out_dir, task, evaluation_only)
