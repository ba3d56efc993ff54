"""Each dataset family from its official layout to a prepared manifest: miniature archives served
from 127.0.0.1 (download → verify → extract → preprocess → manifest), placed copies of gated
datasets, and the real images of ../shared/data where present."""

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from regbench.data import fetch, registry, sources
from regbench.data.manifest import Manifest
from regbench.data.registry import DataFile
from tests.archives import nifti_bytes, tar_bytes, zip_bytes
from tests.conftest import REPO

SHARED = REPO.parent / "shared/data"


def fetched(server, root, name: str, body: bytes):
    """``name`` downloaded from the local server in place of its registry archive; its folder."""
    dataset = registry.get(name)
    archive = DataFile(
        dataset.files[0].name, server.url(name), hashlib.sha256(body).hexdigest(), extract=True
    )
    server.files[name] = body
    fetch.fetch(dataset, root, [archive])
    return root


def prepared(settings: dict, root, out, task="task", evaluation_only=False) -> Manifest:
    return Manifest.load(sources.prepare(settings, 0, out, task, root, evaluation_only))


def affine(spacing, codes=(1, 1, 1), origin=(0, 0, 0)):
    matrix = np.diag([*(c * s for c, s in zip(codes, spacing)), 1.0])
    matrix[:3, 3] = origin
    return matrix


def blob(shape, centre, radius):
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2


# --- lung: NLST -----------------------------------------------------------------------------------

NLST_SPACING = (2.0, 2.0, 3.0)
NLST_AFFINE = affine(NLST_SPACING, (-1, -1, 1), (40, 30, -200))  # LPS, as the Learn2Reg NLST files
NLST_SHIFT = np.array([1.5, -2.0, 1.0])  # moving keypoints = fixed + this (voxels)


def nlst_archive() -> bytes:
    rng = np.random.default_rng(0)
    members = {}
    for case in (1, 2):
        base = ndimage.gaussian_filter(rng.normal(-600, 300, (20, 24, 16)), 2)
        mask = blob(base.shape, (10, 12, 8), 6).astype(np.uint8)
        points = rng.uniform(4, 12, (5, 3))
        for index, shift in ((0, 0), (1, NLST_SHIFT)):
            name = f"NLST_{case:04d}_{index:04d}"
            image = ndimage.shift(base, shift, order=1).astype(np.int16)
            members[f"NLST/imagesTr/{name}.nii.gz"] = nifti_bytes(image, NLST_AFFINE)
            members[f"NLST/masksTr/{name}.nii.gz"] = nifti_bytes(mask, NLST_AFFINE)
            rows = "\n".join(",".join(f"{v:.5f}" for v in p + shift) for p in points)
            members[f"NLST/keypointsTr/{name}.csv"] = rows.encode()
    members["NLST/NLST_dataset.json"] = b'{"name": "NLST"}'
    return zip_bytes(members)


def test_nlst_pairs_keep_landmark_distances_in_mm(server, tmp_path):
    root = fetched(server, tmp_path / "data", "nlst", nlst_archive())
    settings = {
        "source": "nlst",
        "shape": [32, 32, 32],
        "spacing": [1.5] * 3,
        "train_cases": [1],
        "test_cases": ["2-2"],
    }
    manifest = prepared(settings, root, tmp_path / "out")
    assert manifest.training_pairs == [("NLST_0001_0000", "NLST_0001_0001")]
    assert manifest.split("test") == ["NLST_0002_0000", "NLST_0002_0001"]
    (pair,) = manifest.pairs
    fixed, moving = manifest.landmarks(pair)
    distances = np.linalg.norm((moving - fixed) * 1.5, axis=1)
    np.testing.assert_allclose(distances, np.linalg.norm(NLST_SHIFT * NLST_SPACING), rtol=1e-4)
    image, mask = manifest.image(pair["fixed"]), manifest.label_map(pair["fixed"])
    assert image.shape == (32, 32, 32) and 0 <= image.min() and image.max() <= 1
    assert manifest.labels == {1: "lung"} and set(np.unique(mask)) == {0, 1}
    # the mask keeps its volume in mm³ (6-voxel radius ball at 2 × 2 × 3 mm, resampled at 1.5 mm)
    original = blob((20, 24, 16), (10, 12, 8), 6).sum() * np.prod(NLST_SPACING)
    assert abs(mask.sum() * 1.5**3 - original) / original < 0.1
    with pytest.raises(FileNotFoundError, match=r"NLST_0003_0000\.nii\.gz: NLST case 3 not found"):
        prepared(settings | {"test_cases": [3]}, root, tmp_path / "missing")
    assert not (tmp_path / "missing/manifest.json").exists()


# --- cardiac: ACDC and M&Ms -----------------------------------------------------------------------


def heart(shape, slices_with_lv, rng):
    """Image and ACDC labels (1 RV, 2 myocardium, 3 LV) of a short-axis stack."""
    labels = np.zeros(shape, np.uint8)
    for k in range(shape[2]):
        ring = blob(shape[:2], (26, 22), 11) & ~blob(shape[:2], (26, 22), 6)
        labels[..., k][blob(shape[:2], (10, 22), 5)] = 1
        labels[..., k][ring] = 2
        if k in slices_with_lv:
            labels[..., k][blob(shape[:2], (26, 22), 6)] = 3
    image = labels * 100.0 + rng.uniform(0, 20, shape)
    return image.astype(np.float32), labels


def acdc_archive() -> bytes:
    rng, members = np.random.default_rng(1), {}
    for number, split in ((1, "training"), (2, "testing")):
        folder = f"ACDC/database/{split}/patient{number:03d}"
        members[f"{folder}/Info.cfg"] = b"ED: 1\nES: 7\nGroup: NOR\nNbFrame: 20\n"
        for frame, lv_slices in ((1, range(4)), (7, range(3))):  # slice 3 has no LV at ES
            image, labels = heart((44, 40, 4), lv_slices, rng)
            stem = f"{folder}/patient{number:03d}_frame{frame:02d}"
            members[f"{stem}.nii.gz"] = nifti_bytes(image, affine((1.25, 1.25, 10)))
            members[f"{stem}_gt.nii.gz"] = nifti_bytes(labels, affine((1.25, 1.25, 10)))
    return zip_bytes(members)


def test_acdc_slices_with_all_structures_become_ed_es_pairs(server, tmp_path):
    root = fetched(server, tmp_path / "data", "acdc", acdc_archive())
    settings = {
        "source": "acdc",
        "shape": [48, 48],
        "spacing": [1.5, 1.5],
        "train_cases": [1],
        "test_cases": [2],
    }
    manifest = prepared(settings, root, tmp_path / "out")
    assert [p["id"] for p in manifest.pairs] == ["patient002_s00", "patient002_s01", "patient002_s02"]
    assert manifest.training_pairs == [(f"patient001_s0{k}_ed", f"patient001_s0{k}_es") for k in range(3)]
    pair = manifest.pairs[0]
    assert (pair["fixed"], pair["moving"]) == ("patient002_s00_ed", "patient002_s00_es")
    labels = manifest.label_map(pair["fixed"])
    assert labels.shape == (48, 48) and set(np.unique(labels)) == {0, 1, 2, 3}
    # the window is centred on the ED foreground's box (RV from x 5, ring to x 37, in 1.25 mm voxels)
    rows = np.nonzero(labels.any(axis=1))[0]
    assert abs((rows.min() + rows.max()) / 2 - 23.5) <= 1
    # myocardium area in mm² kept through the resampling from 1.25 to 1.5 mm
    ring = (heart((44, 40, 1), [0], np.random.default_rng())[1] == 2).sum() * 1.25**2
    assert abs((labels == 2).sum() * 1.5**2 - ring) / ring < 0.15
    assert max(manifest.image(s).max() for s in manifest.split("test")) <= 1


def test_mnms_labels_are_renumbered_to_the_acdc_convention(tmp_path):
    root = tmp_path / "data/mnms"
    folder = root / "Training/Labeled/A1B2C3"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    frames = [heart((44, 40, 3), range(3), rng) for _ in range(3)]
    image = np.stack([f[0] for f in frames], axis=3)
    acdc_labels = np.stack([f[1] for f in frames], axis=3)
    mnms_labels = np.choose(acdc_labels, [0, 3, 2, 1]).astype(np.uint8)  # M&Ms: 1 LV, 3 RV
    (folder / "A1B2C3_sa.nii.gz").write_bytes(nifti_bytes(image, affine((1.25, 1.25, 10))))
    (folder / "A1B2C3_sa_gt.nii.gz").write_bytes(nifti_bytes(mnms_labels, affine((1.25, 1.25, 10))))
    (root / "info.csv").write_text("External code,VendorName,ED,ES\nA1B2C3,Siemens,0,2\nZZZ999,GE,0,9\n")
    settings = {"source": "mnms", "shape": [48, 48], "spacing": [1.5, 1.5]}
    manifest = prepared(settings, tmp_path / "data", tmp_path / "out", evaluation_only=True)
    assert len(manifest.pairs) == 3 and manifest.split("train") == []
    labels = manifest.label_map("A1B2C3_s00_ed")
    centre = np.argwhere(labels == 3).mean(axis=0)  # the LV (ACDC 3) is the ring's centre, not the RV
    rv = np.argwhere(labels == 1).mean(axis=0)
    assert centre[0] > rv[0] + 4


# --- brain: OASIS (neurite layout), LUMIR, IXI ------------------------------------------------------


def oasis_archive() -> bytes:
    rng, members = np.random.default_rng(3), {"subjects.txt": b"OASIS_OAS1_0001_MR1\n"}
    for k in (1, 2, 3):
        labels = np.zeros((20, 24, 28), np.uint8)
        labels[2:8, 4:20, 4:24] = 1  # RAS: small x is the subject's left → seg35 1 = L cerebral WM
        labels[12:18, 4:20, 4:24] = 20  # R cerebral WM
        image = (labels > 0) * 0.6 + rng.uniform(0, 0.2, labels.shape)
        folder = f"OASIS_OAS1_{k:04d}_MR1"
        members[f"{folder}/aligned_norm.nii.gz"] = nifti_bytes(image.astype(np.float32))
        members[f"{folder}/aligned_seg35.nii.gz"] = nifti_bytes(labels)
    return tar_bytes(members)


def test_oasis_is_reoriented_losslessly_to_the_task_orientation(server, tmp_path):
    root = fetched(server, tmp_path / "data", "oasis", oasis_archive())
    settings = {
        "source": "oasis",
        "shape": [24, 32, 24],
        "spacing": [1, 1, 1],
        "axcodes": "LIA",
        "test_pairs": 4,
    }
    manifest = prepared(settings, root, tmp_path / "out", evaluation_only=True)
    assert manifest.split("test") == [f"OASIS_OAS1_{k:04d}_MR1" for k in (1, 2, 3)]
    assert len(manifest.pairs) == 4 and len({(p["fixed"], p["moving"]) for p in manifest.pairs}) == 4
    labels = manifest.label_map("OASIS_OAS1_0001_MR1")
    assert (labels == 1).sum() == 6 * 16 * 20 and (labels == 20).sum() == 6 * 16 * 20
    # LIA: axis 0 points to the left, so the left hemisphere has the larger indices
    assert np.argwhere(labels == 1)[:, 0].mean() > np.argwhere(labels == 20)[:, 0].mean()
    assert manifest.labels[1] == "L cerebral WM" and manifest.labels[20] == "R cerebral WM"
    image = manifest.image("OASIS_OAS1_0001_MR1")
    assert image.max() < 0.81  # OASIS is already normalised: kept


def test_lumir_trains_on_its_images_and_evaluates_its_validation_pairs(tmp_path):
    folder = tmp_path / "data/lumir/LUMIR25"
    names = [f"LUMIRMRI_{k:04d}_0000.nii.gz" for k in range(4)]
    rng = np.random.default_rng(4)
    for split, name in zip(["imagesTr", "imagesTr", "imagesVal", "imagesVal"], names):
        (folder / split).mkdir(parents=True, exist_ok=True)
        (folder / split / name).write_bytes(nifti_bytes(rng.uniform(0, 500, (16, 20, 18)).astype(np.float32)))
    (folder / "labelsVal").mkdir()
    aseg = np.zeros((16, 20, 18), np.uint8)
    aseg[2:6, 2:6, 2:6], aseg[8:12, 8:12, 8:12] = 17, 24  # hippocampus; CSF has no seg35 id
    (folder / "labelsVal" / names[2]).write_bytes(nifti_bytes(aseg))
    listing = {
        "training": [{"image": f"./imagesTr/{n}"} for n in names[:2]],
        "validation": [{"fixed": f"./imagesVal/{names[2]}", "moving": f"./imagesVal/{names[3]}"}],
    }
    (folder / "LUMIR25_dataset.json").write_text(json.dumps(listing))
    settings = {"source": "lumir", "shape": [16, 20, 18], "spacing": [1, 1, 1], "axcodes": "RAS"}
    manifest = prepared(settings, tmp_path / "data", tmp_path / "out")
    assert manifest.split("train") == ["LUMIRMRI_0000", "LUMIRMRI_0001"]
    assert manifest.pairs == [{"id": "pair-000", "fixed": "LUMIRMRI_0002", "moving": "LUMIRMRI_0003"}]
    assert set(np.unique(manifest.label_map("LUMIRMRI_0002"))) == {0, 14}  # aseg 17 = seg35 14
    assert not manifest.label_map("LUMIRMRI_0000").any()
    image = manifest.image("LUMIRMRI_0000")
    assert abs(np.percentile(image, 99.99) - 1) < 1e-3  # scaled by its 99.99th percentile


class Payload:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_ixi_pickles_are_read_as_arrays_and_others_are_refused(tmp_path):
    folder = tmp_path / "data/ixi/IXI_data/Test"
    folder.mkdir(parents=True)
    labels = np.zeros((16, 16, 16), np.uint8)
    labels[4:8, 4:8, 4:8] = 2  # aseg 2 = left cerebral WM = seg35 1
    (folder / "subject_1.pkl").write_bytes(pickle.dumps((np.ones((16, 16, 16), np.float32), labels)))
    (folder / "subject_2.pkl").write_bytes(pickle.dumps((np.ones((16, 16, 16), np.float32), labels)))
    settings = {
        "source": "ixi",
        "shape": [16, 16, 16],
        "spacing": [1, 1, 1],
        "axcodes": "LIA",
        "test_pairs": 2,
    }
    manifest = prepared(settings, tmp_path / "data", tmp_path / "out", evaluation_only=True)
    assert (manifest.label_map("subject_1") == np.where(labels == 2, 1, 0)).all()  # no affine: kept as is
    (folder / "subject_3.pkl").write_bytes(pickle.dumps((Payload(), labels)))
    with pytest.raises(ValueError, match=r"subject_3\.pkl: not a TransMorph .*\(refusing builtins\.print\)"):
        prepared(settings | {"subjects": 3}, tmp_path / "data", tmp_path / "out3", evaluation_only=True)


# --- abdomen: AbdomenMRCT ---------------------------------------------------------------------------

ORGANS = {1: (8, 8, 8), 2: (8, 14, 14), 3: (14, 8, 14), 4: (14, 14, 8)}  # voxel centres (CT)
MR_SHIFT = np.array([2, 1, -1])  # voxels (2 mm)


def mrct_archive() -> bytes:
    members = {}
    for case, images, labels_folder, ids in (
        (1, "imagesTr", "labelsTr", {1: 1, 2: 2, 3: 3, 4: 4}),
        (2, "imagesTs", "TSlabelsTs", {1: 5, 2: 1, 3: 2, 4: 3}),  # TotalSegmentator ids
    ):
        for index, shift in ((0, MR_SHIFT), (1, np.zeros(3))):  # 0 MR, 1 CT
            labels = np.zeros((24, 24, 24), np.uint8)
            for organ, centre in ORGANS.items():
                labels[blob(labels.shape, np.add(centre, shift), 2)] = ids[organ]
            image = (labels > 0) * (300.0 if index else 800.0) - (0 if index else 0)
            name = f"AbdomenMRCT_{case:04d}_{index:04d}.nii.gz"
            members[f"AbdomenMRCT/{images}/{name}"] = nifti_bytes(image.astype(np.float32), affine((2, 2, 2)))
            members[f"AbdomenMRCT/{labels_folder}/{name}"] = nifti_bytes(labels, affine((2, 2, 2)))
    return zip_bytes(members)


def test_mrct_pairs_are_prealigned_by_organ_centroids(server, tmp_path):
    root = fetched(server, tmp_path / "data", "abdomen_mrct", mrct_archive())
    settings = {
        "source": "abdomen_mrct",
        "shape": [32, 32, 32],
        "spacing": [2, 2, 2],
        "train_cases": [2],
        "test_cases": [1],
    }
    manifest = prepared(settings, root, tmp_path / "out")
    assert manifest.training_pairs == [("AbdomenMRCT_0002_0001", "AbdomenMRCT_0002_0000")]  # (CT, MR)
    for case in ("0001", "0002"):
        ct, mr = (manifest.label_map(f"AbdomenMRCT_{case}_{i}") for i in ("0001", "0000"))
        assert set(np.unique(mr)) == {0, 1, 2, 3, 4}  # TotalSegmentator ids renumbered for case 2
        for organ in range(1, 5):
            offset = np.subtract(ndimage.center_of_mass(mr == organ), ndimage.center_of_mass(ct == organ))
            assert np.abs(offset).max() < 0.5
    mr_image = manifest.image("AbdomenMRCT_0001_0000")
    assert mr_image.max() == 1  # MR scaled by its 99.9th percentile, clipped


# --- abdomen: AbdomenCTCT (inter-subject, listed pairs) ----------------------------------------------


def ctct_archive(val_cases=((1, 4), (1, 5), (4, 5))) -> bytes:
    rng, members, training = np.random.default_rng(7), {}, []
    for case in range(1, 6):
        name = f"AbdomenCTCT_{case:04d}_0000.nii.gz"
        labels = np.zeros((20, 16, 24), np.uint8)
        labels[blob(labels.shape, (6 + case, 8, 10), 3)], labels[14:18, 4:12, 2:6] = 6, 13  # liver; L adrenal
        image = np.where(labels > 0, 300.0, -1000.0) + rng.uniform(-20, 20, labels.shape)
        members[f"AbdomenCTCT/imagesTr/{name}"] = nifti_bytes(image.astype(np.float32), affine((2, 2, 2)))
        members[f"AbdomenCTCT/labelsTr/{name}"] = nifti_bytes(labels, affine((2, 2, 2)))
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    pairs = [
        {
            "fixed": f"./imagesTr/AbdomenCTCT_{f:04d}_0000.nii.gz",
            "moving": f"./imagesTr/AbdomenCTCT_{m:04d}_0000.nii.gz",
        }
        for f, m in val_cases
    ]
    listing = {"name": "AbdomenCTCT", "training": training, "registration_val": pairs}
    members["AbdomenCTCT/AbdomenCTCT_dataset.json"] = json.dumps(listing).encode()
    return zip_bytes(members)


def test_ctct_evaluates_its_validation_pairs_and_trains_on_the_other_cases(server, tmp_path):
    root = fetched(server, tmp_path / "data", "abdomen_ctct", ctct_archive())
    settings = {"source": "abdomen_ctct", "shape": [24, 16, 24], "spacing": [2, 2, 2], "test_pairs": 2}
    manifest = prepared(settings, root, tmp_path / "out")
    assert manifest.pairs == [
        {"id": "pair-000", "fixed": "AbdomenCTCT_0001", "moving": "AbdomenCTCT_0004"},
        {"id": "pair-001", "fixed": "AbdomenCTCT_0001", "moving": "AbdomenCTCT_0005"},
    ]
    assert manifest.split("test") == ["AbdomenCTCT_0001", "AbdomenCTCT_0004", "AbdomenCTCT_0005"]
    assert manifest.split("train") == ["AbdomenCTCT_0002", "AbdomenCTCT_0003"]  # no evaluated case
    assert manifest.labels[6] == "liver" and manifest.labels[13] == "left adrenal gland"
    assert set(np.unique(manifest.label_map("AbdomenCTCT_0002"))) == {0, 6, 13}
    image = manifest.image("AbdomenCTCT_0002")
    assert image.shape == (24, 16, 24) and image.min() == 0 and image.max() == 1  # window [-300, 300]


def test_ctct_listing_without_training_cases_is_refused_before_any_work(server, tmp_path):
    every_case = ((1, 2), (3, 4), (5, 1))
    root = fetched(server, tmp_path / "data", "abdomen_ctct", ctct_archive(every_case))
    settings = {"source": "abdomen_ctct", "shape": [24, 16, 24], "spacing": [2, 2, 2]}
    message = r"AbdomenCTCT_dataset\.json: 0 training images \(outside the evaluation pairs\)"
    with pytest.raises(ValueError, match=message):
        prepared(settings, root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- every family: bad downloads leave nothing behind -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"), [("nlst", nlst_archive), ("acdc", acdc_archive), ("oasis", oasis_archive)]
)
def test_wrong_or_truncated_archives_leave_no_dataset(server, tmp_path, name, make):
    body = make()
    dataset = registry.get(name)
    server.files[name] = body
    wrong = DataFile(dataset.files[0].name, server.url(name), "0" * 64, extract=True)
    with pytest.raises(ValueError, match="sha256"):
        fetch.fetch(dataset, tmp_path, [wrong])
    cut = body[: len(body) // 2]
    server.files[name] = cut
    truncated = DataFile(
        dataset.files[0].name, server.url(name), hashlib.sha256(cut).hexdigest(), extract=True
    )
    with pytest.raises(ValueError, match="corrupt or truncated"):
        fetch.fetch(dataset, tmp_path, [truncated])
    assert fetch.status(dataset, tmp_path) != "present" and not (tmp_path / name / fetch.STAMP).exists()
    assert not (tmp_path / name / dataset.layout.split("/")[0]).exists()


# --- real images from ../shared/data ----------------------------------------------------------------


def shared(relative: str):
    path = SHARED / relative
    return pytest.mark.skipif(
        not path.exists(), reason=f"{path} absent (../shared/data is not beside this checkout)"
    )


def extracted(relative: str, tmp_path, dataset: str):
    with zipfile.ZipFile(SHARED / relative) as archive:
        archive.extractall(tmp_path / "data" / dataset)
    return tmp_path / "data"


@shared("nlst_mini/NLST_mini.zip")
def test_real_lung_pair_keeps_its_landmark_distances(tmp_path):
    root = extracted("nlst_mini/NLST_mini.zip", tmp_path, "nlst")
    settings = {
        "source": "nlst",
        "shape": [224, 192, 224],
        "spacing": [1.5] * 3,
        "train_cases": [1],
        "test_cases": [1],
    }
    manifest = prepared(settings, root, tmp_path / "out")
    fixed, moving = manifest.landmarks(manifest.pairs[0])
    source = root / "nlst/NLST"
    world = [
        nib.affines.apply_affine(
            nib.load(source / f"imagesTr/NLST_0001_{i}.nii.gz").affine,
            np.loadtxt(source / f"keypointsTr/NLST_0001_{i}.csv", delimiter=","),
        )
        for i in ("0000", "0001")
    ]
    expected = np.linalg.norm(world[0] - world[1], axis=1)
    np.testing.assert_allclose(np.linalg.norm((fixed - moving) * 1.5, axis=1), expected, atol=1e-3)
    assert 34 < expected.mean() < 36.5  # the fixture's documented 35.27 mm
    lung = manifest.label_map(manifest.pairs[0]["fixed"])
    assert all(lung[tuple(np.round(p).astype(int))] for p in fixed)  # the landmarks lie in the lung


@shared("acdc_mini/ACDC_mini.zip")
def test_real_acdc_patients_give_slice_pairs(tmp_path):
    root = extracted("acdc_mini/ACDC_mini.zip", tmp_path, "acdc")
    settings = {
        "source": "acdc",
        "shape": [128, 128],
        "spacing": [1.5, 1.5],
        "train_cases": [1, 11],
        "test_cases": [22],
    }
    manifest = prepared(settings, root, tmp_path / "out")
    assert manifest.pairs and all(p["id"].startswith("patient022_s") for p in manifest.pairs)
    assert len(manifest.training_pairs) >= 10
    for sid in manifest.split("test"):
        assert set(np.unique(manifest.label_map(sid))) == {0, 1, 2, 3}  # every kept slice has all three
    ed, es = (manifest.label_map(manifest.pairs[0][k]) for k in ("fixed", "moving"))
    assert (ed == 3).sum() > (es == 3).sum()  # the LV is larger at end-diastole


def oasis_pair(tmp_path) -> tuple[Path, Manifest]:
    """The shared OASIS pair, extracted and prepared on the paper's brain grid."""
    root = extracted("oasis_pair/OASIS_pair.zip", tmp_path, "oasis")
    settings = {"source": "oasis", "shape": [160, 192, 224], "spacing": [1, 1, 1], "axcodes": "LIA"}
    return root, prepared(settings | {"test_pairs": 1}, root, tmp_path / "out", evaluation_only=True)


@shared("oasis_pair/OASIS_pair.zip")
def test_real_oasis_pair_is_reoriented_without_loss(tmp_path):
    root, manifest = oasis_pair(tmp_path)
    original = np.asarray(nib.load(root / "oasis/OASIS/labelsTr/OASIS_0001_0000.nii.gz").dataobj)
    labels = manifest.label_map("OASIS_0001")
    assert labels.shape == (160, 192, 224)
    assert (np.bincount(labels.ravel(), minlength=36) == np.bincount(original.ravel(), minlength=36)).all()
    other = manifest.label_map("OASIS_0002")
    dice = [
        2 * ((labels == k) & (other == k)).sum() / ((labels == k).sum() + (other == k).sum())
        for k in range(1, 36)
    ]
    assert abs(np.mean(dice) - 0.466) < 0.002  # the fixture's documented unregistered Dice
    # masksTr is carried along for the masked metrics: it is not the label map's foreground
    mask = manifest.mask("OASIS_0001")
    original_mask = np.asarray(nib.load(root / "oasis/OASIS/masksTr/OASIS_0001_0000.nii.gz").dataobj) > 0
    assert mask.sum() == original_mask.sum() and mask.sum() != (labels > 0).sum()


@shared("oasis_pair/OASIS_pair.zip")
def test_masked_learn2reg_jacobian_uses_the_datasets_mask_file(tmp_path):
    """The Learn2Reg evaluator's masked SDlogJ reads masksTr: so must the learn2reg protocol."""
    from regbench.evaluate import pair_metrics
    from regbench.metrics import jacobian_determinant
    from regbench.metrics.learn2reg import jacobian_statistics

    _, manifest = oasis_pair(tmp_path)
    pair = manifest.pairs[0]
    rng = np.random.default_rng(0)
    disp = np.stack([ndimage.gaussian_filter(rng.normal(size=(160, 192, 224)), 6) * 40 for _ in range(3)])
    disp = disp.astype(np.float32)
    evaluation = {"protocol": "learn2reg", "masked": True, "nsd_tolerance_mm": 1.0, "intensity_metrics": []}
    rows = {
        metric: value for label, metric, value in pair_metrics(manifest, pair, disp, evaluation) if not label
    }
    det = jacobian_determinant(disp)
    own = jacobian_statistics(det, manifest.mask(pair["fixed"]))
    by_labels = jacobian_statistics(det, manifest.label_map(pair["fixed"]) > 0)
    assert rows["sdlogj"] == own["sdlogj"] != by_labels["sdlogj"]


# --- the other readers, from placed copies of their layouts ------------------------------------------


def place_brains(root, folder: str, names: list[tuple[str, str]], ids: tuple[int, int]):
    """A small brain (image, label map with ``ids``) at each ``(image, labels)`` path of ``root/folder``."""
    rng = np.random.default_rng(5)
    for image_path, label_path in names:
        labels = np.zeros((16, 18, 20), np.int16)
        labels[2:8, 3:15, 4:16], labels[9:14, 3:15, 4:16] = ids
        for path, array in (
            (image_path, rng.uniform(0, 900, labels.shape).astype(np.float32)),
            (label_path, labels),
        ):
            (root / folder / path).parent.mkdir(parents=True, exist_ok=True)
            (root / folder / path).write_bytes(nifti_bytes(array))


BRAIN = {"shape": [16, 20, 18], "spacing": [1, 1, 1], "axcodes": "LIA", "test_pairs": 2}


def test_lpba40_keeps_its_structure_ids(tmp_path):
    stem = "LPBA40/delineation_space/S0{k}/S0{k}.delineation"
    names = [
        (f"{stem}.skullstripped.nii.gz".format(k=k), f"{stem}.structure.label.nii.gz".format(k=k))
        for k in (1, 2)
    ]
    place_brains(tmp_path, "lpba40", names, (21, 182))
    manifest = prepared(BRAIN | {"source": "lpba40"}, tmp_path, tmp_path / "out", evaluation_only=True)
    assert manifest.split("test") == ["S01", "S02"] and len(manifest.labels) == 56
    assert set(np.unique(manifest.label_map("S01"))) == {0, 21, 182}


def test_mindboggle_scores_aseg_structures_only_and_leaves_out_colin27(tmp_path):
    stem = "OASIS-TRT-20_volumes/{s}/"
    subjects = ["OASIS-TRT-20-1", "OASIS-TRT-20-2", "Colin27-1"]
    names = [
        (
            f"{stem}t1weighted_brain.MNI152.nii.gz".format(s=s),
            f"{stem}labels.DKT31.manual+aseg.MNI152.nii.gz".format(s=s),
        )
        for s in subjects
    ]
    place_brains(tmp_path, "mindboggle", names, (17, 1002))  # aseg left hippocampus; a DKT cortical label
    manifest = prepared(BRAIN | {"source": "mindboggle"}, tmp_path, tmp_path / "out", evaluation_only=True)
    assert manifest.split("test") == ["OASIS-TRT-20-1", "OASIS-TRT-20-2"]
    assert set(np.unique(manifest.label_map("OASIS-TRT-20-1"))) == {0, 14}  # seg35 14 = L hippocampus
    image = manifest.image("OASIS-TRT-20-1")
    assert abs(np.percentile(image, 99.99) - 1) < 1e-3


def test_adni_follows_its_evaluation_list(tmp_path):
    place_brains(
        tmp_path,
        "adni",
        [(f"FS72/{u}/norm.nii.gz", f"FS72/{u}/aseg.nii.gz") for u in ("101", "202")],
        (2, 41),
    )
    (tmp_path / "adni/splits").mkdir()
    (tmp_path / "adni/splits/test_small.csv").write_text("IMAGEUID,Group\n202,AD\n101,CN\n")
    manifest = prepared(BRAIN | {"source": "adni"}, tmp_path, tmp_path / "out", evaluation_only=True)
    assert manifest.split("test") == ["ADNI_202", "ADNI_101"]
    assert set(np.unique(manifest.label_map("ADNI_101"))) == {0, 1, 20}  # L and R cerebral WM
    image = manifest.image("ADNI_101")
    assert image.min() == 0 and image.max() == 1  # min-max


def test_lung250m_cases_read_their_six_column_landmarks(tmp_path):
    root = tmp_path / "lung250m"
    (root / "imagesTs").mkdir(parents=True)
    (root / "landmarkTs").mkdir()
    rng = np.random.default_rng(6)
    for index in (1, 2):
        image = rng.uniform(-1000, 200, (20, 20, 20)).astype(np.float32)
        (root / f"imagesTs/case_002_{index}.nii.gz").write_bytes(nifti_bytes(image, affine((1.0, 1.0, 2.0))))
    moving, fixed = rng.uniform(5, 15, (4, 3)), rng.uniform(5, 15, (4, 3))
    np.savetxt(root / "landmarkTs/case_002.csv", np.hstack([moving, fixed]), delimiter=",")
    settings = {"source": "lung250m", "shape": [32, 32, 32], "spacing": [1.5] * 3, "cases": [2]}
    manifest = prepared(settings, tmp_path, tmp_path / "out", evaluation_only=True)
    (pair,) = manifest.pairs
    assert (pair["id"], pair["fixed"], pair["moving"]) == ("case_002", "case_002_2", "case_002_1")
    points = manifest.landmarks(pair)
    expected = np.linalg.norm((moving - fixed) * [1, 1, 2], axis=1)
    np.testing.assert_allclose(np.linalg.norm((points[1] - points[0]) * 1.5, axis=1), expected, rtol=1e-4)


def test_psmareg_pairs_follow_the_split_and_keep_eight_organs(tmp_path):
    root = tmp_path / "psmareg"
    entries = []
    for subject in ("s1", "s2"):
        labels = np.zeros((16, 16, 16), np.uint8)
        labels[2:6, 2:6, 2:6], labels[8:12, 8:12, 8:12], labels[0, 0, 0] = 5, 52, 99  # liver, aorta, other
        files = {}
        for key in ("CT", "Follow-up 01 CT"):
            stem = f"{subject}_{'fu' if 'Follow' in key else 'bl'}"
            (root / "imgs").mkdir(parents=True, exist_ok=True)
            (root / f"imgs/{stem}.nii.gz").write_bytes(nifti_bytes(np.full(labels.shape, 40.0, np.float32)))
            (root / f"imgs/{stem}_seg.nii.gz").write_bytes(nifti_bytes(labels))
            files |= {key: f"imgs/{stem}.nii.gz", f"{key} Label": f"imgs/{stem}_seg.nii.gz"}
        entries.append({"subject": subject, **files})
    (root / "PSMAReg_dataset.json").write_text(json.dumps({"training_paired": entries}))
    (root / "dataset_split.json").write_text(json.dumps({"train": ["s1"], "val": [], "test": ["s2"]}))
    settings = {"source": "psmareg", "shape": [16, 16, 16], "spacing": [1, 1, 1]}
    manifest = prepared(settings, tmp_path, tmp_path / "out")
    assert manifest.training_pairs == [("s1_baseline", "s1_followup")]
    assert manifest.pairs == [{"id": "s2", "fixed": "s2_baseline", "moving": "s2_followup"}]
    assert set(np.unique(manifest.label_map("s2_followup"))) == {0, 1, 7}  # liver 1, aorta 7; id 99 dropped
    assert manifest.image("s2_baseline").max() == pytest.approx((40 + 300) / 600)  # window [-300, 300]
