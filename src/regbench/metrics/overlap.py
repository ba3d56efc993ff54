"""Dice overlap per label from one confusion count."""

from __future__ import annotations

import numpy as np


def dice_per_label(fixed: np.ndarray, warped: np.ndarray, labels) -> dict[int, float]:
    """Dice of each label; NaN where the label is absent from both maps (never 0)."""
    labels = list(labels)
    top = int(max(fixed.max(), warped.max(), max(labels))) + 1
    joint = np.bincount(
        fixed.ravel().astype(np.int64) * top + warped.ravel().astype(np.int64), minlength=top * top
    ).reshape(top, top)
    out = {}
    for label in labels:
        size = joint[label, :].sum() + joint[:, label].sum()
        out[label] = float(2.0 * joint[label, label] / size) if size else float("nan")
    return out
