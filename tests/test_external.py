"""External fields: the Learn2Reg layout read back exactly, conventions converted, bad folders
named; `regbench export` → external gives the same fields and metrics."""

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from regbench import cli
from regbench.data.manifest import Manifest
from regbench.evaluate import pair_metrics
from regbench.external import file_stem, to_regbench
from regbench.io import FieldStore, save_fields

SETTINGS = {
    "protocol": "regbench",
    "masked": False,
    "nsd_tolerance_mm": 2.0,
    "sdlogj": "textbook",
    "jacobian_mask": "grid",
    "intensity_metrics": [],
}


def _smooth_fields(manifest, seed=0):
    rng = np.random.default_rng(seed)
    shape = (manifest.ndim, *manifest.data["shape"])
    return {
        p["id"]: np.stack([ndimage.gaussian_filter(c, 4) * 20 for c in rng.normal(size=shape)]).astype(
            np.float32
        )
        for p in manifest.pairs
    }


@pytest.mark.parametrize("suffix", [".nii.gz", ".npz"])
def test_export_then_external_gives_identical_fields_and_metrics(tiny_manifest, tmp_path, suffix):
    tiny_manifest = Manifest.load(tiny_manifest)
    fields = _smooth_fields(tiny_manifest)
    save_fields(tmp_path / "method.npz", fields, {pid: {"runtime_s": 1.0} for pid in fields})
    folder = tmp_path / "submission"
    args = [
        "--manifest",
        str(tiny_manifest.path),
        "--fields",
        str(tmp_path / "method.npz"),
        "--out",
        str(folder),
    ]
    assert cli.main(["export", *args, "--format", suffix]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{file_stem(p)}{suffix}" for p in tiny_manifest.pairs)
    settings = json.dumps({"folder": str(folder), "units": "voxel", "points_into": "moving"})
    imported = tmp_path / "external.npz"
    argv = [
        "import-fields",
        "--manifest",
        str(tiny_manifest.path),
        "--settings",
        settings,
        "--out",
        str(imported),
    ]
    assert cli.main(argv) == 0
    store = FieldStore(imported)
    for pair in tiny_manifest.pairs:
        np.testing.assert_array_equal(store[pair["id"]], fields[pair["id"]])
        assert pair_metrics(tiny_manifest, pair, store[pair["id"]], SETTINGS) == pair_metrics(
            tiny_manifest, pair, fields[pair["id"]], SETTINGS
        )
    assert np.isnan(store.costs[tiny_manifest.pairs[0]["id"]]["runtime_s"])  # not measured here


def test_mm_units_and_the_opposite_direction_are_converted():
    shift = np.zeros((2, 32, 40), np.float32)
    shift[0], shift[1] = 3.0, -2.0  # mm
    voxels = to_regbench(shift, (2.0, 0.5), "mm", "moving")
    assert np.allclose(voxels[0], 1.5) and np.allclose(voxels[1], -4.0)
    # a field that maps moving points to fixed ones: its inverse, composed with it, is the identity
    rng = np.random.default_rng(1)
    v = np.stack([ndimage.gaussian_filter(c, 6) * 30 for c in rng.normal(size=(2, 32, 40))]).astype(
        np.float32
    )
    u = to_regbench(v, (1.0, 1.0), "voxel", "fixed")
    grid = np.indices((32, 40), dtype=np.float32)
    composed = u + np.stack([ndimage.map_coordinates(c, grid + u, order=1, mode="nearest") for c in v])
    assert np.abs(composed[:, 4:-4, 4:-4]).max() < 0.05 < np.abs(v).max()


def test_a_missing_or_malformed_file_is_named(tiny_manifest, tmp_path):
    from regbench.external import import_fields

    tiny_manifest = Manifest.load(tiny_manifest)
    folder = tmp_path / "submission"
    folder.mkdir()
    settings = {"folder": str(folder), "units": "voxel", "points_into": "moving"}
    first, second = tiny_manifest.pairs[:2]
    shape = tuple(tiny_manifest.data["shape"])
    nib.save(
        nib.Nifti1Image(np.zeros((*shape, 2), np.float32), np.eye(4)), folder / f"{file_stem(first)}.nii.gz"
    )
    with pytest.raises(
        FileNotFoundError, match=rf"{file_stem(second)}\.nii\.gz: missing \(pair {second['id']}"
    ):
        import_fields(tiny_manifest.path, settings, tmp_path / "out.npz")
    np.savez(folder / f"{file_stem(second)}.npz", disp=np.zeros((*shape[::-1], 2), np.float32))
    with pytest.raises(ValueError, match=rf"{file_stem(second)}\.npz: a field of shape .*expected"):
        import_fields(tiny_manifest.path, settings, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
