"""LKU-Net (the ``lk`` backbone): a U-Net whose encoder blocks add a large-kernel branch.

Layout from rethink-reg-spec §1.2: 8 base channels, kernel 5, PReLU (one parameter, init 0.2)
after every convolution, no normalisation.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from regbench.models.blocks import FlowConv


def _conv(ndim: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    conv = nn.Conv3d if ndim == 3 else nn.Conv2d
    return conv(cin, cout, kernel, stride=stride, padding=kernel // 2)


def _act() -> nn.Module:
    return nn.PReLU(init=0.2)


class LargeKernelBlock(nn.Module):
    """``PReLU(conv_k(x) + conv_3(x) + conv_1(x) + x)``."""

    def __init__(self, ndim: int, channels: int, large: int):
        super().__init__()
        self.branches = nn.ModuleList(_conv(ndim, channels, channels, k) for k in (3, large, 1))
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + sum(branch(x) for branch in self.branches))


class LKEncoder(nn.Module):
    """Two convs at full resolution, then stride-2 conv + large-kernel block per level.

    Returns ``[2b @1/2, 4b @1/4, 8b @1/8, 8b @1/16]`` (b = ``base``), fine to coarse.
    """

    def __init__(self, ndim: int, in_channels: int, base: int = 8, large: int = 5):
        super().__init__()
        self.feature_widths = [2 * base, 4 * base, 8 * base, 8 * base]
        self.stem = nn.Sequential(_conv(ndim, in_channels, base), _act(), _conv(ndim, base, base), _act())
        self.down = nn.ModuleList(
            nn.Sequential(_conv(ndim, cin, cout, stride=2), _act(), LargeKernelBlock(ndim, cout, large))
            for cin, cout in zip([base, *self.feature_widths[:-1]], self.feature_widths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for level in self.down:
            x = level(x)
            features.append(x)
        return features


class LKDecoder(nn.Module):
    """From 1/16 to 1/2: transposed conv ×2 + PReLU, concat skip, two conv + PReLU; flow conv."""

    def __init__(self, ndim: int, base: int = 8):
        super().__init__()
        transposed = nn.ConvTranspose3d if ndim == 3 else nn.ConvTranspose2d
        # (channels in, skip, mid, out) from 1/16 to 1/2
        steps = [
            (8 * base, 8 * base, 8 * base, 4 * base),
            (4 * base, 4 * base, 4 * base, 2 * base),
            (2 * base, 2 * base, 4 * base, 2 * base),
        ]
        self.up = nn.ModuleList(
            nn.Sequential(transposed(cin, cin, 2, stride=2), _act()) for cin, _, _, _ in steps
        )
        self.convs = nn.ModuleList(
            nn.Sequential(_conv(ndim, cin + skip, mid), _act(), _conv(ndim, mid, out), _act())
            for cin, skip, mid, out in steps
        )
        self.flow = FlowConv(ndim, 2 * base)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[0]
        for up, convs, skip in zip(self.up, self.convs, skips[1:]):
            x = convs(torch.cat([up(x), skip], dim=1))
        return self.flow(x)
