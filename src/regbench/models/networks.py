"""Registration networks: an encoder (backbone) joined to a decoder (designs).

Every network maps ``(source, target)`` (``[B, 1, *spatial]`` each) to a list of displacement
fields, coarse to fine; the last one is at half resolution and :meth:`RegistrationNet.predict`
upsamples it to the input grid (×2 in space and magnitude), as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from regbench.models.fields import resize_flow

Flows = list[torch.Tensor]


class RegistrationNet(nn.Module):
    """Common interface of all networks."""

    def __init__(self, ndim: int, divisor: int = 16):
        super().__init__()
        self.ndim = ndim
        #: each spatial size must be a multiple of this
        self.divisor = divisor

    def check_input(self, source: torch.Tensor, target: torch.Tensor) -> None:
        if source.shape != target.shape or source.ndim != self.ndim + 2:
            raise ValueError(
                f"expected source and target of the same shape [B, 1, {self.ndim} spatial dims], "
                f"got {tuple(source.shape)} and {tuple(target.shape)}"
            )
        if any(n % self.divisor for n in source.shape[2:]):
            raise ValueError(f"spatial size {tuple(source.shape[2:])} must be divisible by {self.divisor}")

    def both_directions(self, source: torch.Tensor, target: torch.Tensor) -> tuple[Flows, Flows]:
        """Flows source→target and target→source (two passes unless a network shares one)."""
        return self(source, target), self(target, source)

    def predict(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Full-resolution displacement (voxel units of the input grid) that warps source to target."""
        return resize_flow(self(source, target)[-1], 2.0)


class EarlyFusionNet(RegistrationNet):
    """Source and target concatenated as two input channels of one encoder (VXM, TM, LKU, ...).

    ``encoder`` maps the image pair to features fine to coarse; ``decoder`` maps them coarse to fine
    to one flow.
    """

    def __init__(self, ndim: int, encoder: nn.Module, decoder: nn.Module, divisor: int = 16):
        super().__init__(ndim, divisor)
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        self.check_input(source, target)
        return [self.decoder(self.encoder(torch.cat([source, target], dim=1))[::-1])]


class LateFusion(nn.Module):
    """Design ``D`` without the pyramid: each level's two features concatenated into one decoder."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, source: list[torch.Tensor], target: list[torch.Tensor]) -> Flows:
        return [self.decoder([torch.cat([s, t], dim=1) for s, t in zip(source, target)])]


class DualStreamNet(RegistrationNet):
    """One weight-shared encoder applied to each image (design ``D``); the two directions share it.

    ``encoder`` maps an image to features fine to coarse. ``decoder`` maps the source and target
    features (coarse to fine) to a list of flows: :class:`LateFusion`, or a motion pyramid
    (``WP``, optionally ``C`` and ``I``) or VFA decoder, which also give every iteration's flow.
    """

    def __init__(self, ndim: int, encoder: nn.Module, decoder: nn.Module, divisor: int = 16):
        super().__init__(ndim, divisor)
        self.encoder = encoder
        self.decoder = decoder

    def _encode(self, source: torch.Tensor, target: torch.Tensor):
        self.check_input(source, target)
        return self.encoder(source)[::-1], self.encoder(target)[::-1]

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        return self.decoder(*self._encode(source, target))

    def both_directions(self, source: torch.Tensor, target: torch.Tensor) -> tuple[Flows, Flows]:
        s, t = self._encode(source, target)
        return self.decoder(s, t), self.decoder(t, s)

    def iteration_flows(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        """The pyramid's flow after every refinement iteration, coarse to fine."""
        if isinstance(self.decoder, LateFusion):
            raise ValueError("iteration flows exist only for motion-pyramid models (design 'WP')")
        return self.decoder(*self._encode(source, target), every_iteration=True)
