"""Surface metrics in mm: HD95, ASSD and NSD, from one pair of distance transforms per label.

Definitions as MONAI's (``compute_hausdorff_distance(percentile=95)``,
``compute_average_surface_distance(symmetric=True)``, ``compute_surface_dice``):

- boundary voxels are the mask minus its binary erosion;
- HD95 is the larger of the two directed 95th percentiles of boundary-to-boundary distances;
- ASSD is the mean of both directions' distances together;
- NSD at tolerance τ is the fraction of both boundaries within τ (≤) of the other.

The voxel spacing is applied to every distance. A label present in one map only (a structure that
registration lost, or made up) is a failure, never dropped: HD95 and ASSD take the penalty
:func:`failure_distance` (the grid's diagonal, the largest distance inside it) and NSD 0; a label
absent from both maps gives NaN. All labels' boundaries come from one pass over
each map (a voxel is on its label's boundary when a face neighbour has another label or lies
outside the grid, which is exactly the mask minus its erosion), and each directed distance is a
nearest-neighbour query between the two boundaries' points (k-d tree, exact Euclidean). The cost
grows with the boundary size, not the volume: measured on 160×192×224 with 35 labels, this replaced
per-label distance transforms of the labels' bounding boxes, which took minutes when labels
are scattered over the volume.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

METRICS = ("hd95", "assd", "nsd")


def boundaries(label_map: np.ndarray, spacing) -> dict[int, np.ndarray]:
    """Boundary voxel positions in mm, ``[n, ndim]``, of every non-zero label."""
    edge = np.zeros(label_map.shape, bool)
    for axis in range(label_map.ndim):
        n = label_map.shape[axis]
        lower = [slice(None)] * label_map.ndim
        upper = [slice(None)] * label_map.ndim
        lower[axis], upper[axis] = slice(0, n - 1), slice(1, n)
        differs = label_map[tuple(lower)] != label_map[tuple(upper)]
        edge[tuple(lower)] |= differs
        edge[tuple(upper)] |= differs
        first, last = [slice(None)] * label_map.ndim, [slice(None)] * label_map.ndim
        first[axis], last[axis] = 0, n - 1
        edge[tuple(first)] = True
        edge[tuple(last)] = True
    edge &= label_map != 0
    coords = np.argwhere(edge)
    values = label_map[edge]
    order = np.argsort(values, kind="stable")
    coords, values = coords[order], values[order]
    labels, starts = np.unique(values, return_index=True)
    points = coords * np.asarray(spacing, dtype=np.float64)
    return dict(zip(labels.tolist(), np.split(points, starts[1:])))


def failure_distance(shape, spacing) -> float:
    """The HD95 and ASSD of a lost structure: the diagonal of the grid (between the centres of
    opposite corner voxels), in the units of ``spacing``."""
    return float(np.linalg.norm((np.asarray(shape) - 1) * np.asarray(spacing, dtype=np.float64)))


def missing_label_values(
    present_in_fixed: bool, present_in_warped: bool, hd95_penalty: float, assd_penalty: float
) -> dict | None:
    """The surface metrics of a label missing from a map: NaN when it is in neither map, the
    failure values when it is in one only; ``None`` when it is in both (to be measured)."""
    if present_in_fixed and present_in_warped:
        return None
    if not (present_in_fixed or present_in_warped):
        return dict.fromkeys(METRICS, float("nan"))
    return {"hd95": hd95_penalty, "assd": assd_penalty, "nsd": 0.0}


def surface_metrics_per_label(
    fixed: np.ndarray, warped: np.ndarray, labels, spacing, tolerance_mm: float
) -> dict[str, dict[int, float]]:
    """``{metric: {label: value}}`` for HD95 and ASSD (mm) and NSD at ``tolerance_mm``; the
    failure values where a label is in one map only, NaN where it is in neither."""
    edges_f, edges_w = boundaries(fixed, spacing), boundaries(warped, spacing)
    out = {metric: {} for metric in METRICS}
    penalty = failure_distance(fixed.shape, spacing)
    for label in labels:
        missing = missing_label_values(label in edges_f, label in edges_w, penalty, penalty)
        if missing is not None:
            for metric in METRICS:
                out[metric][label] = missing[metric]
            continue
        ef, ew = edges_f[label], edges_w[label]
        to_fixed = cKDTree(ef).query(ew, workers=-1)[0]
        to_warped = cKDTree(ew).query(ef, workers=-1)[0]
        both = np.concatenate([to_fixed, to_warped])
        out["hd95"][label] = float(max(np.percentile(to_fixed, 95), np.percentile(to_warped, 95)))
        out["assd"][label] = float(both.mean())
        out["nsd"][label] = float(np.mean(both <= tolerance_mm))
    return out
