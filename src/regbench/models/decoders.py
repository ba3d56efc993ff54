"""Decoders: the U-Net decoder (single flow) and the motion pyramid (designs ``WP``, ``C``, ``I``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from regbench.models.blocks import FlowConv, UpBlock, conv_norm_act
from regbench.models.correlation import local_correlation
from regbench.models.fields import compose, resize_flow, warp


class UNetDecoder(nn.Module):
    """Up blocks over coarse-to-fine skips, extra convs at the finest level, then a flow conv."""

    def __init__(
        self,
        ndim: int,
        skip_channels: list[int],
        out_channels: list[int],
        remain: list[int],
        n_convs: int = 1,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            UpBlock(ndim, out_channels[i - 1] if i else 0, skip, out, n_convs)
            for i, (skip, out) in enumerate(zip(skip_channels, out_channels))
        )
        widths = [out_channels[-1], *remain]
        self.remain = nn.Sequential(*(conv_norm_act(ndim, a, b) for a, b in zip(widths, widths[1:])))
        self.flow = FlowConv(ndim, widths[-1])

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
        return self.flow(self.remain(x))


class PyramidDecoder(nn.Module):
    """Coarse-to-fine motion pyramid with feature warping and flow composition.

    At level i the accumulated flow of level i-1 is upsampled, the source feature is warped by it,
    the skip ``[warped source, target]`` (or ``[corr(target, warped source), target]`` with the
    correlation design) feeds the level's up block, whose residual flow is composed onto the
    accumulated one (stop-gradient in the sampling location). With ``iterations[i] > 1`` the same
    block refines the flow again, re-warping the source; the previous level's decoder feature stays
    fixed within a level. Returns one flow per level, coarse to fine.

    With ``pre_channels`` the coarsest feature pair is not a pyramid level: a conv block maps it to
    the decoder feature that level 0 upsamples (TransMorph's ``pre_block``, features at 1/32).
    ``normalise_correlation`` correlates unit feature vectors (L2 over channels; the reference's
    ``norm_vectors``, which its MR–CT TM-DWCP sets).
    """

    def __init__(
        self,
        ndim: int,
        feature_channels: list[int],
        out_channels: list[int],
        correlation_radius: int | None = None,
        iterations: list[int] | None = None,
        n_convs: int = 1,
        pre_channels: int | None = None,
        normalise_correlation: bool = False,
    ):
        super().__init__()
        self.pre = None
        self.normalise = normalise_correlation
        if pre_channels:
            self.pre = conv_norm_act(ndim, 2 * feature_channels[0], pre_channels)
            feature_channels = feature_channels[1:]
        self.radius = correlation_radius
        self.iterations = iterations or [1] * len(feature_channels)
        if len(self.iterations) != len(feature_channels):
            raise ValueError(
                f"iterations {self.iterations}: need one count per level ({len(feature_channels)})"
            )
        window = (2 * correlation_radius + 1) ** ndim if correlation_radius is not None else 0
        skips = [c + window if window else 2 * c for c in feature_channels]
        self.blocks = nn.ModuleList(
            UpBlock(ndim, out_channels[i - 1] if i else pre_channels or 0, skip, out, n_convs)
            for i, (skip, out) in enumerate(zip(skips, out_channels))
        )
        self.flows = nn.ModuleList(FlowConv(ndim, out) for out in out_channels)

    def forward(
        self, source: list[torch.Tensor], target: list[torch.Tensor], every_iteration: bool = False
    ) -> list[torch.Tensor]:
        """One flow per level, or with ``every_iteration`` one per iteration (e.g. 6 for [1, 1, 2, 2])."""
        flows, steps, phi, decoded = [], [], None, None
        if self.pre is not None:
            decoded = self.pre(torch.cat([source[0], target[0]], dim=1))
            source, target = source[1:], target[1:]
        for i, (block, flow_conv, s, t) in enumerate(zip(self.blocks, self.flows, source, target)):
            previous = decoded
            if phi is not None:
                phi = resize_flow(phi, 2.0)
            for _ in range(self.iterations[i]):
                moved = s if phi is None else warp(s, phi)
                if self.radius is None:
                    skip = torch.cat([moved, t], dim=1)
                else:
                    a, b = (F.normalize(x, dim=1) for x in (t, moved)) if self.normalise else (t, moved)
                    skip = torch.cat([local_correlation(a, b, self.radius), t], dim=1)
                decoded = block(previous, skip)
                delta = flow_conv(decoded)
                phi = delta if phi is None else compose(phi, delta, stop_gradient=True)
                steps.append(phi)
            flows.append(phi)
        return steps if every_iteration else flows
