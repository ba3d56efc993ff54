"""VoxelMorph-style CNN encoder (the ``cnn`` backbone)."""

from __future__ import annotations

import torch
import torch.nn as nn

from regbench.models.blocks import EncoderLevel


class CNNEncoder(nn.Module):
    """Level 0 at full resolution, then levels that each halve the resolution.

    Returns the features of levels 1..N (1/2, 1/4, ...), fine to coarse; the full-resolution stem
    is not used as a skip, as in the reference.
    """

    def __init__(self, ndim: int, in_channels: int, widths: list[int]):
        super().__init__()
        self.feature_widths = widths[1:]
        self.levels = nn.ModuleList(
            EncoderLevel(ndim, in_channels if i == 0 else widths[i - 1], w, down=i > 0)
            for i, w in enumerate(widths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features[1:]
