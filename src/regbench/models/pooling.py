"""LessNet's parameter-free pooling encoder (the ``less`` backbone)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PoolingEncoder(nn.Module):
    """For levels 1..N: average, max and min pooling of the image with kernel = stride = 2^level.

    Returns ``[B, 3, ...]`` features fine to coarse (1/2, 1/4, ...). It has no parameters, so it is
    shared between the two images by construction.
    """

    def __init__(self, ndim: int, levels: int = 4):
        super().__init__()
        self.ndim = ndim
        self.feature_widths = [3] * levels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        avg = F.avg_pool2d if self.ndim == 2 else F.avg_pool3d
        peak = F.max_pool2d if self.ndim == 2 else F.max_pool3d
        features = []
        for level in range(1, len(self.feature_widths) + 1):
            k = 2**level
            features.append(torch.cat([avg(x, k), peak(x, k), -peak(-x, k)], dim=1))
        return features
