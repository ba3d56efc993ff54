"""Surface metrics in mm: HD95, ASSD and NSD, from one pair of distance transforms per label.

Definitions as MONAI's (``compute_hausdorff_distance(percentile=95)``,
``compute_average_surface_distance(symmetric=True)``, ``compute_surface_dice``):

- boundary voxels are the mask minus its binary erosion;
- HD95 is the larger of the two directed 95th percentiles of boundary-to-boundary distances;
- ASSD is the mean of both directions' distances together;
- NSD at tolerance τ is the fraction of both boundaries within τ (≤) of the other.

The voxel spacing is applied to every distance. All labels' boundaries come from one pass over
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


def surface_metrics_per_label(
    fixed: np.ndarray, warped: np.ndarray, labels, spacing, tolerance_mm: float
) -> dict[str, dict[int, float]]:
    """``{metric: {label: value}}`` for HD95 and ASSD (mm) and NSD at ``tolerance_mm``; NaN where
    a label is empty in either map."""
    edges_f, edges_w = boundaries(fixed, spacing), boundaries(warped, spacing)
    out = {metric: {} for metric in METRICS}
    for label in labels:
        if label not in edges_f or label not in edges_w:
            for metric in METRICS:
                out[metric][label] = float("nan")
            continue
        ef, ew = edges_f[label], edges_w[label]
        to_fixed = cKDTree(ef).query(ew, workers=-1)[0]
        to_warped = cKDTree(ew).query(ef, workers=-1)[0]
        both = np.concatenate([to_fixed, to_warped])
        out["hd95"][label] = float(max(np.percentile(to_fixed, 95), np.percentile(to_warped, 95)))
        out["assd"][label] = float(both.mean())
        out["nsd"][label] = float(np.mean(both <= tolerance_mm))
    return out
