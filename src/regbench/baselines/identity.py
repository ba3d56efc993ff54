"""The zero displacement: every pair as it is, the floor every method must beat."""

from __future__ import annotations

import numpy as np


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    return np.zeros((fixed.ndim, *fixed.shape), np.float32)
