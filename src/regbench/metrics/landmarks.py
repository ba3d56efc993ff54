"""Target registration error from corresponding landmarks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def target_registration_error(disp: np.ndarray, fixed_points, moving_points, spacing) -> np.ndarray:
    """Per-landmark ``‖(p_f + u(p_f) − p_m) ⊙ spacing‖`` in mm.

    ``disp`` is the displacement ``[ndim, *shape]`` in voxels on the fixed grid; the points are
    ``[n, ndim]`` voxel coordinates (array-index order). ``u`` is sampled at the fixed points by
    linear interpolation, zero outside the grid (as the warping itself).
    """
    fixed_points = np.asarray(fixed_points, dtype=np.float64)
    moving_points = np.asarray(moving_points, dtype=np.float64)
    if fixed_points.shape != moving_points.shape or fixed_points.shape[1:] != (disp.shape[0],):
        raise ValueError(
            f"landmarks: expected two [n, {disp.shape[0]}] arrays, "
            f"got {fixed_points.shape} and {moving_points.shape}"
        )
    sampled = np.stack(
        [ndimage.map_coordinates(component, fixed_points.T, order=1, mode="constant") for component in disp],
        axis=1,
    )
    error = (fixed_points + sampled - moving_points) * np.asarray(spacing, dtype=np.float64)
    return np.sqrt((error**2).sum(axis=1))
