"""Training objective: image similarity plus a smoothness regulariser (rethink-reg-spec §2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import LocalNormalizedCrossCorrelationLoss


def similarity_loss(name: str, ndim: int, window: int = 9):
    """``lncc`` (squared local NCC, box window, in [-1, 0]), ``mse`` or ``mind`` (MIND-SSC
    descriptors compared by MSE, for MR–CT; 3D), as a callable (pred, target)."""
    if name == "lncc":
        return LocalNormalizedCrossCorrelationLoss(
            spatial_dims=ndim, kernel_size=window, kernel_type="rectangular"
        )
    if name == "mse":
        return F.mse_loss
    if name == "mind":
        if ndim != 3:
            raise ValueError("the mind similarity is defined for 3D images only")
        return lambda pred, target: F.mse_loss(mind_ssc(pred), mind_ssc(target))
    raise ValueError(f"unknown similarity {name!r} (available: lncc, mse, mind)")


#: the six-neighbourhood; MIND-SSC compares the 12 pairs of its points at squared distance 2
SIX = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
SSC_PAIRS = [
    (a, b) for i, a in enumerate(SIX) for b in SIX[i + 1 :] if sum((p - q) ** 2 for p, q in zip(a, b)) == 2
]


def mind_ssc(image: torch.Tensor, radius: int = 2, dilation: int = 2) -> torch.Tensor:
    """MIND self-similarity-context descriptors ``[B, 12, ...]`` of ``[B, 1, D, H, W]`` images
    (Heinrich et al., MICCAI 2013): patch SSDs (box of side 2·radius + 1) between the 12 pairs of
    six-neighbourhood offsets (× dilation), minus their minimum over the channels, divided by
    their channel mean (clamped to [0.001, 1000] × its image mean), through exp(−·)."""
    padded = F.pad(image, [dilation] * 6, mode="replicate")
    size = image.shape[2:]

    def shifted(offset):
        start = [dilation + o * dilation for o in offset]
        return padded[
            :, :, start[0] : start[0] + size[0], start[1] : start[1] + size[1], start[2] : start[2] + size[2]
        ]

    ssd = torch.cat([(shifted(a) - shifted(b)) ** 2 for a, b in SSC_PAIRS], dim=1)
    ssd = F.avg_pool3d(F.pad(ssd, [radius] * 6, mode="replicate"), 2 * radius + 1, stride=1)
    ssd = ssd - ssd.min(dim=1, keepdim=True).values
    variance = ssd.mean(dim=1, keepdim=True)
    mean = variance.mean() + 1e-12  # a constant image has no variance at all
    variance = torch.clamp(variance, min=mean * 0.001, max=mean * 1000)
    return torch.exp(-ssd / variance)


def diffusion_loss(disp: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
    """``multiplier / ndim · Σ_d mean((u[i+1] - u[i])²)`` with forward differences.

    MONAI's ``DiffusionLoss`` uses central differences, which ignore alternating (checkerboard)
    patterns and differ from the reference's forward-difference regulariser, hence this version.
    """
    ndim = disp.ndim - 2
    total = sum(torch.diff(disp, dim=d + 2).pow(2).mean() for d in range(ndim))
    return multiplier * total / ndim
