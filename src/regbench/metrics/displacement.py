"""Endpoint error against a known displacement."""

from __future__ import annotations

import numpy as np


def endpoint_error(disp: np.ndarray, truth: np.ndarray, spacing, mask: np.ndarray) -> float:
    """Mean ``‖(u - u_true) ⊙ spacing‖`` in mm over ``mask``; NaN for an empty mask."""
    if not mask.any():
        return float("nan")
    scale = np.asarray(spacing, dtype=np.float64).reshape(-1, *[1] * (disp.ndim - 1))
    error = np.sqrt((((disp - truth) * scale) ** 2).sum(axis=0))
    return float(error[mask].mean())
