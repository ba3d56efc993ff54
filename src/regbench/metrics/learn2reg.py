"""The Learn2Reg / LUMIR evaluation protocol (``evaluation.protocol: learn2reg``).

Written from the definitions of the challenges' published evaluators (Learn2Reg's
``evaluation.py`` and ``utils.py``, LUMIR's ``L2R_LUMIR_Eval``), so that a task's numbers can be
set beside their leaderboards:

- surface metrics on DeepMind's ``surface-distance`` (the library both evaluators vendor):
  surface elements between voxel corners, each weighted by its area. HD95 is taken at unit
  spacing, as the challenges do, so it is in **voxels** (``hd95_voxels``; mm only on 1 mm
  isotropic grids); ASSD and NSD (at the task's tolerance in mm) use the real spacing;
- SDlogJ: ``std(log(clip(det J + 3, 1e-9, 1e9)))`` with central differences, two voxels cropped
  at every border, over the fixed mask (cropped alike) when ``masked``;
- % det J ≤ 0 on the raw determinant of the same cropped (and masked) region: the challenges
  count it after adding 3 and clipping, which is always 0;
- TRE: the displacement sampled at the fixed keypoints by cubic-spline interpolation
  (``map_coordinates`` order 3), in mm;
- NDV as LUMIR computes it: the digital-diffeomorphism simplices with the odd central
  tetrahedron charged to its cell's last corner, border voxels dropped, over the **moving**
  image's foreground (intensity > 0).

Empty labels follow the same rule as the default protocol (see :mod:`regbench.evaluate`), where
the challenges give HD95 = ∞ for a lost structure.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from regbench.metrics.jacobian import non_diffeomorphic_volume
from regbench.metrics.surface import failure_distance, missing_label_values

#: voxels dropped at every border before the Jacobian statistics
SDLOGJ_CROP = 2


def _surface_distances(fixed: np.ndarray, warped: np.ndarray, spacing) -> dict:
    import surface_distance

    with warnings.catch_warnings():  # it imports from scipy.ndimage's deprecated submodules
        warnings.simplefilter("ignore", DeprecationWarning)
        return surface_distance.compute_surface_distances(fixed, warped, tuple(float(s) for s in spacing))


def surface_metrics_per_label(
    fixed: np.ndarray, warped: np.ndarray, labels, spacing, tolerance_mm: float
) -> dict[str, dict[int, float]]:
    """``{metric: {label: value}}``: ``hd95_voxels``, ``assd`` (mm) and ``nsd`` at
    ``tolerance_mm``, all area-weighted; the failure values where a label is in one map only, NaN
    where in neither."""
    import surface_distance

    unit = (1.0,) * fixed.ndim
    penalties = failure_distance(fixed.shape, unit), failure_distance(fixed.shape, spacing)
    out = {metric: {} for metric in ("hd95_voxels", "assd", "nsd")}
    for label in labels:
        in_fixed, in_warped = fixed == label, warped == label
        missing = missing_label_values(in_fixed.any(), in_warped.any(), *penalties)
        if missing is not None:
            out["hd95_voxels"][label] = missing["hd95"]
            out["assd"][label], out["nsd"][label] = missing["assd"], missing["nsd"]
            continue
        in_mm = _surface_distances(in_fixed, in_warped, spacing)
        in_voxels = in_mm if tuple(spacing) == unit else _surface_distances(in_fixed, in_warped, unit)
        out["hd95_voxels"][label] = float(surface_distance.compute_robust_hausdorff(in_voxels, 95))
        out["assd"][label] = _symmetric_mean(in_mm)
        out["nsd"][label] = float(surface_distance.compute_surface_dice_at_tolerance(in_mm, tolerance_mm))
    return out


def _symmetric_mean(distances: dict) -> float:
    """Area-weighted mean distance over both surfaces together."""
    values = np.concatenate([distances["distances_gt_to_pred"], distances["distances_pred_to_gt"]])
    areas = np.concatenate([distances["surfel_areas_gt"], distances["surfel_areas_pred"]])
    return float(np.sum(values * areas) / np.sum(areas))


def _cropped(array: np.ndarray, width: int) -> np.ndarray:
    return array[(slice(width, -width),) * array.ndim]


def jacobian_statistics(det: np.ndarray, mask: np.ndarray | None) -> dict[str, float]:
    """``sdlogj`` (the "+3" form) and ``nonpositive_jacobian_pct`` (raw det J ≤ 0, in %) of a
    determinant map, two voxels cropped at the borders, over the cropped ``mask`` if given."""
    det = _cropped(det, SDLOGJ_CROP)
    if mask is not None:
        det = det[_cropped(mask, SDLOGJ_CROP)]
    if det.size == 0:
        return {"sdlogj": float("nan"), "nonpositive_jacobian_pct": float("nan")}
    return {
        "sdlogj": float(np.std(np.log(np.clip(det + 3, 1e-9, 1e9)))),
        "nonpositive_jacobian_pct": float(100.0 * np.mean(det <= 0)),
    }


def target_registration_error(disp: np.ndarray, fixed_points, moving_points, spacing) -> np.ndarray:
    """Per-keypoint ``‖(p_f + u(p_f) − p_m) ⊙ spacing‖`` in mm, ``u`` sampled by cubic splines."""
    fixed_points = np.asarray(fixed_points, dtype=np.float64)
    sampled = np.stack([ndimage.map_coordinates(c, fixed_points.T, order=3) for c in disp], axis=1)
    error = (fixed_points + sampled - np.asarray(moving_points)) * np.asarray(spacing, dtype=np.float64)
    return np.sqrt((error**2).sum(axis=1))


def non_diffeomorphic_volume_lumir(disp: np.ndarray, moving_image: np.ndarray) -> float:
    """NDV in % of the moving image's foreground, border voxels excluded, as LUMIR reports it."""
    mask = np.zeros(moving_image.shape, bool)
    mask[(slice(1, -1),) * mask.ndim] = _cropped(moving_image, 1) > 0
    return non_diffeomorphic_volume(disp, mask, odd_tetrahedron_at_last_corner=True)
