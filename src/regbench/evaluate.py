"""Score one method's displacement fields on every evaluation pair.

Output rows (long format, one per pair × label × metric; pair-level metrics have an empty label)::

    task, method, seed, pair_id, fixed, moving, label, metric, value

Label-warping rule, used for every label metric: the moving label map is warped with
nearest-neighbour interpolation by the displacement (zero outside the field of view).

Empty labels, per pair and label, in both protocols:

- absent from the fixed or from the moving map: nothing to register, so every label metric is NaN
  (not scored; the tables count these);
- present in both but absent after warping (registration lost the structure): a failure, never
  dropped: Dice 0, NSD 0, HD95 and ASSD the grid's diagonal (the largest distance in it), and
  the pair's ``lost_labels`` counts it.

``evaluation.protocol: regbench`` (default): ``dice``; ``hd95`` and ``assd`` (mm) and ``nsd`` (at
the task's ``nsd_tolerance_mm``) from boundary voxels, as MONAI defines them; ``sdlogj``
(textbook, or the Learn2Reg "+3" form with ``sdlogj: learn2reg``) over the whole grid;
``nonpositive_jacobian_pct`` (central differences) and ``ndv_pct`` (non-diffeomorphic volume,
digital-diffeomorphism simplices), both in % of the task's ``jacobian_mask``: the whole grid, or
the fixed foreground (label map > 0); ``tre_mm`` and ``tre_p95_mm`` (mean, 95th percentile over
the landmarks, mm) where the pair has landmarks (the displacement sampled linearly at the fixed
landmarks). ``evaluation.protocol: learn2reg``: the same names as the challenges compute them
(:mod:`regbench.metrics.learn2reg`), HD95 in voxels as ``hd95_voxels``.

In both: where the true displacement is known, the endpoint error in mm: ``epe_mm`` and
``epe_p95_mm`` (mean, 95th percentile) on the fixed foreground, ``epe_all_mm`` and
``epe_all_p95_mm`` on the whole grid; the task's ``intensity_metrics`` (``psnr``, ``ssim``,
``mae``) between the fixed and the bilinearly warped moving image. Runtime and peak memory per
pair go to a separate table, so the metrics are reproducible to the byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from regbench import metrics
from regbench.data.manifest import Manifest
from regbench.io import FieldStore, atomic_path, write_csv
from regbench.metrics import learn2reg as learn2reg_metrics
from regbench.models.fields import warp

NAN = float("nan")
COLUMNS = ["task", "method", "seed", "pair_id", "fixed", "moving", "label", "metric", "value"]


def warp_array(array: np.ndarray, disp: np.ndarray, mode: str) -> np.ndarray:
    """Warp a numpy image or label map by a voxel displacement ``[ndim, *shape]``."""
    source = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    return warp(source, torch.from_numpy(np.ascontiguousarray(disp))[None], mode)[0, 0].numpy()


def pair_metrics(
    manifest: Manifest, pair: dict, disp: np.ndarray, settings: dict
) -> list[tuple[str, str, float]]:
    """``(label name, metric, value)`` for one pair, with a task's ``evaluation`` settings
    (defaults in the config schema)."""
    names = manifest.labels
    learn2reg = settings["protocol"] == "learn2reg"
    protocol = learn2reg_metrics if learn2reg else metrics  # its surface metrics and TRE
    fixed, moving = manifest.label_map(pair["fixed"]), manifest.label_map(pair["moving"])
    warped = np.rint(warp_array(moving, disp, "nearest")).astype(np.int16)
    surface = protocol.surface_metrics_per_label(
        fixed, warped, names, manifest.spacing, settings["nsd_tolerance_mm"]
    )
    scored = set(names) & set(np.unique(fixed).tolist()) & set(np.unique(moving).tolist())
    rows = []
    for metric, values in {"dice": metrics.dice_per_label(fixed, warped, names), **surface}.items():
        rows += [(names[label], metric, value if label in scored else NAN) for label, value in values.items()]
    rows.append(("", "lost_labels", float(len(scored - set(np.unique(warped).tolist())))))
    det = metrics.jacobian_determinant(disp)
    # the moving image is read once, and only where a metric needs it
    moving_image = manifest.image(pair["moving"]) if learn2reg or settings["intensity_metrics"] else None
    if learn2reg:
        # the dataset's own mask where it has one (as the Learn2Reg evaluator reads masksTr), else
        # the fixed label map's foreground
        mask = None
        if settings["masked"]:
            own = manifest.mask(pair["fixed"])
            mask = fixed > 0 if own is None else own
        rows += [
            ("", name, value) for name, value in learn2reg_metrics.jacobian_statistics(det, mask).items()
        ]
        rows.append(("", "ndv_pct", learn2reg_metrics.non_diffeomorphic_volume_lumir(disp, moving_image)))
    else:
        mask = fixed > 0 if settings["jacobian_mask"] == "foreground" else None
        rows += [
            ("", "sdlogj", metrics.sdlogj(det, settings["sdlogj"])),
            ("", "nonpositive_jacobian_pct", metrics.nonpositive_percent(det, mask)),
            ("", "ndv_pct", metrics.non_diffeomorphic_volume(disp, mask)),
        ]
    if settings["intensity_metrics"]:
        warped_image = warp_array(moving_image, disp, "bilinear")
        measured = metrics.intensity_metrics(
            manifest.image(pair["fixed"]), warped_image, settings["intensity_metrics"]
        )
        rows += [("", name, value) for name, value in measured.items()]
    landmarks = manifest.landmarks(pair)
    if landmarks is not None:
        errors = protocol.target_registration_error(disp, *landmarks, manifest.spacing)
        rows += [("", "tre_mm", float(errors.mean())), ("", "tre_p95_mm", float(np.percentile(errors, 95)))]
    truth = manifest.true_displacement(pair)
    if truth is not None:
        errors = metrics.endpoint_errors(disp, truth, manifest.spacing, fixed > 0)
        rows += [("", name, value) for name, value in errors.items()]
    return rows


def evaluate(
    manifest_path: str | Path,
    fields_path: str | Path,
    method: str,
    seed: int | None,
    out: str | Path,
    timing_out: str | Path,
    preview_out: str | Path,
    settings: dict,
) -> None:
    """Write the metric rows, the per-pair costs (runtime, peak memory) and a preview of the first
    pair, for the pairs of the field file (all of the manifest's, or one job's part)."""
    manifest = Manifest.load(manifest_path)
    fields = FieldStore(fields_path)
    task = manifest.data["task"]
    pairs = [pair for pair in manifest.pairs if pair["id"] in fields.costs]
    if not pairs:
        raise ValueError(f"{fields_path}: no field for any evaluation pair of {manifest.path}")
    rows, timing = [], []
    for pair in tqdm(pairs, desc=f"evaluate {method}", unit="pair", mininterval=2.0):
        disp = fields[pair["id"]]
        ident = [task, method, seed, pair["id"], pair["fixed"], pair["moving"]]
        rows += [
            [*ident, label, metric, value]
            for label, metric, value in pair_metrics(manifest, pair, disp, settings)
        ]
        timing += [[*ident, "", name, value] for name, value in fields.costs[pair["id"]].items()]
    write_csv(out, pd.DataFrame(rows, columns=COLUMNS))
    write_csv(timing_out, pd.DataFrame(timing, columns=COLUMNS))
    first = pairs[0]
    disp = fields[first["id"]]
    with atomic_path(preview_out) as tmp:
        np.savez_compressed(
            tmp,
            method=method,
            pair_id=first["id"],
            displacement=disp,
            warped=warp_array(manifest.image(first["moving"]), disp, "bilinear"),
        )
