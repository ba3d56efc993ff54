"""Endpoint error against a known displacement."""

from __future__ import annotations

import numpy as np


def endpoint_errors(disp: np.ndarray, truth: np.ndarray, spacing, mask: np.ndarray) -> dict[str, float]:
    """``‖(u - u_true) ⊙ spacing‖`` in mm: mean and 95th percentile over ``mask`` (``epe_mm``,
    ``epe_p95_mm``; NaN for an empty mask) and over the whole grid (``epe_all_mm``,
    ``epe_all_p95_mm``)."""
    scale = np.asarray(spacing, dtype=np.float64).reshape(-1, *[1] * (disp.ndim - 1))
    error = np.sqrt((((disp - truth) * scale) ** 2).sum(axis=0))
    masked = error[mask] if mask.any() else np.array([np.nan])
    return {
        "epe_mm": float(masked.mean()),
        "epe_p95_mm": float(np.percentile(masked, 95)),
        "epe_all_mm": float(error.mean()),
        "epe_all_p95_mm": float(np.percentile(error, 95)),
    }
