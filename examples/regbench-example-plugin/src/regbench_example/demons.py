"""Thirion's demons: the interface a regbench method without training implements.

``register_pair(fixed, moving, spacing, settings, seed)``:

- ``fixed`` and ``moving``: float32 arrays on the task's grid (2D or 3D, intensities in [0, 1]);
  ``spacing``: the grid's voxel size in mm; ``settings``: the task's
  ``task_settings.<task>.methods.demons`` section (``{}`` when absent); ``seed``: the study seed
  (for methods whose record says ``seeded``).
- returns the displacement ``[ndim, *fixed.shape]`` in voxels, on the fixed grid, pointing into
  the moving image: ``warped(x) = moving(x + u(x))``. regbench checks the shape, times the call
  and scores the field like any other method's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def warp(image: np.ndarray, disp: np.ndarray) -> np.ndarray:
    coords = np.indices(image.shape, dtype=np.float32) + disp
    return ndimage.map_coordinates(image, coords, order=1, mode="nearest")


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    iterations = int(settings.get("iterations", 100))
    sigma = float(settings.get("sigma", 1.5))  # Gaussian regularisation of the field, voxels
    max_step = float(settings.get("max_step", 1.0))  # largest update per iteration, voxels
    disp = np.zeros((fixed.ndim, *fixed.shape), np.float32)
    for _ in range(iterations):
        warped = warp(moving, disp)
        difference = warped - fixed
        gradient = np.stack(np.gradient(warped))
        # the demons force, normalised so that no voxel moves more than about max_step
        denominator = (gradient**2).sum(0) + difference**2 / max_step**2
        update = -difference * gradient / np.maximum(denominator, 1e-9)
        disp = np.stack([ndimage.gaussian_filter(c, sigma) for c in disp + update]).astype(np.float32)
    return disp
