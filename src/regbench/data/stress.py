"""Stressed evaluation sets: known translations and known smooth deformations of growing size.

From a prepared task, each mode builds one derived set (its own manifest) whose pairs are the
first ``cases`` test pairs at every magnitude of the task's grid, ID'd ``<pair>@<magnitude>mm``:

- ``translation``: the pair's moving image, labels moved by ``t = magnitude · d`` (mm), with a
  unit direction ``d`` drawn once per case (the same at every magnitude, so the curve isolates
  the size). The true displacement, where the task knows the pair's ``u0``, is ``u0 + t``.
- ``svf``: an intra-subject pair. A stationary velocity field is drawn on a coarse control
  lattice (standard normal, optionally Gaussian-smoothed in lattice units), damped towards the
  lattice border by ``∏ (0.25 + 0.75 sin(π s))``, evaluated on the image grid as a cubic
  uniform B-spline, gated by the Gaussian-smoothed fixed foreground, and integrated by scaling and
  squaring. Its scale is calibrated so that the 95th percentile of ``|u|`` in mm over the
  foreground is the magnitude. The moving image is the fixed one warped by the inverse
  ``exp(−v)``; the true displacement is ``exp(v)``.

Landmarks, where the task has them, follow: the moving ones are translated with the moving image;
in ``svf`` mode the pairs are the fixed landmarks ``p`` and ``p + exp(v)(p)``.

Fields come from numpy generators seeded by ``(seed, case)`` and are computed on the CPU in float64,
so they are the same on every machine. The reference draws the lattice on the GPU with a
different seed per magnitude; here one lattice per case is scaled, like the translation
direction. Magnitude 0 gives zero fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from tqdm import tqdm

from regbench.data import manifest
from regbench.data.manifest import Manifest
from regbench.models.fields import integrate, warp

MODES = ("translation", "svf")


def _integrate(velocity: np.ndarray, steps: int) -> np.ndarray:
    return integrate(torch.from_numpy(velocity)[None], steps)[0].numpy()


def foreground_gate(mask: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian-smoothed foreground clipped to [0, 1] (σ in voxels; 0 = the hard mask)."""
    mask = mask.astype(np.float64)
    return mask if sigma == 0 else np.clip(ndimage.gaussian_filter(mask, sigma), 0, 1)


def random_velocity(shape, gate: np.ndarray, rng: np.random.Generator, settings: dict) -> np.ndarray:
    """An unscaled smooth velocity ``[ndim, *shape]`` (voxels) from a B-spline control lattice."""
    ndim, size = len(shape), settings["lattice"]
    lattice = rng.standard_normal((ndim, *(size,) * ndim))
    if settings["lattice_sigma"] > 0:
        lattice = np.stack(
            [ndimage.gaussian_filter(c, settings["lattice_sigma"], mode="nearest") for c in lattice]
        )
    damping = 0.25 + 0.75 * np.sin(np.pi * np.linspace(0, 1, size))
    for axis in range(ndim):
        lattice *= damping.reshape([-1 if a == axis else 1 for a in range(ndim)])
    coords = np.meshgrid(*(np.linspace(0, size - 1, n) for n in shape), indexing="ij")
    # lattice values are the B-spline coefficients: evaluate without the interpolating prefilter
    dense = [ndimage.map_coordinates(c, coords, order=3, prefilter=False, mode="nearest") for c in lattice]
    return np.stack(dense) * gate


def p95_mm(disp: np.ndarray, spacing, mask: np.ndarray) -> float:
    """95th percentile of the displacement length in mm over ``mask``."""
    length = np.sqrt(sum((disp[k] * spacing[k]) ** 2 for k in range(disp.shape[0])))
    return float(np.percentile(length[mask], 95))


def svf_pair(velocity: np.ndarray, magnitude_mm: float, spacing, mask: np.ndarray, settings: dict):
    """``(forward, inverse)`` displacements ``exp(±s v)`` with ``s`` calibrated so that the p95
    of the forward displacement over ``mask`` is ``magnitude_mm``."""
    if magnitude_mm == 0:
        return np.zeros_like(velocity), np.zeros_like(velocity)
    steps = settings["integration_steps"]
    scale = magnitude_mm / p95_mm(velocity, spacing, mask)
    for _ in range(settings["calibration_iterations"]):
        scale *= magnitude_mm / p95_mm(_integrate(scale * velocity, steps), spacing, mask)
    return _integrate(scale * velocity, steps), _integrate(-scale * velocity, steps)


def _warp(array: np.ndarray, disp: np.ndarray, mode: str) -> np.ndarray:
    moved = warp(torch.from_numpy(array.astype(np.float64))[None, None], torch.from_numpy(disp)[None], mode)
    return moved[0, 0].numpy()


def prepare(manifest_path, mode: str, settings: dict, out_dir, task: str) -> Path:
    """Write the stressed set of ``mode`` for the prepared task at ``manifest_path`` into
    ``out_dir``; the manifest (named ``task``) is written last."""
    if mode not in MODES:
        raise ValueError(f"stress mode {mode!r}: expected one of {', '.join(MODES)}")
    source, out_dir = Manifest.load(manifest_path), Path(out_dir)
    cases = source.pairs[: settings["cases"]]
    if len(cases) < settings["cases"]:
        raise ValueError(f"{manifest_path}: {settings['cases']} stress cases asked, {len(cases)} test pairs")
    spacing, magnitudes = np.asarray(source.spacing), settings[f"{mode}_mm"]
    subjects, pairs = {}, []

    def add_subject(name: str, image: np.ndarray, labels: np.ndarray) -> None:
        subjects[name] = manifest.write_subject(out_dir, name, image, np.rint(labels), source.spacing)

    for case, pair in enumerate(tqdm(cases, desc=f"stress {mode}", unit="case")):
        rng = np.random.default_rng([settings["seed"], case])
        fixed_name = f"{pair['id']}-fixed"
        fixed, fixed_labels = source.image(pair["fixed"]), source.label_map(pair["fixed"])
        add_subject(fixed_name, fixed, fixed_labels)
        landmarks = source.landmarks(pair)
        if mode == "translation":
            direction = rng.standard_normal(source.ndim)
            direction /= np.linalg.norm(direction)
            moving, moving_labels = source.image(pair["moving"]), source.label_map(pair["moving"])
            known = source.true_displacement(pair)
        else:
            mask = fixed_labels > 0 if (fixed_labels > 0).any() else np.ones(fixed.shape, bool)
            velocity = random_velocity(
                fixed.shape, foreground_gate(mask, settings["svf"]["fg_sigma"]), rng, settings["svf"]
            )
        for magnitude in magnitudes:
            pid = f"{pair['id']}@{magnitude:g}mm"
            if mode == "translation":
                shift = (magnitude * direction / spacing).reshape(-1, *[1] * source.ndim)
                back = np.broadcast_to(-shift, (source.ndim, *fixed.shape)).copy()
                image, labels = _warp(moving, back, "bilinear"), _warp(moving_labels, back, "nearest")
                truth = None if known is None else known + shift
                if landmarks is not None:
                    points = (landmarks[0], landmarks[1] + shift.ravel())
            else:
                truth, inverse = svf_pair(velocity, magnitude, spacing, mask, settings["svf"])
                image, labels = _warp(fixed, inverse, "bilinear"), _warp(fixed_labels, inverse, "nearest")
                if landmarks is not None:  # the fixed landmarks, carried by the known field
                    moved = [ndimage.map_coordinates(c, landmarks[0].T, order=1) for c in truth]
                    points = (landmarks[0], landmarks[0] + np.stack(moved, axis=1))
            add_subject(pid, image, labels)
            entry = {
                "id": pid,
                "fixed": fixed_name,
                "moving": pid,
                "case": pair["id"],
                "magnitude_mm": magnitude,
            }
            (out_dir / "pairs").mkdir(parents=True, exist_ok=True)
            if truth is not None:
                entry["true_displacement"] = f"pairs/{pid}_disp.npy"
                np.save(out_dir / entry["true_displacement"], truth.astype(np.float32))
            if landmarks is not None:
                for key, array in zip(("fixed_landmarks", "moving_landmarks"), points):
                    entry[key] = manifest.write_landmarks(out_dir, f"{pid}_{key}", array)
            pairs.append(entry)
    splits = {"train": [], "val": [], "test": sorted(subjects)}
    origin = f"{source.data['task']} stressed by {mode} ({', '.join(f'{m:g}' for m in magnitudes)} mm)"
    stress = {"mode": mode, "base_task": source.data["task"], **settings}
    shape = source.data["shape"]
    return manifest.write(
        out_dir, task, source.spacing, source.labels, subjects, splits, pairs, origin, shape, stress=stress
    )
