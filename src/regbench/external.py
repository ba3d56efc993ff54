"""Displacement fields made elsewhere (a challenge submission, another lab's code, a foundation
model) scored like any method, and any method's fields written out for a leaderboard.

The layout is Learn2Reg's (:mod:`regbench.layout`): one file per pair,
``disp_<fixed>_<moving>.nii.gz`` (or ``.npz``), named by the manifest's subject IDs, channels last
(``[*shape, ndim]``; channels first is read too). The convention of a folder is stated in the
config, per external method:

- ``units``: ``voxel`` (Learn2Reg's) or ``mm`` (divided by the task's spacing);
- ``points_into``: ``moving`` (Learn2Reg's and regbench's: ``warped(x) = moving(x + u(x))``) or
  ``fixed`` (a field on the moving grid that maps moving points to fixed ones; inverted here by
  fixed-point iteration).

Every pair's file must be there, on the task's grid (checked from the file's header, before its
data is read), finite; the first that is not is named. The folder's files are inputs of the import
job, so replacing them rescores that method alone.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from regbench.data.manifest import Manifest, part_of
from regbench.io import FieldStore, atomic_path, require_finite, save_fields
from regbench.layout import SUFFIXES, field_files, file_stem

INVERSION_ITERATIONS = 20


def _npz_member(npz: zipfile.ZipFile) -> str:
    names = [n for n in npz.namelist() if n.endswith(".npy")]
    if not names:
        raise ValueError("no array in the archive")
    return "disp.npy" if "disp.npy" in names else names[0]


def _declared_shape(path: Path) -> tuple[int, ...]:
    """The array shape a field file declares in its header, without reading its data."""
    if path.name.endswith(".npz"):
        with zipfile.ZipFile(path) as npz, npz.open(_npz_member(npz)) as member:
            version = np.lib.format.read_magic(member)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                version, np.lib.format.read_array_header_2_0
            )
            return read_header(member)[0]
    import nibabel as nib

    return tuple(nib.load(path).shape)


def read_field(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The field of ``path`` as ``[ndim, *shape]``, in the file's own units and direction; the
    header's shape is checked first, so a small file declaring a huge array is refused unread."""
    ndim = len(shape)
    expected = (
        f"expected {(*shape, ndim)} (channels last, as Learn2Reg) or {(ndim, *shape)} on the task's grid"
    )
    try:
        declared = tuple(n for n in _declared_shape(path) if n != 1)
    except Exception as err:  # nibabel, zipfile and numpy raise several unrelated types for broken files
        raise ValueError(f"{path}: cannot read the displacement field ({err})") from None
    if declared not in ((*shape, ndim), (ndim, *shape)):
        raise ValueError(f"{path}: a field of shape {declared}; {expected}")
    try:
        if path.name.endswith(".npz"):
            with np.load(path) as npz:
                array = npz[_npz_member(npz.zip)[:-4]]
        else:
            import nibabel as nib

            array = np.asarray(nib.load(path).dataobj)
    except Exception as err:
        raise ValueError(f"{path}: cannot read the displacement field ({err})") from None
    array = np.squeeze(array).astype(np.float32)
    if array.shape == (*shape, ndim):
        array = np.moveaxis(array, -1, 0)
    return require_finite(array, f"{path}: the displacement field")


def _invert(field: np.ndarray) -> np.ndarray:
    """``u`` with ``u(x) = -v(x + u(x))``: the field into the moving image, from ``v`` (moving
    to fixed, on the moving grid)."""
    from scipy import ndimage

    grid = np.indices(field.shape[1:], dtype=np.float32)
    inverse = -field
    for _ in range(INVERSION_ITERATIONS):
        sampled = np.stack(
            [ndimage.map_coordinates(c, grid + inverse, order=1, mode="nearest") for c in field]
        )
        inverse = -sampled
    return inverse


def to_regbench(field: np.ndarray, spacing, units: str, points_into: str) -> np.ndarray:
    """A field in the stated convention as regbench's: voxels, into the moving image."""
    if units == "mm":
        field = field / np.asarray(spacing, np.float32).reshape(-1, *[1] * (field.ndim - 1))
    return field if points_into == "moving" else _invert(field)


def import_fields(
    manifest_path: str | Path, settings: dict, out: str | Path, part: tuple[int, int] = (1, 1)
) -> None:
    """Read every pair's field (of ``part``) from ``settings['folder']`` into a field file."""
    from tqdm import tqdm

    manifest = Manifest.load(manifest_path)
    folder, shape = Path(settings["folder"]), tuple(manifest.data["shape"])
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of external displacement fields")
    fields, costs = {}, {}
    for pair in tqdm(part_of(manifest.pairs, part), desc=f"import {folder.name}", unit="pair", mininterval=2):
        candidates = [folder / f"{file_stem(pair)}{suffix}" for suffix in SUFFIXES]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            raise FileNotFoundError(f"{candidates[0]}: missing (pair {pair['id']}; .npz is read too)")
        field = read_field(path, shape)
        fields[pair["id"]] = to_regbench(field, manifest.spacing, settings["units"], settings["points_into"])
        costs[pair["id"]] = {"runtime_s": float("nan"), "peak_memory_mb": float("nan")}  # not measured here
    save_fields(out, fields, costs, manifest.pairs)


def _check_store(manifest: Manifest, store: FieldStore) -> None:
    """The field file must hold every pair of the manifest, for the same subjects."""
    if store.subjects is None:
        raise ValueError(f"{store.path}: records no subjects per pair (written by an older regbench?)")
    for pair in manifest.pairs:
        recorded = store.subjects.get(pair["id"])
        if recorded is None:
            raise ValueError(
                f"{store.path}: no field for pair {pair['id']} of {manifest.path} (is it another "
                "run's, or one part of a split job?)"
            )
        if recorded != [pair["fixed"], pair["moving"]]:
            raise ValueError(
                f"{store.path}: pair {pair['id']} is {recorded[0]} <- {recorded[1]} there and "
                f"{pair['fixed']} <- {pair['moving']} in {manifest.path}: the manifest is another run's"
            )


def export_fields(
    manifest_path: str | Path, fields_path: str | Path, folder: str | Path, suffix: str, force: bool = False
) -> list[Path]:
    """Write each pair's field of a field file as ``disp_<fixed>_<moving><suffix>`` (voxels,
    into the moving image, channels last) under ``folder``; return the paths. A folder that holds
    files already is refused unless ``force``, which replaces its field files (stale ones of
    another export included)."""
    import nibabel as nib

    manifest, store, folder = Manifest.load(manifest_path), FieldStore(fields_path), Path(folder)
    if suffix not in SUFFIXES:
        raise ValueError(f"format {suffix!r}: expected one of {', '.join(SUFFIXES)}")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: a file, not a folder; --out names the folder to write the fields to")
    present = sorted(folder.iterdir()) if folder.is_dir() else []
    if present and not force:
        raise ValueError(
            f"{folder}: holds {len(present)} file(s) already (e.g. {present[0].name}); choose an empty "
            "folder, or --force to replace its field files"
        )
    _check_store(manifest, store)
    if force:
        for stale in field_files(folder):
            Path(stale).unlink()
    written = []
    for pair in manifest.pairs:
        field = np.moveaxis(store[pair["id"]], 0, -1)
        path = folder / f"{file_stem(pair)}{suffix}"
        with atomic_path(path) as tmp:
            if suffix == ".npz":
                np.savez_compressed(tmp, disp=field)
            else:
                nib.save(
                    nib.Nifti1Image(field, np.diag([*manifest.spacing, *[1.0] * (4 - manifest.ndim)])), tmp
                )
        written.append(path)
    return written
