import numpy as np
import pytest

from regbench.baselines.ants import register_pair

SETTINGS = dict(
    type_of_transform="SyNOnly",
    reg_iterations=[20, 10],
    metric="CC",
    metric_radius=2,
    grad_step=0.2,
    flow_sigma=3,
    total_sigma=0,
)


def test_ants_is_reproducible_with_random_sampling_at_seed_zero(tiny_manifest):
    """The 'SyN' preset samples its affine Mattes metric randomly: only a real seed fixes it."""
    from regbench.data.manifest import Manifest

    manifest = Manifest.load(tiny_manifest)
    pair = manifest.pairs[0]
    fixed, moving = manifest.image(pair["fixed"]), manifest.image(pair["moving"])
    sampled = dict(SETTINGS, type_of_transform="SyN")
    runs = [register_pair(fixed, moving, manifest.spacing, sampled, seed=0) for _ in range(3)]
    assert all(np.array_equal(runs[0], run) for run in runs[1:])
    truth = manifest.true_displacement(pair)
    mask = manifest.label_map(pair["fixed"]) > 0
    error = np.linalg.norm(runs[0] - truth, axis=0)[mask].mean()
    assert error < 0.6 * np.linalg.norm(truth, axis=0)[mask].mean()


def test_ants_field_is_in_voxels_with_our_sign():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    fixed = gaussian_filter(rng.random((128, 112)), 4).astype(np.float32)
    moving = np.zeros_like(fixed)
    moving[3:, :] = fixed[:-3, :]  # moving(x + 3 e0) = fixed(x): u = +3 voxels along axis 0
    settings = dict(SETTINGS, reg_iterations=[100, 70, 50])
    disp = register_pair(fixed, moving, (2.0, 1.0), settings, 0)
    assert disp[:, 20:108, 20:92].mean(axis=(1, 2)) == pytest.approx([3.0, 0.0], abs=0.1)
