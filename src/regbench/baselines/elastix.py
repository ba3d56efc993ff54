"""elastix B-spline registration (itk-elastix), the other classical standard beside ANTs.

A multi-resolution B-spline transform (``grid_spacing_mm`` between control points at the finest
level) optimised by adaptive stochastic gradient descent on a similarity chosen per task:
``ncc`` (AdvancedNormalizedCorrelation), ``mse`` (AdvancedMeanSquares) or ``mi``
(AdvancedMattesMutualInformation, for multimodal tasks such as MR–CT), plus ``bending_energy``
× the transform's bending energy (TransformBendingEnergyPenalty; 1, as in elastix's default
B-spline map; 0 leaves the transform unregularised).

Images go to elastix with the study spacing, zero origin and identity direction, so physical
axes are the array axes scaled by the spacing; ITK indexes arrays in reverse axis order. The
field comes from transformix: at each fixed voxel, the physical offset to the moving point it
samples, which is regbench's convention once divided by the spacing.

Determinism: the random sampler is seeded from the study seed and elastix runs on one thread,
so a seed gives the same field every run (tested).
"""

from __future__ import annotations

import tempfile

import numpy as np

SIMILARITIES = {
    "ncc": "AdvancedNormalizedCorrelation",
    "mse": "AdvancedMeanSquares",
    "mi": "AdvancedMattesMutualInformation",
}


def _itk():
    try:
        import itk
    except ImportError:
        raise RuntimeError(
            "method 'elastix' needs itk-elastix: pip install 'regbench[baselines]' (or itk-elastix)"
        ) from None
    return itk


def prepare(settings: dict) -> None:
    """Load ITK's modules, which it loads lazily on first use (about 12 s), once per job before
    the pairs are timed."""
    itk = _itk()
    for name in ("ParameterObject", "elastix_registration_method", "transformix_deformation_field"):
        getattr(itk, name)


def register_pair(fixed: np.ndarray, moving: np.ndarray, spacing, settings: dict, seed: int) -> np.ndarray:
    """Return the displacement ``[ndim, *shape]`` in voxels registering moving to fixed;
    ``settings``: the task's ``elastix`` section (schema defaults filled in)."""
    itk = _itk()
    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    images = []
    for array in (fixed, moving):
        image = itk.image_view_from_array(np.ascontiguousarray(array, np.float32))
        image.SetSpacing([float(s) for s in reversed(spacing)])
        images.append(image)
    parameters = itk.ParameterObject.New()
    bspline = parameters.GetDefaultParameterMap(
        "bspline", int(settings["resolutions"]), float(settings["grid_spacing_mm"])
    )
    metrics = [SIMILARITIES[settings["similarity"]]]  # weight 1 (Metric0Weight)
    if settings["bending_energy"] > 0:
        metrics.append("TransformBendingEnergyPenalty")
        bspline["Metric1Weight"] = [str(float(settings["bending_energy"]))]
    bspline["Metric"] = metrics
    bspline["MaximumNumberOfIterations"] = [str(settings["iterations"])]
    bspline["NumberOfSpatialSamples"] = [str(settings["samples"])]
    bspline["RandomSeed"] = [str(seed + 1)]  # elastix reads 0 as "from the clock"
    parameters.AddParameterMap(bspline)
    _, transform = itk.elastix_registration_method(
        images[0], images[1], parameter_object=parameters, log_to_console=False
    )
    # transformix also writes the field to its output directory (the working directory unless
    # told otherwise), where parallel jobs would collide and files would be left behind
    with tempfile.TemporaryDirectory(prefix="regbench-transformix-") as scratch:
        field = itk.transformix_deformation_field(images[1], transform, output_directory=scratch)
        field = itk.array_from_image(field)
    # [*shape, ndim] in ITK's (reversed) component order, mm -> [ndim, *shape] in voxels
    field = np.moveaxis(field[..., ::-1], -1, 0)
    return (field / np.asarray(spacing, np.float32).reshape(-1, *[1] * fixed.ndim)).astype(np.float32)
