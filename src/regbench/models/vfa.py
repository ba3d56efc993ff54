"""Vector-field-attention decoder (the ``vfa`` model): matching instead of a conv decoder.

At each level, coarse to fine, the source feature is warped by the upsampled accumulated flow; a
conv projects both images' features; every target voxel attends (softmax over the scaled dot
products, out-of-bounds candidates excluded) to the source voxels within radius 1, and the expected
offset, times a learnable per-level scale β, is the residual flow composed onto the accumulated one.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn as nn

from regbench.models.correlation import local_correlation
from regbench.models.fields import compose, resize_flow, warp


class VFADecoder(nn.Module):
    def __init__(
        self,
        ndim: int,
        feature_channels: list[int],
        projected: list[int],
        beta=(0.1, 0.125, 0.25, 0.5),
        radius: int = 1,
    ):
        super().__init__()
        conv = nn.Conv3d if ndim == 3 else nn.Conv2d
        self.radius = radius
        self.projections = nn.ModuleList(
            conv(c, p, 3, padding=1) for c, p in zip(feature_channels, projected)
        )
        self.beta = nn.Parameter(torch.tensor(beta[: len(projected)], dtype=torch.float32))
        offsets = torch.tensor(list(itertools.product(range(-radius, radius + 1), repeat=ndim)))
        self.register_buffer("offsets", offsets.T.float(), persistent=False)  # [ndim, K]

    def _match(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        logits = local_correlation(target, source, self.radius)
        ones = torch.ones_like(target[:, :1])
        inside = local_correlation(ones, ones, self.radius) > 0
        weights = logits.masked_fill(~inside, -1e9).softmax(dim=1)
        return torch.einsum("dk,bk...->bd...", self.offsets.to(weights.dtype), weights)

    def forward(
        self, source: list[torch.Tensor], target: list[torch.Tensor], every_iteration: bool = False
    ) -> list[torch.Tensor]:
        flows, phi = [], None
        for level, (project, s, t) in enumerate(zip(self.projections, source, target)):
            if phi is not None:  # the encoder's feature is warped, then projected (as the reference)
                phi = resize_flow(phi, 2.0)
                s = warp(s, phi)
            s, t = project(s), project(t)
            delta = self.beta[level] * self._match(t, s)
            phi = delta if phi is None else compose(phi, delta, stop_gradient=True)
            flows.append(phi)
        return flows
