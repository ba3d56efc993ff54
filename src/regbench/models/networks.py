"""Registration networks: an encoder (backbone) joined to a decoder (designs).

Every network maps ``(source, target)`` (``[B, 1, *spatial]`` each) to a list of displacement
fields, coarse to fine; the last one is at half resolution and :meth:`RegistrationNet.predict`
upsamples it to the input grid (×2 in space and magnitude), as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from regbench.models.cnn import CNNEncoder
from regbench.models.decoders import PyramidDecoder, UNetDecoder
from regbench.models.fields import resize_flow

Flows = list[torch.Tensor]


class RegistrationNet(nn.Module):
    """Common interface of all networks."""

    #: each spatial size must be a multiple of this
    divisor = 16

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

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


class EarlyFusionUNet(RegistrationNet):
    """Source and target concatenated as two input channels (VoxelMorph, ``cnn``)."""

    def __init__(self, ndim: int, encoder: list[int], decoder: list[int], remain: list[int]):
        super().__init__(ndim)
        self.encoder = CNNEncoder(ndim, 2, encoder)
        self.decoder = UNetDecoder(ndim, encoder[1:][::-1], decoder, remain)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        self.check_input(source, target)
        features = self.encoder(torch.cat([source, target], dim=1))
        return [self.decoder(features[::-1])]


class DualStreamNet(RegistrationNet):
    """One weight-shared encoder applied to each image (design ``D``); the two directions share it.

    ``encoder`` maps an image to features fine to coarse and lists their channels in
    ``feature_widths``.

    With ``pyramid`` set the decoder is the motion pyramid (``WP``, optionally ``C`` and ``I``),
    otherwise the per-level features are concatenated into the U-Net decoder (late fusion).
    """

    def __init__(
        self,
        ndim: int,
        encoder: nn.Module,
        decoder: list[int],
        remain: list[int],
        pyramid: bool,
        correlation_radius: int | None = None,
        iterations: list[int] | None = None,
        n_convs: int = 1,
    ):
        super().__init__(ndim)
        self.encoder = encoder
        widths = encoder.feature_widths[::-1]
        if pyramid:
            self.decoder = PyramidDecoder(ndim, widths, decoder, correlation_radius, iterations, n_convs)
        else:
            self.decoder = UNetDecoder(ndim, [2 * w for w in widths], decoder, remain, n_convs)

    def _decode(self, source: list[torch.Tensor], target: list[torch.Tensor]) -> Flows:
        if isinstance(self.decoder, PyramidDecoder):
            return self.decoder(source, target)
        return [self.decoder([torch.cat([s, t], dim=1) for s, t in zip(source, target)])]

    def _encode(self, source: torch.Tensor, target: torch.Tensor):
        self.check_input(source, target)
        return self.encoder(source)[::-1], self.encoder(target)[::-1]

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        return self._decode(*self._encode(source, target))

    def both_directions(self, source: torch.Tensor, target: torch.Tensor) -> tuple[Flows, Flows]:
        s, t = self._encode(source, target)
        return self._decode(s, t), self._decode(t, s)

    def iteration_flows(self, source: torch.Tensor, target: torch.Tensor) -> Flows:
        """The motion pyramid's flow after every refinement iteration, coarse to fine."""
        if not isinstance(self.decoder, PyramidDecoder):
            raise ValueError("iteration flows exist only for motion-pyramid models (design 'WP')")
        return self.decoder(*self._encode(source, target), every_iteration=True)
