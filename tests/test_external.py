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
    costs = {pid: {"runtime_s": 1.0} for pid in fields}
    save_fields(tmp_path / "method.npz", fields, costs, tiny_manifest.pairs)
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


def _npy_header_only(shape) -> bytes:
    """The bytes of a .npy file that declares a float32 array of ``shape`` and holds 16 bytes of it."""
    import io

    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue() + bytes(16)


def test_a_small_file_declaring_a_huge_field_is_refused_from_its_header(tiny_manifest, tmp_path):
    """A 400³×3 field would take 768 MB: the header is read, the data never."""
    import gzip
    import zipfile

    from regbench.external import read_field

    shape = tuple(Manifest.load(tiny_manifest).data["shape"])
    npz = tmp_path / "disp_a_b.npz"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("disp.npy", _npy_header_only((400, 400, 400, 3)))
    header = nib.Nifti1Header()
    header.set_data_shape((400, 400, 400, 3))
    header.set_data_dtype(np.float32)
    nii = tmp_path / "disp_a_b.nii.gz"
    nii.write_bytes(gzip.compress(header.binaryblock + bytes(4 + 16)))  # header, extension flag, no data
    for path in (npz, nii):
        assert path.stat().st_size < 2000
        with pytest.raises(
            ValueError, match=rf"{path.name}: a field of shape \(400, 400, 400, 3\); expected"
        ):
            read_field(path, shape)


def _exported(tiny_manifest, tmp_path):
    manifest = Manifest.load(tiny_manifest)
    fields = _smooth_fields(manifest)
    store = tmp_path / "method.npz"
    save_fields(store, fields, {pid: {} for pid in fields}, manifest.pairs)
    return manifest, store


def test_export_refuses_a_folder_with_files_unless_forced_and_then_leaves_no_stale_field(
    tiny_manifest, tmp_path
):
    from regbench.external import export_fields

    manifest, store = _exported(tiny_manifest, tmp_path)
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "disp_old_other.nii.gz").write_bytes(b"another export's field")
    with pytest.raises(ValueError, match=rf"{folder}: holds 1 file\(s\) already .*--force"):
        export_fields(manifest.path, store, folder, ".npz")
    assert sorted(p.name for p in folder.iterdir()) == ["disp_old_other.nii.gz"]
    written = export_fields(manifest.path, store, folder, ".npz", force=True)
    assert sorted(folder.iterdir()) == sorted(written) and len(written) == len(manifest.pairs)
    afile = tmp_path / "a_file"
    afile.write_text("")
    assert (
        cli.main(["export", "--manifest", str(manifest.path), "--fields", str(store), "--out", str(afile)])
        == 1
    )


def test_export_refuses_another_runs_manifest(tiny_manifest, tmp_path):
    """Same pair IDs, other subjects: the fields would be written under the wrong names."""
    from regbench.external import export_fields

    manifest, store = _exported(tiny_manifest, tmp_path)
    other = json.loads(manifest.path.read_text())
    first = other["pairs"][0]
    first["fixed"], first["moving"] = first["moving"], first["fixed"]
    other_path = tmp_path / "other" / "manifest.json"
    other_path.parent.mkdir()
    other_path.write_text(json.dumps(other))
    for name in ("images", "labels"):  # the other manifest's relative paths resolve beside it
        if (manifest.path.parent / name).exists():
            (other_path.parent / name).symlink_to(manifest.path.parent / name)
    with pytest.raises(
        ValueError, match=rf"pair {first['id']} is .* in {other_path}: the manifest is another run's"
    ):
        export_fields(other_path, store, tmp_path / "out", ".npz")
    assert not (tmp_path / "out").exists()
