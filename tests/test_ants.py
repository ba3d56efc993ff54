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


def test_ants_is_seeded_and_reproducible(tiny_manifest):
    from regbench.data.manifest import Manifest

    manifest = Manifest.load(tiny_manifest)
    pair = manifest.pairs[0]
    fixed, moving = manifest.image(pair["fixed"]), manifest.image(pair["moving"])
    first, _ = register_pair(fixed, moving, manifest.spacing, SETTINGS, seed=3)
    second, _ = register_pair(fixed, moving, manifest.spacing, SETTINGS, seed=3)
    assert np.array_equal(first, second)
    truth = manifest.true_displacement(pair)
    mask = manifest.label_map(pair["fixed"]) > 0
    error = np.linalg.norm(first - truth, axis=0)[mask].mean()
    assert error < 0.6 * np.linalg.norm(truth, axis=0)[mask].mean()


def test_ants_field_is_in_voxels_with_our_sign():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    fixed = gaussian_filter(rng.random((48, 40)), 2).astype(np.float32)
    moving = np.zeros_like(fixed)
    moving[3:, :] = fixed[:-3, :]  # moving(x + 3 e0) = fixed(x): u = +3 voxels along axis 0
    disp, _ = register_pair(fixed, moving, (2.0, 1.0), dict(SETTINGS, type_of_transform="Translation"), 0)
    assert disp[:, 10:38, 10:30].mean(axis=(1, 2)) == pytest.approx([3.0, 0.0], abs=0.05)
