"""Intensity similarity between the fixed and the warped moving image: PSNR and SSIM (MONAI's,
with the fixed image's intensity range as the data range) and the mean absolute error."""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import PSNRMetric, SSIMMetric

INTENSITY_METRICS = ("psnr", "ssim", "mae")


def intensity_metrics(fixed: np.ndarray, warped: np.ndarray, names) -> dict[str, float]:
    """The requested metrics (a subset of :data:`INTENSITY_METRICS`) over the whole image."""
    unknown = set(names) - set(INTENSITY_METRICS)
    if unknown:
        raise ValueError(f"intensity metrics {sorted(unknown)}: expected some of {INTENSITY_METRICS}")
    data_range = float(fixed.max() - fixed.min()) or 1.0
    f, w = (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None] for x in (fixed, warped))
    values = {}
    if "psnr" in names:
        values["psnr"] = float(PSNRMetric(max_val=data_range)(w, f))
    if "ssim" in names:
        values["ssim"] = float(SSIMMetric(spatial_dims=fixed.ndim, data_range=data_range)(w, f))
    if "mae" in names:
        values["mae"] = float(np.mean(np.abs(warped - fixed)))
    return values
