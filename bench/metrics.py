"""Speed of the evaluation metrics against MONAI's (a benchmark, not a test).

    python bench/metrics.py                       # 160×192×224, 35 labels, 2 threads
    python bench/metrics.py --size 96 112 96 --labels 10
    python bench/metrics.py --fixed a_seg.nii.gz --moving b_seg.nii.gz   # two real label maps

One synthetic pair: a label map of smooth blobs and a shifted, perturbed copy, anisotropic spacing,
a smooth random displacement. regbench computes Dice, HD95, ASSD, NSD per label and SDlogJ and the
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


def label_maps(shape, labels: int, seed: int = 0):
    """Smooth blobs, made at 1/4 resolution and upsampled (nearest); the second map is the first
    shifted by (2, -1, 1) voxels with a few blobs relabelled, so the overlap is realistic."""
    rng = np.random.default_rng(seed)
    coarse = [max(2, n // 4) for n in shape]
    noise = ndimage.gaussian_filter(
        rng.normal(size=(labels + 1, *coarse)), sigma=[0, 1.5, 1.5, 1.5][: len(shape) + 1]
    )
    small = np.argmax(noise, axis=0).astype(np.int16)
    fixed = ndimage.zoom(small, [n / c for n, c in zip(shape, coarse)], order=0)[
        tuple(slice(0, n) for n in shape)
    ]
    warped = np.roll(fixed, (2, -1, 1)[: len(shape)], axis=tuple(range(len(shape))))
    warped[(warped == 3) & (rng.random(warped.shape) < 0.02)] = 4
    return fixed, warped


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
    print(f"regbench: label metrics {ours_labels:.2f} s; with SDlogJ and % det J <= 0: {ours_all:.2f} s")
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
