"""Training objective: image similarity plus a smoothness regulariser (rethink-reg-spec §2)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from monai.networks.layers import separable_filtering

#: added to the product of the local variances (the reference's ``smooth_dr``)
LNCC_EPS = 1e-5


def lncc_loss(pred: torch.Tensor, target: torch.Tensor, window: int = 9) -> torch.Tensor:
    """Minus the mean squared local NCC over box windows of ``window`` voxels per side (zero padded):
    ``cross² / (var_pred · var_target + 1e-5)`` with windowed sums, as the reference computes it.
    MONAI's LocalNormalizedCrossCorrelationLoss has the same sums but clamps each variance at 1e-5
    instead (measured up to 6e-5 relative difference in the loss, more where the warped image
    leaves the field of view), so the reference's form is written here."""
    box = [torch.ones(window, dtype=pred.dtype, device=pred.device)] * (pred.ndim - 2)
    t_sum, p_sum, t2_sum, p2_sum, tp_sum = (
        separable_filtering(x, box) for x in (target, pred, target * target, pred * pred, target * pred)
    )
    volume = float(window ** (pred.ndim - 2))
    cross = tp_sum - p_sum * t_sum / volume
    t_var = t2_sum - t_sum * t_sum / volume
    p_var = p2_sum - p_sum * p_sum / volume
    return -(cross * cross / (t_var * p_var + LNCC_EPS)).mean()


def similarity_loss(name: str, ndim: int, window: int = 9):
    """``lncc`` (squared local NCC, box window, in [-1, 0]), ``mse`` or ``mind`` (MIND-SSC
    descriptors compared by MSE, for MR–CT; 3D), as a callable (pred, target)."""
    if name == "lncc":
        return functools.partial(lncc_loss, window=window)
    if name == "mse":
        return F.mse_loss
    if name == "mind":
        if ndim != 3:
            raise ValueError("the mind similarity is defined for 3D images only")
        return lambda pred, target: F.mse_loss(mind_ssc(pred), mind_ssc(target))
    raise ValueError(f"unknown similarity {name!r} (available: lncc, mse, mind)")


def _neighbourhood(ndim: int) -> list[tuple[int, ...]]:
    """The unit offsets along each axis, + then -: the six-neighbourhood in 3D."""
    return [tuple(sign * (d == axis) for d in range(ndim)) for axis in range(ndim) for sign in (1, -1)]


def _ssc_pairs(ndim: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The pairs of neighbourhood points at squared distance 2 (12 in 3D, 4 in 2D)."""
    points = _neighbourhood(ndim)
    return [
        (a, b)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
        if sum((p - q) ** 2 for p, q in zip(a, b)) == 2
    ]


def mind_ssc(image: torch.Tensor, radius: int = 2, dilation: int = 2) -> torch.Tensor:
    """MIND self-similarity-context descriptors ``[B, 12, D, H, W]`` of ``[B, 1, D, H, W]``
    images (``[B, 4, H, W]`` in 2D; Heinrich et al., MICCAI 2013): patch SSDs (box of side
    2·radius + 1) between the pairs of neighbourhood offsets (× dilation) at squared distance 2,
    minus their minimum over the channels, divided by their channel mean (clamped to
    [0.001, 1000] × its image mean), through exp(−·).

    The channels come in the order of :func:`_ssc_pairs`, not in the reference's (which permutes
    them into its C++ implementation's order, rethink-reg-spec §2.1): the MIND loss (a mean of
    squared differences over channels) and ConvexAdam's SSD do not depend on the order, but a
    comparison with the reference's descriptors channel by channel needs that permutation."""
    ndim = image.ndim - 2
    padded = F.pad(image, [dilation] * 2 * ndim, mode="replicate")
    size = image.shape[2:]

    def shifted(offset):
        start = [dilation + o * dilation for o in offset]
        return padded[(slice(None), slice(None), *(slice(s, s + n) for s, n in zip(start, size)))]

    ssd = torch.cat([(shifted(a) - shifted(b)) ** 2 for a, b in _ssc_pairs(ndim)], dim=1)
    pool = F.avg_pool3d if ndim == 3 else F.avg_pool2d
    ssd = pool(F.pad(ssd, [radius] * 2 * ndim, mode="replicate"), 2 * radius + 1, stride=1)
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
