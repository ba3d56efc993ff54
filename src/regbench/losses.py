"""Training objective: image similarity plus a smoothness regulariser (rethink-reg-spec §2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import LocalNormalizedCrossCorrelationLoss


def similarity_loss(name: str, ndim: int, window: int = 9):
    """``lncc`` (squared local NCC, box window, in [-1, 0]) or ``mse``, as a callable (pred, target)."""
    if name == "lncc":
        return LocalNormalizedCrossCorrelationLoss(
            spatial_dims=ndim, kernel_size=window, kernel_type="rectangular"
        )
    if name == "mse":
        return F.mse_loss
    raise ValueError(f"unknown similarity {name!r} (available: lncc, mse)")


def diffusion_loss(disp: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
    """``multiplier / ndim · Σ_d mean((u[i+1] - u[i])²)`` with forward differences.

    MONAI's ``DiffusionLoss`` uses central differences, which ignore alternating (checkerboard)
    patterns and differ from the reference's forward-difference regulariser, hence this version.
    """
    ndim = disp.ndim - 2
    total = sum(torch.diff(disp, dim=d + 2).pow(2).mean() for d in range(ndim))
    return multiplier * total / ndim
