"""Speed of the evaluation metrics against MONAI's (a benchmark, not a test).

    python bench/metrics.py                       # 160×192×224, 35 labels, 2 threads
    python bench/metrics.py --size 96 112 96 --labels 10
    python bench/metrics.py --fixed a_seg.nii.gz --moving b_seg.nii.gz   # two real label maps

One synthetic pair (compact Voronoi cells in an ellipsoid, and the same cells with moved centres),
anisotropic spacing, a smooth random displacement; or two real label maps (``--fixed``,
``--moving``). regbench computes Dice, HD95, ASSD, NSD per label and SDlogJ and the
non-positive-Jacobian rate; MONAI computes the per-label metrics with its functions
(``compute_dice``, ``compute_hausdorff_distance``, ``compute_average_surface_distance``,
``compute_surface_dice``) on one-hot tensors. The last line compares the per-label metrics:
``ours=<s> monai=<s> speedup=<x> max_abs_diff=<d>``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree


def label_maps(shape, labels: int, seed: int = 0):
    """Brain-like label maps: an ellipsoid cut into ``labels`` compact Voronoi cells; the second
    map moves every cell's centre by up to 3 voxels, so the overlap is realistic (Dice ~0.8)."""
    rng = np.random.default_rng(seed)
    shape = np.asarray(shape)
    grid = np.indices(shape).reshape(len(shape), -1).T
    inside = (((grid - shape / 2) / (0.45 * shape)) ** 2).sum(axis=1) <= 1
    centres = grid[inside][rng.choice(inside.sum(), labels, replace=False)]
    maps = []
    for moved in (centres, centres + rng.uniform(-3, 3, size=centres.shape)):
        cell = cKDTree(moved).query(grid[inside], workers=-1)[1]
        label_map = np.zeros(grid.shape[0], np.int16)
        label_map[inside] = cell + 1
        maps.append(label_map.reshape(shape))
    return maps


def displacement(shape, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = [max(2, n // 16) for n in shape]
    small = ndimage.gaussian_filter(
        rng.normal(scale=3.0, size=(len(shape), *coarse)), sigma=[0, 1, 1, 1][: len(shape) + 1]
    )
    return np.stack([ndimage.zoom(c, [n / m for n, m in zip(shape, coarse)], order=1) for c in small]).astype(
        np.float32
    )


def ours(fixed, warped, disp, labels, spacing, tolerance):
    from regbench import metrics

    tick = time.perf_counter()
    values = {"dice": metrics.dice_per_label(fixed, warped, labels)}
    values |= metrics.surface_metrics_per_label(fixed, warped, labels, spacing, tolerance)
    label_seconds = time.perf_counter() - tick
    det = metrics.jacobian_determinant(disp)
    metrics.sdlogj(det)
    metrics.nonpositive_percent(det)
    metrics.non_diffeomorphic_volume(disp)
    return values, label_seconds, time.perf_counter() - tick


def monai(fixed, warped, labels, spacing, tolerance):
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    tick = time.perf_counter()
    onehot = [
        torch.from_numpy(np.stack([x == 0, *(x == label for label in labels)])[None]) for x in (warped, fixed)
    ]
    values = {
        "dice": compute_dice(*onehot, include_background=False, ignore_empty=True)[0],
        "hd95": compute_hausdorff_distance(*onehot, percentile=95, spacing=spacing)[0],
        "assd": compute_average_surface_distance(*onehot, symmetric=True, spacing=spacing)[0],
        "nsd": compute_surface_dice(*onehot, class_thresholds=[tolerance] * len(labels), spacing=spacing)[0],
    }
    seconds = time.perf_counter() - tick
    return {name: dict(zip(labels, v.tolist())) for name, v in values.items()}, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", nargs="+", type=int, default=[160, 192, 224])
    p.add_argument("--labels", type=int, default=35)
    p.add_argument("--spacing", nargs="+", type=float, help="mm per voxel (default 1.0, 1.2, 0.9)")
    p.add_argument("--tolerance", type=float, default=2.0, help="NSD tolerance in mm")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fixed", help="a real label map (NIfTI) instead of the synthetic one")
    p.add_argument("--moving", help="the second real label map (same grid), as the warped one")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.fixed:
        import nibabel as nib

        fixed, warped = (np.asarray(nib.load(f).dataobj).astype(np.int16) for f in (a.fixed, a.moving))
        a.size, a.labels = list(fixed.shape), int(max(fixed.max(), warped.max()))
    else:
        fixed, warped = label_maps(a.size, a.labels)
    spacing = tuple(a.spacing or (1.0, 1.2, 0.9)[: len(a.size)])
    disp = displacement(a.size)
    labels = list(range(1, a.labels + 1))
    print(f"size {'×'.join(map(str, a.size))}, {a.labels} labels, spacing {spacing}, {a.threads} threads")
    ours_values, ours_labels, ours_all = ours(fixed, warped, disp, labels, spacing, a.tolerance)
    print(f"regbench: label metrics {ours_labels:.2f} s; all metrics (with SDlogJ, % det J <= 0, NDV): {ours_all:.2f} s")
    monai_values, monai_seconds = monai(fixed, warped, labels, spacing, a.tolerance)
    print(f"MONAI:    label metrics {monai_seconds:.2f} s")
    diffs = [
        abs(ours_values[m][label] - monai_values[m][label])
        for m in ours_values
        for label in labels
        if not (np.isnan(ours_values[m][label]) and np.isnan(monai_values[m][label]))
    ]
    print(
        f"ours={ours_labels:.2f} monai={monai_seconds:.2f} speedup={monai_seconds / ours_labels:.1f} "
        f"max_abs_diff={max(diffs):.2e}"
    )


if __name__ == "__main__":
    main()
