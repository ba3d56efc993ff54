"""Displacement fields: warping, resizing, composition and integration.

Convention (the reference code's, kept everywhere in regbench): a displacement ``u`` has shape
``[B, ndim, *spatial]`` in voxel units of the grid it lives on, channel ``k`` is the displacement
along array axis ``k``, it is defined on the fixed (target) grid and points into the moving
(source) image: ``warped(x) = moving(x + u(x))``. Sampling uses ``align_corners=True`` and zero
padding outside the field of view. Built on MONAI's ``Warp`` and ``DVF2DDF``, which implement
exactly this convention.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from monai.networks.blocks import DVF2DDF, Warp

warnings.filterwarnings("ignore", message="monai.networks.blocks.Warp: Using PyTorch native")

_WARPS: dict[str, Warp] = {}


def warp(image: torch.Tensor, disp: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image`` at ``x + disp(x)``; ``mode`` is ``bilinear`` (tri-linear in 3D) or ``nearest``."""
    if mode not in _WARPS:
        _WARPS[mode] = Warp(mode=mode, padding_mode="zeros")
    return _WARPS[mode](image, disp)


def resize_flow(disp: torch.Tensor, factor: float) -> torch.Tensor:
    """Resample a displacement by ``factor`` in space and scale its magnitude by the same factor."""
    mode = "bilinear" if disp.ndim == 4 else "trilinear"
    resized = F.interpolate(
        disp, scale_factor=factor, mode=mode, align_corners=True, recompute_scale_factor=True
    )
    return resized * factor


def compose(outer: torch.Tensor, inner: torch.Tensor, stop_gradient: bool = False) -> torch.Tensor:
    """Displacement of ``x -> outer∘inner``: ``inner(x) + outer(x + inner(x))``.

    With ``stop_gradient`` the sampling location ``x + inner(x)`` carries no gradient into
    ``inner`` (gradients still reach ``inner`` through the sum), as in the motion pyramid.
    """
    location = inner.detach() if stop_gradient else inner
    return inner + warp(outer, location)


def integrate(velocity: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """Scaling and squaring of a stationary velocity field into a displacement."""
    return DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")(velocity)
