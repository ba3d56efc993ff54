"""Surface metrics in mm: HD95, ASSD and NSD, from one pair of distance transforms per label.

Definitions as MONAI's (``compute_hausdorff_distance(percentile=95)``,
``compute_average_surface_distance(symmetric=True)``, ``compute_surface_dice``):

- boundary voxels are the mask minus its binary erosion;
- HD95 is the larger of the two directed 95th percentiles of boundary-to-boundary distances;
- ASSD is the mean of both directions' distances together;
- NSD at tolerance τ is the fraction of both boundaries within τ (≤) of the other.

The voxel spacing is applied to every distance. The distance transform runs only inside the bounding box of
the two masks (one ``find_objects`` pass for all labels), which holds every boundary voxel: several
times faster than on the full volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

METRICS = ("hd95", "assd", "nsd")


def _edges(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def _directed(from_edges: np.ndarray, to_edges: np.ndarray, spacing) -> np.ndarray:
    distance = ndimage.distance_transform_edt(~to_edges, sampling=spacing)
    return distance[from_edges]


def surface_metrics_per_label(
    fixed: np.ndarray, warped: np.ndarray, labels, spacing, tolerance_mm: float
) -> dict[str, dict[int, float]]:
    """``{metric: {label: value}}`` for HD95 and ASSD (mm) and NSD at ``tolerance_mm``; NaN where
    a label is empty in either map."""
    top = int(max(fixed.max(), warped.max(), max(labels)))
    boxes_f = ndimage.find_objects(fixed.astype(np.int64), max_label=top)
    boxes_w = ndimage.find_objects(warped.astype(np.int64), max_label=top)
    out = {metric: {} for metric in METRICS}
    for label in labels:
        bf, bw = boxes_f[label - 1], boxes_w[label - 1]
        if bf is None or bw is None:
            for metric in METRICS:
                out[metric][label] = float("nan")
            continue
        box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(bf, bw))
        ef, ew = _edges(fixed[box] == label), _edges(warped[box] == label)
        to_fixed, to_warped = _directed(ew, ef, spacing), _directed(ef, ew, spacing)
        both = np.concatenate([to_fixed, to_warped])
        out["hd95"][label] = float(max(np.percentile(to_fixed, 95), np.percentile(to_warped, 95)))
        out["assd"][label] = float(both.mean())
        out["nsd"][label] = float(np.mean(both <= tolerance_mm))
    return out
