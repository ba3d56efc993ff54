"""ConvexAdam (Siebert, Hansen and Heinrich, "Fast 3D registration with accurate optimisation and
little learning for Learn2Reg 2021"), written here from the paper's description, in PyTorch.

1. **Features**: MIND-SSC descriptors of both images (:func:`regbench.losses.mind_ssc`; modality
   independent, so the same method serves MR–CT), averaged onto a coarse grid
   (``grid_spacing`` voxels).
2. **Coupled convex optimisation**: an SSD cost volume over every integer displacement within
   ``search_radius`` coarse voxels; each voxel first takes its cheapest displacement, then, for
   each coupling weight λ in ``coupling``, the displacement minimising cost + λ·|d − d̄|², where
   d̄ is the current field smoothed by box filters. The regularisation is thus global while each
   step stays a per-voxel (convex) search.
3. **Adam instance optimisation**: the field, at half the image resolution (as in the paper), is
   refined by Adam on the SSD of the warped MIND features plus ``diffusion`` × the diffusion
   regulariser, for ``iterations`` steps (box-smoothed at every step), then upsampled.

Displacements are in voxels and point into the moving image (regbench's convention). CPU or CUDA
(``device``); deterministic on the CPU.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from regbench import device as devices
from regbench.losses import diffusion_loss, mind_ssc
from regbench.models.fields import warp


def _pool(ndim: int):
    return F.avg_pool3d if ndim == 3 else F.avg_pool2d


def _smooth(field: torch.Tensor, kernel: int = 3, passes: int = 2) -> torch.Tensor:
    """Box-filter a field ``[1, ndim, ...]`` ``passes`` times (replicated borders)."""
    ndim = field.shape[1]
    for _ in range(passes):
        field = _pool(ndim)(F.pad(field, [kernel // 2] * 2 * ndim, mode="replicate"), kernel, stride=1)
    return field


def _cost_volume(fixed: torch.Tensor, moving: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SSD between the fixed features and the moving ones displaced by every integer offset in
    ``[-radius, radius]^ndim``: ``[K, ...]`` costs and the ``[K, ndim]`` offsets."""
    ndim = fixed.ndim - 2
    offsets = torch.tensor(
        list(itertools.product(range(-radius, radius + 1), repeat=ndim)), dtype=torch.float32
    )
    padded = F.pad(moving, [radius] * 2 * ndim, mode="replicate")
    size = fixed.shape[2:]
    costs = torch.empty((len(offsets), *size), device=fixed.device)  # filled in place: one copy
    for k, offset in enumerate(offsets.int().tolist()):
        window = padded[
            (slice(None), slice(None), *(slice(radius + o, radius + o + n) for o, n in zip(offset, size)))
        ]
        costs[k] = ((fixed - window) ** 2).mean(dim=1)[0]
    return costs, offsets


def _coupled_convex(costs: torch.Tensor, offsets: torch.Tensor, coupling: list[float]) -> torch.Tensor:
    """The coarse field ``[1, ndim, ...]`` of the coupled convex optimisation (at most three
    cost-volume-sized tensors alive at once)."""
    ndim = offsets.shape[1]
    offsets = offsets.to(costs.device)
    shape = (-1, *[1] * ndim)
    field = offsets[costs.argmin(0)].movedim(-1, 0)[None]
    for weight in coupling:
        target = _smooth(field)[0]  # [ndim, ...]
        distance = torch.zeros_like(costs)
        for d in range(ndim):
            distance += (offsets[:, d].view(shape) - target[d][None]) ** 2
        field = offsets[distance.mul_(weight).add_(costs).argmin(0)].movedim(-1, 0)[None]
        del distance
    return _smooth(field)


def prepare(settings: dict) -> None:
    """Pay torch's start-up of its optimisers (the first Adam imports torch._dynamo, about 1 s)
    once per job, before the pairs are timed."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    """Return the displacement ``[ndim, *shape]`` in voxels registering moving to fixed;
    ``settings``: the task's ``convexadam`` section (schema defaults filled in)."""
    dev = devices.select(settings["device"], announce=False)
    ndim, step = fixed.ndim, settings["grid_spacing"]
    images = [
        torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None].to(dev) for a in (fixed, moving)
    ]
    features = [mind_ssc(image) for image in images]
    coarse = [_pool(ndim)(f, step) for f in features]
    costs, offsets = _cost_volume(*coarse, settings["search_radius"])
    # instance optimisation at half resolution, as in the paper: the field in half-grid voxels
    half = [_pool(ndim)(f, 2) for f in features]
    mode = "trilinear" if ndim == 3 else "bilinear"
    field = _coupled_convex(costs, offsets, settings["coupling"]) * (step / 2)
    field = F.interpolate(field, size=half[0].shape[2:], mode=mode, align_corners=False)
    field = field.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([field], lr=settings["lr"])
    for _ in range(settings["iterations"]):
        smooth = _smooth(field, passes=1)
        loss = F.mse_loss(warp(half[1], smooth), half[0]) + settings["diffusion"] * diffusion_loss(smooth)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        full = F.interpolate(_smooth(field, passes=1) * 2, size=fixed.shape, mode=mode, align_corners=False)
    return full[0].cpu().numpy().astype(np.float32)
