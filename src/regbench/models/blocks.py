"""Convolution blocks shared by the CNN-style encoders and decoders (reference layout, §1.1)."""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.networks.blocks import Convolution

from regbench.models.fields import integrate


def conv_norm_act(ndim: int, cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Module:
    """Convolution k=3 → InstanceNorm (affine=False) → LeakyReLU(0.2)."""
    return Convolution(
        ndim,
        cin,
        cout,
        strides=stride,
        kernel_size=3,
        act=("leakyrelu", {"negative_slope": 0.2}),
        norm=("instance", {"affine": False}),
        bias=bias,
    )


class EncoderLevel(nn.Sequential):
    """Optional stride-2 down convolution (bias-free, keeps channels) followed by ``n_convs`` convs."""

    def __init__(self, ndim: int, cin: int, cout: int, down: bool, n_convs: int = 1):
        layers = [conv_norm_act(ndim, cin, cin, stride=2, bias=False)] if down else []
        layers += [conv_norm_act(ndim, cin if i == 0 else cout, cout) for i in range(n_convs)]
        super().__init__(*layers)


class UpBlock(nn.Module):
    """Transposed-conv ×2 upsampling of the previous decoder feature, concat with a skip, convs.

    With ``cin == 0`` (the coarsest level) only the skip is convolved.
    """

    def __init__(self, ndim: int, cin: int, cskip: int, cout: int, n_convs: int = 1):
        super().__init__()
        transposed = nn.ConvTranspose3d if ndim == 3 else nn.ConvTranspose2d
        self.up = transposed(cin, cin, kernel_size=2, stride=2, bias=False) if cin else None
        self.convs = nn.Sequential(
            *[conv_norm_act(ndim, cin + cskip if i == 0 else cout, cout) for i in range(n_convs)]
        )

    def forward(self, previous: torch.Tensor | None, skip: torch.Tensor) -> torch.Tensor:
        x = skip if self.up is None else torch.cat([self.up(previous), skip], dim=1)
        return self.convs(x)


class FlowConv(nn.Module):
    """k=3 convolution to ``ndim`` channels, weights ~ N(0, 1e-5), bias 0: starts near identity.

    With ``integration_steps > 0`` (the diffeomorphic head, design ``S``) the output is a
    stationary velocity integrated by scaling and squaring.
    """

    def __init__(self, ndim: int, cin: int):
        super().__init__()
        self.conv = (nn.Conv3d if ndim == 3 else nn.Conv2d)(cin, ndim, kernel_size=3, padding=1)
        nn.init.normal_(self.conv.weight, 0.0, 1e-5)
        nn.init.zeros_(self.conv.bias)
        self.integration_steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flow = self.conv(x)
        return integrate(flow, self.integration_steps) if self.integration_steps else flow
