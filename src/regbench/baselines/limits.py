"""Checks of the built-in methods' settings against a task's grid, run when a study starts (torch-free).

Each ``check(settings, grid)`` raises ``ValueError`` with the reason; ``grid``: ``shape`` (voxels),
``spacing`` (mm per axis, None where the data decide) and ``mem_mb`` (the memory the method's job
asks for: ``resources.<method>``, else the evaluation job's). The memory models are fitted to peak
resident memory measured on 2 CPU cores (one process per setting; see config/README.md):

- elastix B-spline: about 1.1 GB of start-up plus 16 bytes per parameter per neighbour of the
  bending-energy Hessian (7^dims), i.e. ``dims × control points × 7^dims × 16`` bytes (2D 96×128
  grid: 1.1–2.2 GB for spacings 8–0.25 mm; 3D 48×64×48: 1.5 GB at 2 mm, 4.0 GB at 1 mm).
- ConvexAdam: about 0.5 GB, plus 300 bytes per voxel (MIND-SSC features, instance optimisation),
  plus four float32 cost volumes of (2r+1)^dims offsets × cells (the volume, the coupling
  distances and their temporaries). Measured: 0.84 GB on a 32³ grid at radius 8 (2-voxel cells),
  3.0 GB with 1-voxel cells, 1.2 and 2.9 GB on a 96³ grid at radius 3 and 5; the model is within
  +15 % of these and never below.
"""

from __future__ import annotations

import math

#: FireANTs 1.5 fails on grids with an axis under this many voxels (fireants.utils.globals.MIN_IMG_SIZE)
FIREANTS_SMALLEST_AXIS = 32
ELASTIX_BASE_MB, ELASTIX_BYTES = 1100, 16
CONVEXADAM_BASE_MB, CONVEXADAM_VOXEL_BYTES, CONVEXADAM_COPIES = 500, 300, 4


def _too_big(method: str, need_mb: float, grid: dict, setting: str) -> None:
    if need_mb > grid["mem_mb"]:
        raise ValueError(
            f"{setting} needs about {need_mb / 1000:.1f} GB of memory, more than the "
            f"{grid['mem_mb']} MB its job asks for (resources.{method}.mem_mb); make the setting "
            "coarser or ask for more memory"
        )


def elastix(settings: dict, grid: dict) -> None:
    spacing = grid["spacing"]
    if spacing is None:
        return
    step = settings["grid_spacing_mm"]
    if step < min(spacing):
        raise ValueError(
            f"grid_spacing_mm {step}: finer than the task's voxels ({'×'.join(map(str, spacing))} mm); "
            "B-spline control points closer than a voxel add memory (gigabytes) and no accuracy"
        )
    points = math.prod(n * s / step + 3 for n, s in zip(grid["shape"], spacing))
    ndim = len(spacing)
    need = ELASTIX_BASE_MB + ndim * points * 7**ndim * ELASTIX_BYTES / 1e6
    _too_big("elastix", need, grid, f"grid_spacing_mm {step} ({points:,.0f} control points)")


def convexadam(settings: dict, grid: dict) -> None:
    step, radius, shape = settings["grid_spacing"], settings["search_radius"], grid["shape"]
    if any(n % step or n % 2 for n in shape):
        raise ValueError(f"grid_spacing {step}: it and 2 must divide the task's shape {shape}")
    coarse = [n // step for n in shape]
    if radius >= max(coarse):
        raise ValueError(
            f"search_radius {radius}: the convex step's grid has {'×'.join(map(str, coarse))} cells of "
            f"{step} voxels, so offsets beyond {max(coarse) - 1} reach only the padding"
        )
    cells = math.prod(coarse)
    offsets = (2 * radius + 1) ** len(shape)
    voxels = math.prod(shape)
    need = (
        CONVEXADAM_BASE_MB + (CONVEXADAM_VOXEL_BYTES * voxels + CONVEXADAM_COPIES * offsets * cells * 4) / 1e6
    )
    _too_big(
        "convexadam", need, grid, f"search_radius {radius} ({offsets:,} offsets × {cells:,} cells of {step})"
    )


def fireants(settings: dict, grid: dict) -> None:
    if min(grid["shape"]) < FIREANTS_SMALLEST_AXIS:
        raise ValueError(
            f"needs at least {FIREANTS_SMALLEST_AXIS} voxels along every axis (FireANTs fails on smaller "
            f"grids); this task's grid is {'×'.join(map(str, grid['shape']))}"
        )
    if len(settings["scales"]) != len(settings["iterations"]):
        raise ValueError(
            f"scales {settings['scales']} and iterations {settings['iterations']}: one iteration count "
            "per scale"
        )
