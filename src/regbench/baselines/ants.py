"""ANTs SyN through antspyx, with its field converted to regbench's voxel-unit convention.

Images are handed to ANTs with an identity direction, zero origin and the study spacing, so ANTs'
physical axes are the array axes scaled by the spacing. The composed forward transform maps a fixed
point to the moving point it samples (the same convention as regbench), so the displacement in
voxels is the physical one divided by the spacing.

Determinism: antsRegistration draws its sampling seed from ``ANTS_RANDOM_SEED`` (regbench seed + 1,
since ANTs treats 0 as unseeded) and is bit-for-bit reproducible only single-threaded, hence one
ITK thread.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


def _ants():
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
    import ants

    return ants


def prepare(settings: dict) -> None:
    """Import antspyx once per job, before the pairs are timed."""
    _ants()


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int):
    """Return the displacement ``[ndim, *shape]`` in voxels registering moving to fixed."""
    # ANTs reads seed 0 as "unseeded" (seeded from the clock; measured: three runs of a Mattes
    # stage gave three results), so every regbench seed maps to a nonzero ANTs seed
    os.environ["ANTS_RANDOM_SEED"] = str(seed + 1)
    ants = _ants()

    spacing = tuple(float(s) for s in spacing)
    f = ants.from_numpy(fixed.astype(np.float32), spacing=spacing)
    m = ants.from_numpy(moving.astype(np.float32), spacing=spacing)
    with tempfile.TemporaryDirectory(prefix="regbench-ants-") as tmp:
        result = ants.registration(
            f,
            m,
            type_of_transform=settings["type_of_transform"],
            reg_iterations=tuple(settings["reg_iterations"]),
            syn_metric=settings["metric"],
            syn_sampling=settings["metric_radius"],
            grad_step=settings["grad_step"],
            flow_sigma=settings["flow_sigma"],
            total_sigma=settings["total_sigma"],
            outprefix=os.path.join(tmp, "reg_"),
        )
        composed = ants.apply_transforms(
            f, m, transformlist=result["fwdtransforms"], compose=os.path.join(tmp, "composed_")
        )
        field = ants.image_read(composed).numpy()  # [*shape, ndim], physical units
    disp = np.moveaxis(field, -1, 0) / np.asarray(spacing).reshape(-1, *[1] * fixed.ndim)
    return disp.astype(np.float32)
