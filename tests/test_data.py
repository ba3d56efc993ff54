import json
from pathlib import Path

import numpy as np
import pytest

from regbench.data.manifest import Manifest
from regbench.evaluate import warp_array
from regbench.metrics import dice_per_label


def test_demo_study_has_split_pairs_and_labels(tiny_manifest):
    manifest = Manifest.load(tiny_manifest)
    splits = {k: manifest.split(k) for k in ("train", "val", "test")}
    assert len(splits["train"]) == 3 and len(splits["test"]) == 3
    assert not set(splits["train"]) & set(splits["test"])
    assert [p["id"] for p in manifest.pairs] == ["pair-000", "pair-001", "pair-002"]
    for pair in manifest.pairs:
        assert pair["fixed"] in splits["test"] and pair["moving"] in splits["test"]
    labels = manifest.label_map(manifest.split("train")[0])
    assert set(np.unique(labels)) == {0, *manifest.labels}
    image = manifest.image(manifest.split("train")[0])
    assert image.shape == (48, 64) and 0 <= image.min() and image.max() <= 1


def test_true_displacement_maps_moving_labels_onto_fixed(tiny_manifest):
    manifest = Manifest.load(tiny_manifest)
    for pair in manifest.pairs:
        fixed, moving = manifest.label_map(pair["fixed"]), manifest.label_map(pair["moving"])
        truth = manifest.true_displacement(pair)
        warped = np.rint(warp_array(moving, truth, "nearest")).astype(np.int16)
        before = np.nanmean(list(dice_per_label(fixed, moving, manifest.labels).values()))
        after = np.nanmean(list(dice_per_label(fixed, warped, manifest.labels).values()))
        assert after > before + 0.05


def test_demo_study_is_reproducible(tiny_manifest, tmp_path):
    from regbench.data import demo
    from tests.conftest import TINY_DATA

    again = Manifest.load(demo.prepare(TINY_DATA, 0, tmp_path, "tiny"))
    first = Manifest.load(tiny_manifest)
    sid = first.split("test")[0]
    assert np.array_equal(first.image(sid), again.image(sid))


def test_manifest_errors_name_the_file(tmp_path, tiny_manifest):
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"task": "x"}))
    with pytest.raises(ValueError, match=f"{bad}: manifest lacks"):
        Manifest.load(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Manifest.load(bad)
    data = json.loads(Path(tiny_manifest).read_text())
    data["pairs"][1]["moving"] = "subject-missing"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"{bad}: pairs name subjects .*pair-001: 'subject-missing'"):
        Manifest.load(bad)
    data = json.loads(Path(tiny_manifest).read_text())
    data["splits"]["train"].append("sub-gone")
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"{bad}: splits name subjects .*train: 'sub-gone'"):
        Manifest.load(bad)


def test_images_that_are_not_one_volume_are_refused_with_the_file_named(tmp_path):
    from regbench.data import volumes
    from regbench.io import save_image

    save_image(tmp_path / "4d.nii.gz", np.zeros((4, 5, 6, 2), np.float32), (1, 1, 1))
    with pytest.raises(ValueError, match=r"4d.nii.gz: a 4D image of shape \(4, 5, 6, 2\); expected 2D or 3D"):
        volumes.load(tmp_path / "4d.nii.gz")
    save_image(tmp_path / "singleton.nii.gz", np.zeros((4, 5, 6, 1), np.float32), (1, 1, 1))
    assert volumes.load(tmp_path / "singleton.nii.gz").array.shape == (4, 5, 6)
