"""Displacement fields made elsewhere (a challenge submission, another lab's code, a foundation
model) scored like any method, and any method's fields written out for a leaderboard.

The layout is Learn2Reg's: one file per pair, ``disp_<fixed>_<moving>.nii.gz`` (or ``.npz``),
named by the manifest's subject IDs, channels last (``[*shape, ndim]``; channels first is read
too). The convention of a folder is stated in the config, per external method:

- ``units``: ``voxel`` (Learn2Reg's) or ``mm`` (divided by the task's spacing);
- ``points_into``: ``moving`` (Learn2Reg's and regbench's: ``warped(x) = moving(x + u(x))``) or
  ``fixed`` (a field on the moving grid that maps moving points to fixed ones; inverted here by
  fixed-point iteration).

Every pair's file must be there, on the task's grid, finite; the first that is not is named.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from regbench.data.manifest import Manifest, part_of
from regbench.io import FieldStore, atomic_path, require_finite, save_fields

SUFFIXES = (".nii.gz", ".npz")
INVERSION_ITERATIONS = 20


def file_stem(pair: dict) -> str:
    return f"disp_{pair['fixed']}_{pair['moving']}"


def read_field(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The field of ``path`` as ``[ndim, *shape]``, in the file's own units and direction."""
    try:
        if path.name.endswith(".npz"):
            with np.load(path) as npz:
                array = npz["disp"] if "disp" in npz.files else npz[npz.files[0]]
        else:
            array = np.asarray(nib.load(path).dataobj)
    except Exception as err:  # nibabel and numpy raise several unrelated types for broken files
        raise ValueError(f"{path}: cannot read the displacement field ({err})") from None
    ndim = len(shape)
    array = np.squeeze(array).astype(np.float32)
    if array.shape == (*shape, ndim):
        array = np.moveaxis(array, -1, 0)
    elif array.shape != (ndim, *shape):
        raise ValueError(
            f"{path}: a field of shape {array.shape}; expected {(*shape, ndim)} (channels last, as "
            f"Learn2Reg) or {(ndim, *shape)} on the task's grid"
        )
    return require_finite(array, f"{path}: the displacement field")


def _invert(field: np.ndarray) -> np.ndarray:
    """``u`` with ``u(x) = -v(x + u(x))``: the field into the moving image, from ``v`` (moving
    to fixed, on the moving grid)."""
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
    save_fields(out, fields, costs)


def export_fields(
    manifest_path: str | Path, fields_path: str | Path, folder: str | Path, suffix: str
) -> list[Path]:
    """Write each pair's field of a field file as ``disp_<fixed>_<moving><suffix>`` (voxels,
    into the moving image, channels last) under ``folder``; return the paths."""
    manifest, store = Manifest.load(manifest_path), FieldStore(fields_path)
    if suffix not in SUFFIXES:
        raise ValueError(f"format {suffix!r}: expected one of {', '.join(SUFFIXES)}")
    written = []
    for pair in manifest.pairs:
        field = np.moveaxis(store[pair["id"]], 0, -1)
        path = Path(folder) / f"{file_stem(pair)}{suffix}"
        with atomic_path(path) as tmp:
            if suffix == ".npz":
                np.savez_compressed(tmp, disp=field)
            else:
                nib.save(
                    nib.Nifti1Image(field, np.diag([*manifest.spacing, *[1.0] * (4 - manifest.ndim)])), tmp
                )
        written.append(path)
    return written
