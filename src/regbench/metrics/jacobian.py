"""Jacobian determinant of a displacement and the folding / smoothness statistics built on it.

The determinant is that of ``I + ∇u`` with ``u`` and ``x`` both in voxels (so it is independent of
the spacing), by central differences (``np.gradient``; one-sided at the border). Both statistics
are taken over the whole grid.
"""

from __future__ import annotations

import numpy as np


def jacobian_determinant(disp: np.ndarray) -> np.ndarray:
    """``det(I + ∇u)`` for a displacement ``[ndim, *shape]`` in voxels."""
    ndim = disp.shape[0]
    grads = np.stack([np.stack(np.gradient(disp[i]), axis=0) for i in range(ndim)])  # [i, j, ...]
    jac = grads + np.eye(ndim).reshape(ndim, ndim, *[1] * ndim)
    return np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))


def sdlogj(det: np.ndarray) -> float:
    """Standard deviation of ``log det J`` (textbook form; non-positive values clipped to 1e-9)."""
    return float(np.std(np.log(np.clip(det, 1e-9, None))))


def nonpositive_percent(det: np.ndarray) -> float:
    """Percentage of voxels where ``det J <= 0`` (folding)."""
    return float(100.0 * np.mean(det <= 0))
