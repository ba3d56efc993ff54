"""Atomic file output and the image / field formats shared by every pipeline stage.

Every writer goes through :func:`atomic_path`: the data is written to a temporary name in the
target folder and renamed into place only once it is complete, so an interrupted job never leaves
a file that looks finished.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix so libraries that dispatch on it (nibabel, numpy) behave; created
    # with the mode a plain open() gives (0666 less the umask), not mkstemp's private 0600, so
    # colleagues on shared storage can read the results as the umask allows
    suffix = "".join(path.suffixes)
    # a killed writer (SIGKILL skips the clean-up below) left its temporary file: remove it
    leftover = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}{re.escape(suffix)}")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if leftover.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{suffix}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame atomically, without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_image(path: str | os.PathLike, array: np.ndarray, spacing) -> None:
    """Save an array as NIfTI with a diagonal affine built from ``spacing`` (mm)."""
    spacing = [float(s) for s in spacing]
    affine = np.diag([*spacing, *([1.0] * (3 - len(spacing))), 1.0])
    image = nib.Nifti1Image(np.asarray(array), affine)
    image.header.set_zooms(spacing[: array.ndim] + [1.0] * (array.ndim - len(spacing)))
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


def read_nifti(path: str | os.PathLike, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The data (as ``dtype``) and affine of a NIfTI or Analyze file, with an error that names
    the file when it is missing, unreadable, fails its gzip checksum or holds NaN or infinity."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: image not found")
    try:
        if path.suffix == ".gz":
            _check_gzip(path)
        image = nib.load(path)
        array = np.asarray(image.dataobj, dtype=dtype)
    except Exception as err:  # nibabel raises several unrelated types for broken files
        raise ValueError(f"{path}: cannot read image ({err})") from None
    return require_finite(array, f"{path}: image"), image.affine.astype(float)


def _check_gzip(path: Path) -> None:
    """Decompress ``path`` to its end, which checks the CRC and length stored there: nibabel
    reads only the bytes the image needs and never reaches them, so a corrupt file would load."""
    with gzip.open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def load_image(path: str | os.PathLike, dtype=np.float32) -> np.ndarray:
    """Load a NIfTI image as an array (see :func:`read_nifti`)."""
    return read_nifti(path, dtype)[0]


def require_finite(array: np.ndarray, what: str) -> np.ndarray:
    """``array``, or a ValueError naming ``what`` when it holds NaN or infinity (which would
    otherwise turn into NaN weights and metrics silently)."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise ValueError(f"{what} holds {bad} non-finite value(s) (NaN or infinity)")
    return array


def save_fields(
    path: str | os.PathLike,
    fields: dict[str, np.ndarray],
    costs: dict[str, dict],
    pairs: list[dict] | None = None,
) -> None:
    """Save displacement fields (one per pair ID, voxel units, channels first), per-pair costs
    (``{"runtime_s": ..., "peak_memory_mb": ...}``) and, from the manifest's ``pairs``, each
    pair's fixed and moving subject (so that a field is never written out under other names)."""
    arrays = {f"disp/{pid}": np.asarray(u, dtype=np.float32) for pid, u in fields.items()}
    arrays["costs_json"] = np.frombuffer(json.dumps(costs).encode(), dtype=np.uint8)
    if pairs is not None:
        subjects = {p["id"]: [p["fixed"], p["moving"]] for p in pairs if p["id"] in fields}
        arrays["subjects_json"] = np.frombuffer(json.dumps(subjects).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


class FieldStore:
    """Read access to a file written by :func:`save_fields`, one pair at a time."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._npz = np.load(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.path}: displacement fields not found") from None
        except Exception as err:
            raise ValueError(f"{self.path}: not a readable field file ({err})") from None
        try:
            self.costs: dict[str, dict] = json.loads(bytes(self._npz["costs_json"]).decode())
        except KeyError:
            raise ValueError(f"{self.path}: no per-pair costs (written by an older regbench?)") from None
        #: pair ID -> [fixed, moving] subject (None: not recorded)
        self.subjects: dict[str, list[str]] | None = (
            json.loads(bytes(self._npz["subjects_json"]).decode())
            if "subjects_json" in self._npz.files
            else None
        )

    def __getitem__(self, pair_id: str) -> np.ndarray:
        key = f"disp/{pair_id}"
        if key not in self._npz.files:
            raise KeyError(f"{self.path}: no displacement field for pair {pair_id!r}")
        return require_finite(self._npz[key], f"{self.path}: the displacement field of pair {pair_id!r}")
