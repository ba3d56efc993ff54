"""Jacobian determinant of a displacement and the folding / smoothness statistics built on it.

The determinant is that of ``I + ∇u`` with ``u`` and ``x`` both in voxels (so it is independent of
the spacing), by central differences (``np.gradient``; one-sided at the border). Both statistics
are taken over the whole grid.
"""

from __future__ import annotations

import numpy as np


def jacobian_determinant(disp: np.ndarray) -> np.ndarray:
    """``det(I + ∇u)`` for a displacement ``[ndim, *shape]`` in voxels (2D or 3D).

    Written out by cofactors: on 160×192×224 this is several times faster than ``np.linalg.det``
    over a stack of 3×3 matrices, with the same values.
    """
    ndim = disp.shape[0]
    j = [[np.gradient(disp[i], axis=k) + (i == k) for k in range(ndim)] for i in range(ndim)]
    if ndim == 2:
        return j[0][0] * j[1][1] - j[0][1] * j[1][0]
    return (
        j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
        - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
        + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0])
    )


def sdlogj(det: np.ndarray, variant: str = "textbook") -> float:
    """Standard deviation of ``log det J``.

    ``textbook``: non-positive determinants clipped to 1e-9. ``learn2reg``: the Learn2Reg
    convention ``std(log(clip(det + 3, 1e-9, 1e9)))``, which the reference code reports.
    """
    if variant == "learn2reg":
        return float(np.std(np.log(np.clip(det + 3, 1e-9, 1e9))))
    if variant != "textbook":
        raise ValueError(f"SDlogJ variant {variant!r}: expected 'textbook' or 'learn2reg'")
    return float(np.std(np.log(np.clip(det, 1e-9, None))))


def nonpositive_percent(det: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Percentage of voxels (of ``mask``, default the whole grid) where ``det J <= 0`` (folding);
    NaN for an empty mask."""
    values = det if mask is None else det[mask]
    return float(100.0 * np.mean(values <= 0)) if values.size else float("nan")
