"""LKU-Net (the ``lk`` backbone): a U-Net whose encoder blocks add a large-kernel branch.

Layout from rethink-reg-spec §1.2: 8 base channels, kernel 5, PReLU (one parameter, init 0.2)
after every convolution, no normalisation; early fusion of the two images.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from regbench.models.blocks import FlowConv
from regbench.models.networks import Flows, RegistrationNet


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


class LKUNet(RegistrationNet):
    """Encoder ``8@1, 16@1/2, 32@1/4, 64@1/8, 64@1/16``; decoder back to 16 channels at 1/2."""

    def __init__(self, ndim: int, base: int = 8, large: int = 5):
        super().__init__(ndim)
        widths = [2 * base, 4 * base, 8 * base, 8 * base]
        self.stem = nn.Sequential(_conv(ndim, 2, base), _act(), _conv(ndim, base, base), _act())
        self.down = nn.ModuleList(
            nn.Sequential(_conv(ndim, cin, cout, stride=2), _act(), LargeKernelBlock(ndim, cout, large))
            for cin, cout in zip([base, *widths[:-1]], widths)
        )
        transposed = nn.ConvTranspose3d if ndim == 3 else nn.ConvTranspose2d
        # decoder steps from 1/16 to 1/2: (channels in, skip, mid, out)
        steps = [
            (widths[3], widths[2], 8 * base, 4 * base),
            (4 * base, widths[1], 4 * base, 2 * base),
            (2 * base, widths[0], 4 * base, 2 * base),
        ]
        self.up = nn.ModuleList(
            nn.Sequential(transposed(cin, cin, 2, stride=2), _act()) for cin, _, _, _ in steps
        )
        self.convs = nn.ModuleList(
            nn.Sequential(_conv(ndim, cin + skip, mid), _act(), _conv(ndim, mid, out), _act())
            for cin, skip, mid, out in steps
        )
        self.flow = FlowConv(ndim, 2 * base)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        self.check_input(source, target)
        x = self.stem(torch.cat([source, target], dim=1))
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        x = skips.pop()
        for up, convs in zip(self.up, self.convs):
            x = convs(torch.cat([up(x), skips.pop()], dim=1))
        return [self.flow(x)]
