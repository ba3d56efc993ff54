"""95th-percentile Hausdorff distance in mm.

Same definition as MONAI's ``compute_hausdorff_distance(percentile=95)``: boundary voxels are the
mask minus its binary erosion; the result is the larger of the two directed 95th percentiles of
boundary-to-boundary Euclidean distances, with the voxel spacing applied. The distance transform
runs only inside the bounding box of the two masks (one ``find_objects`` pass for all labels),
which every boundary voxel lies in; this is several times faster than the full volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _edges(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def _directed(from_edges: np.ndarray, to_edges: np.ndarray, spacing) -> np.ndarray:
    distance = ndimage.distance_transform_edt(~to_edges, sampling=spacing)
    return distance[from_edges]


def hd95_per_label(fixed: np.ndarray, warped: np.ndarray, labels, spacing) -> dict[int, float]:
    """HD95 (mm) of each label; NaN where the label is empty in either map."""
    top = int(max(fixed.max(), warped.max(), max(labels)))
    boxes_f = ndimage.find_objects(fixed.astype(np.int64), max_label=top)
    boxes_w = ndimage.find_objects(warped.astype(np.int64), max_label=top)
    out = {}
    for label in labels:
        bf, bw = boxes_f[label - 1], boxes_w[label - 1]
        if bf is None or bw is None:
            out[label] = float("nan")
            continue
        box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(bf, bw))
        ef, ew = _edges(fixed[box] == label), _edges(warped[box] == label)
        out[label] = float(
            max(np.percentile(_directed(ew, ef, spacing), 95), np.percentile(_directed(ef, ew, spacing), 95))
        )
    return out
