"""A residual CNN encoder: the interface a regbench backbone's encoder implements.

``ResidualEncoder(ndim, in_channels, window)``:

- ``ndim`` is 2 or 3; ``in_channels`` is 2 when both images are stacked (early fusion) and 1
  when each image is encoded alone by a shared encoder (design ``D``); ``window`` is the task's
  ``swin_window`` setting, for attention backbones (ignored here).
- ``feature_widths``: the channels of the returned features, fine to coarse.
- ``forward(x)`` returns one feature map per width, fine to coarse, at 1/2, 1/4, 1/8 and 1/16 of
  the input size (so the record's ``divisor`` is 16). regbench's decoders take them from there:
  early fusion, late fusion of two streams, or the motion pyramid.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, ndim: int, channels_in: int, channels: int, stride: int):
        super().__init__()
        conv = nn.Conv3d if ndim == 3 else nn.Conv2d
        self.conv1 = conv(channels_in, channels, 3, stride=stride, padding=1)
        self.conv2 = conv(channels, channels, 3, padding=1)
        self.skip = conv(channels_in, channels, 1, stride=stride)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.act(self.conv1(x))) + self.skip(x))


class ResidualEncoder(nn.Module):
    def __init__(self, ndim: int, in_channels: int, window=None, widths=(16, 32, 32, 64)):
        super().__init__()
        self.feature_widths = list(widths)
        channels = [in_channels, *widths]
        self.levels = nn.ModuleList(
            ResidualBlock(ndim, channels[i], channels[i + 1], stride=2) for i in range(len(widths))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features
