"""Geometry and intensity steps shared by the dataset preparations.

Every volume is brought onto its task grid in one resampling: the output grid is an affine (voxel
→ world mm, RAS) with the task's spacing, shape and axis directions, centred on a chosen world
point; the source array is sampled on it through ``inv(source affine) @ grid affine``. When the
spacings agree and the axes are only permuted or flipped, the sampling positions fall on source
voxels and the copy is exact. Landmarks go through the same two affines, so distances stay in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from regbench.io import read_nifti


@dataclass
class Volume:
    """An array with its voxel → world (mm, RAS) affine; ``path`` names the file in errors."""

    array: np.ndarray
    affine: np.ndarray
    path: Path

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:-1, :-1], axis=0)

    @property
    def centre(self) -> np.ndarray:
        """The world position of the array's centre."""
        return apply(self.affine, (np.array(self.array.shape) - 1) / 2)

    def axes(self, index: int) -> Volume:
        """The volume restricted to the first ``index`` axes' affine (a 2D slice's geometry)."""
        keep = [*range(index), self.affine.shape[0] - 1]
        return Volume(self.array, self.affine[np.ix_(keep, keep)], self.path)


def load(path: str | Path, dtype=np.float32, dims=(2, 3)) -> Volume:
    """A NIfTI (or Analyze) file's data (as ``dtype``) and affine, with an error naming the file;
    ``dims``: the dimensionalities accepted (a 4D cine series is asked for as such)."""
    path = Path(path)
    array, affine = read_nifti(path)
    while array.ndim > 3 and array.ndim not in dims and array.shape[-1] == 1:
        array = array[..., 0]  # a volume stored with a singleton time axis
    if array.ndim not in dims:
        expected = " or ".join(f"{d}D" for d in dims)
        raise ValueError(f"{path}: a {array.ndim}D image of shape {array.shape}; expected {expected}")
    if np.issubdtype(dtype, np.integer):  # label maps stored as floats: round, do not truncate
        array = np.rint(array)
    return Volume(array.astype(dtype), affine, path)


def apply(affine: np.ndarray, points) -> np.ndarray:
    """``points`` ``[..., ndim]`` mapped through a homogeneous ``affine``."""
    points = np.asarray(points, dtype=float)
    return points @ affine[:-1, :-1].T + affine[:-1, -1]


def directions(axcodes: str | None, like: Volume) -> np.ndarray:
    """Unit world directions (columns) of the output axes: those of ``axcodes`` (e.g. ``"LIA"``:
    axis 0 points left, ...), or ``like``'s own (normalised) when ``axcodes`` is None."""
    if axcodes is None:
        return like.affine[:-1, :-1] / like.spacing
    unit = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    matrix = np.zeros((3, 3))
    for column, code in enumerate(axcodes):
        row, sign = unit[code]
        matrix[row, column] = sign
    return matrix


def grid(direction: np.ndarray, spacing, shape, centre, source: Volume) -> np.ndarray:
    """The affine of a ``shape`` grid with ``spacing`` along ``direction`` centred on ``centre``.

    Where the grid's voxels are ``source``'s voxels permuted or flipped (same spacing), its origin
    is moved by less than a voxel onto the source lattice, so that resampling copies values.
    """
    affine = np.eye(len(shape) + 1)
    affine[:-1, :-1] = direction * np.asarray(spacing, dtype=float)
    affine[:-1, -1] = np.asarray(centre) - affine[:-1, :-1] @ ((np.array(shape) - 1) / 2)
    to_source = np.linalg.inv(source.affine) @ affine
    linear = to_source[:-1, :-1]
    if np.allclose(linear, np.round(linear), atol=1e-4):
        snapped = to_source.copy()
        snapped[:-1, -1] = np.floor(to_source[:-1, -1] + 1e-6)
        affine = source.affine @ snapped
    return affine


def resample(volume: Volume, affine: np.ndarray, shape, order: int, fill: float = 0.0) -> np.ndarray:
    """``volume`` sampled on the grid ``affine``/``shape``: linear (order 1) for images, nearest
    (order 0) for label maps; ``fill`` outside the source."""
    to_source = np.linalg.inv(volume.affine) @ affine
    return ndimage.affine_transform(
        volume.array,
        to_source[:-1, :-1],
        offset=to_source[:-1, -1],
        output_shape=tuple(shape),
        order=order,
        mode="constant",
        cval=fill,
        prefilter=False,
    ).astype(volume.array.dtype)


def move_points(points: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Voxel ``points`` of the grid ``source`` as voxel positions of the grid ``target``."""
    return apply(np.linalg.inv(target) @ source, points)


# --- intensities ---------------------------------------------------------------------------------


def percentile_scale(image: np.ndarray, high: float, low: float | None = None, clip_high=False) -> np.ndarray:
    """Map the ``low`` percentile (or 0 when None: negatives are clipped) to 0 and the ``high``
    percentile to 1; values above stay above 1 unless ``clip_high``."""
    floor = 0.0 if low is None else float(np.percentile(image, low))
    ceiling = float(np.percentile(image, high))
    scaled = np.clip((image - floor) / max(ceiling - floor, 1e-6), 0, 1 if clip_high else None)
    return scaled.astype(np.float32)


def window(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """A CT window: ``[low, high]`` HU → [0, 1], clipped."""
    return np.clip((image - low) / (high - low), 0, 1).astype(np.float32)


def min_max(image: np.ndarray) -> np.ndarray:
    low, high = float(image.min()), float(image.max())
    return ((image - low) / max(high - low, 1e-6)).astype(np.float32)


def normalise(image: np.ndarray, rule: dict) -> np.ndarray:
    """Apply an intensity ``rule``: ``{percentile: 99.99}`` (0 → 0, as the paper's brain),
    ``{percentile: 99, low: 1, clip: true}``, ``{window: [-1000, 500]}``, ``{min_max: true}`` or
    ``{}`` (unchanged)."""
    if "window" in rule:
        return window(image, *rule["window"])
    if "percentile" in rule:
        return percentile_scale(image, rule["percentile"], rule.get("low"), rule.get("clip", False))
    if rule.get("min_max"):
        return min_max(image)
    return image.astype(np.float32)


def remap(labels: np.ndarray, mapping: dict[int, int] | None) -> np.ndarray:
    """Labels renumbered by ``mapping`` (source → task id); ids not in it become 0. None keeps them."""
    labels = np.rint(labels).astype(np.int32)
    if mapping is None:
        return labels.astype(np.int16)
    table = np.zeros(max(int(labels.max()), max(mapping)) + 1, np.int16)
    for source, target in mapping.items():
        table[source] = target
    return table[np.clip(labels, 0, None)]
