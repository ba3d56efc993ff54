"""FireANTs (Jena et al. 2024): multi-scale diffeomorphic registration optimised with adaptive
Riemannian (Adam) steps on the GPU, the GPU-native counterpart of ANTs SyN (pip ``fireants``).

``algorithm``: ``syn`` (symmetric, as ANTs SyN) or ``greedy``; ``similarity``: ``cc`` (local
cross-correlation over a ``cc_kernel`` window), ``mi`` (for multimodal tasks such as MR–CT) or
``mse``; ``scales`` (downsampling factors, coarse to fine) with ``iterations`` per scale, ``lr``,
and the Gaussian smoothing of the warp and of its gradient (voxels). The pair is assumed
pre-aligned (no affine stage), as every regbench task is.

Images go to FireANTs with the study spacing, zero origin and identity direction. The field
comes back as the sampling grid of the moving image (normalised coordinates, last axis first,
corners aligned) and is converted to voxels: regbench's convention. CPU or CUDA (``device``); on
the CPU FireANTs uses its pure-PyTorch paths (its fused CUDA kernels are a separate build) and is
deterministic (tested); it draws no random numbers, so the seed plays no part. FireANTs 1.5.0
fails on grids with an axis under 32 voxels (it enlarges the coarse levels to 32 but not the
finest), so such grids are refused when a study starts (:mod:`regbench.baselines.limits`).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from regbench import device as devices


def _packages():
    try:
        import SimpleITK as sitk
        from fireants.io.image import BatchedImages, Image
        from fireants.registration.greedy import GreedyRegistration
        from fireants.registration.syn import SyNRegistration
    except ImportError as err:
        raise RuntimeError(
            f"method 'fireants' needs the fireants package ({err.name} is missing): "
            "pip install 'regbench[baselines]' (or fireants)"
        ) from None
    for name in list(logging.root.manager.loggerDict):  # each of its modules logs at INFO, per call
        if name.startswith("fireants"):
            logging.getLogger(name).setLevel(logging.ERROR)
    return sitk, Image, BatchedImages, {"syn": SyNRegistration, "greedy": GreedyRegistration}


def prepare(settings: dict) -> None:
    """Import FireANTs once per job, before the pairs are timed."""
    _packages()


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    """Return the displacement ``[ndim, *shape]`` in voxels registering moving to fixed;
    ``settings``: the task's ``fireants`` section (schema defaults filled in)."""
    sitk, Image, BatchedImages, algorithms = _packages()
    device = devices.select(settings["device"], announce=False)
    batches = []
    for array in (fixed, moving):
        image = sitk.GetImageFromArray(np.ascontiguousarray(array, np.float32))
        image.SetSpacing([float(s) for s in reversed(spacing)])
        batches.append(BatchedImages([Image(image, device=str(device))]))
    registration = algorithms[settings["algorithm"]](
        list(settings["scales"]),
        list(settings["iterations"]),
        *batches,
        loss_type=settings["similarity"],
        cc_kernel_size=settings["cc_kernel"],
        optimizer_lr=settings["lr"],
        smooth_warp_sigma=settings["smooth_warp_sigma"],
        smooth_grad_sigma=settings["smooth_grad_sigma"],
        progress_bar=False,
    )
    registration.optimize()
    with torch.no_grad():
        grid = registration.get_warped_coordinates(*batches)[0].double().cpu().numpy()  # [*shape, ndim]
    # normalised [-1, 1] (corners aligned), last axis first -> moving voxel coordinates, first axis first
    size = np.asarray(fixed.shape, np.float64)
    target = (grid[..., ::-1] + 1) / 2 * (size - 1)
    return (np.moveaxis(target, -1, 0) - np.indices(fixed.shape)).astype(np.float32)
