"""The embedded demo study: synthetic subjects made from the MNI152 template that nilearn ships.

Anatomy: nilearn's MNI152 (2009) T1, grey- and white-matter maps and brain mask, which are in its
wheel (no download). Labels: CSF / GM / WM by the largest tissue probability inside the brain mask
(CSF = 1 - GM - WM), split into left and right hemispheres by the sign of the world x coordinate.

Subjects: subject ``i`` is ``template(φ_i(x))`` with ``φ_i = exp(v_i)`` for a random smooth
stationary velocity field ``v_i`` (integrated by scaling and squaring), plus a smooth
multiplicative bias field, a gamma change and Gaussian noise. Since ``φ_i⁻¹ = exp(-v_i)``, every
pair (fixed f, moving m) has a known displacement ``u = φ_m⁻¹ ∘ φ_f - id``, i.e. the moving image
sampled at ``x + u(x)`` equals the fixed image up to intensity changes. ``exp(-v)`` is the
inverse up to the integration error (small for these smooth fields).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from regbench.data import manifest
from regbench.data.manifest import split_subjects, test_pairs
from regbench.models.fields import compose, integrate, warp

LABELS = {1: "L-CSF", 2: "R-CSF", 3: "L-GM", 4: "R-GM", 5: "L-WM", 6: "R-WM"}


def template(resolution: float, dims: int, shape: list[int], slice_z_mm: float):
    """Template image in [0, 1] and its label map on the study grid (centre crop / pad)."""
    from nilearn import datasets

    t1 = datasets.load_mni152_template(resolution=resolution)
    image = t1.get_fdata()
    gm = datasets.load_mni152_gm_template(resolution=resolution).get_fdata()
    wm = datasets.load_mni152_wm_template(resolution=resolution).get_fdata()
    mask = datasets.load_mni152_brain_mask(resolution=resolution).get_fdata() > 0
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    tissue = np.argmax(np.stack([csf, gm, wm]), axis=0)  # 0 csf, 1 gm, 2 wm
    world_x = t1.affine[0, 0] * np.arange(image.shape[0]) + t1.affine[0, 3]
    right = (world_x >= 0)[:, None, None]
    labels = np.where(mask, 1 + 2 * tissue + right, 0).astype(np.int16)
    image = np.where(mask, image, 0.0) / image[mask].max()
    if dims == 2:
        k = int(round((slice_z_mm - t1.affine[2, 3]) / t1.affine[2, 2]))
        if not 0 <= k < image.shape[2]:
            raise ValueError(f"slice_z_mm={slice_z_mm} lies outside the template")
        image, labels = image[:, :, k], labels[:, :, k]
    return _fit(image.astype(np.float32), shape), _fit(labels, shape)


def _fit(array: np.ndarray, shape: list[int]) -> np.ndarray:
    """Centre-crop or zero-pad ``array`` to ``shape``."""
    out = np.zeros(shape, dtype=array.dtype)
    src, dst = [], []
    for n, m in zip(array.shape, shape):
        lo = max((n - m) // 2, 0)
        pad = max((m - n) // 2, 0)
        k = min(n, m)
        src.append(slice(lo, lo + k))
        dst.append(slice(pad, pad + k))
    out[tuple(dst)] = array[tuple(src)]
    return out


def smooth_noise(rng: np.random.Generator, shape, channels: int, spacing_vox: float, std: float):
    """Random smooth field ``[channels, *shape]``: a Gaussian lattice upsampled and smoothed."""
    lattice = [int(np.ceil(n / spacing_vox)) + 1 for n in shape]
    coarse = torch.from_numpy(rng.normal(0.0, std, size=(1, channels, *lattice)).astype(np.float32))
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    dense = F.interpolate(coarse, size=tuple(shape), mode=mode, align_corners=True)[0].numpy()
    sigma = [0] + [spacing_vox / 2] * len(shape)
    return gaussian_filter(dense, sigma=sigma)


def make_subject(image, labels, rng, settings: dict, resolution: float):
    """One synthetic subject: deformed, intensity-changed image, labels and its velocity field."""
    deformation, intensity = settings["deformation"], settings["intensity"]
    velocity = smooth_noise(
        rng,
        image.shape,
        image.ndim,
        deformation["control_spacing_mm"] / resolution,
        deformation["velocity_std_mm"] / resolution,
    )
    v = torch.from_numpy(velocity)[None]
    to_template = integrate(v)
    moved = warp(torch.from_numpy(image)[None, None], to_template)[0, 0].numpy()
    moved_labels = warp(torch.from_numpy(labels.astype(np.float32))[None, None], to_template, "nearest")
    log_bias = smooth_noise(
        rng, image.shape, 1, intensity["bias_spacing_mm"] / resolution, intensity["bias_std"]
    )[0]
    gamma = float(np.exp(rng.normal(0.0, intensity["gamma_std"])))
    noisy = np.clip(moved, 0, None) ** gamma * np.exp(log_bias)
    noisy = noisy + rng.normal(0.0, intensity["noise_std"], size=noisy.shape)
    noisy = np.clip(noisy / np.percentile(noisy, 99.9), 0.0, 1.0).astype(np.float32)
    return noisy, moved_labels[0, 0].numpy().astype(np.int16), v


def prepare(settings: dict, seed: int, out_dir: str | Path, task: str, evaluation_only: bool = False) -> Path:
    """Synthesise the study into ``out_dir`` (every subject a test subject when
    ``evaluation_only``); the manifest is written last."""
    out_dir = Path(out_dir)
    resolution, dims, shape = settings["resolution_mm"], settings["dims"], settings["shape"]
    if len(shape) != dims:
        raise ValueError(f"demo settings: shape {shape} does not have dims={dims} entries")
    spacing = [float(resolution)] * dims
    image, labels = template(resolution, dims, shape, settings["slice_z_mm"])
    ids = [f"sub-{i:03d}" for i in range(settings["subjects"])]
    if evaluation_only:
        splits = {"train": [], "val": [], "test": ids}
    else:
        splits = split_subjects(ids, settings["split"])
    subjects, velocities = {}, {}
    for i, sid in enumerate(tqdm(ids, desc="demo subjects", unit="subject")):
        rng = np.random.default_rng([seed, i])
        img, lab, velocities[sid] = make_subject(image, labels, rng, settings, resolution)
        subjects[sid] = manifest.write_subject(out_dir, sid, img, lab, spacing)
    pairs = []
    for pid, fixed, moving in test_pairs(splits["test"], settings["test_pairs"], seed):
        # u = φ_m⁻¹ ∘ φ_f - id with φ_f = exp(v_f), φ_m⁻¹ = exp(-v_m)
        disp = compose(integrate(-velocities[moving]), integrate(velocities[fixed]))[0].numpy()
        path = f"pairs/{pid}_disp.npy"
        (out_dir / "pairs").mkdir(parents=True, exist_ok=True)
        np.save(out_dir / path, disp.astype(np.float32))
        pairs.append({"id": pid, "fixed": fixed, "moving": moving, "true_displacement": path})
    source = "MNI152 2009 template from nilearn, synthetic deformations (regbench demo)"
    return manifest.write(out_dir, task, spacing, LABELS, subjects, splits, pairs, source, shape)
