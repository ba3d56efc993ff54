import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance

from regbench.metrics import (
    dice_per_label,
    endpoint_error,
    hd95_per_label,
    jacobian_determinant,
    nonpositive_percent,
    sdlogj,
)


def blobs(rng, shape, n_labels):
    """A random label map of smooth blobs."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.normal(size=(n_labels + 1, *shape)), sigma=[0, *[3] * len(shape)])
    return np.argmax(noise, axis=0).astype(np.int16)


def test_dice_by_hand_and_empty_label_is_nan():
    a = np.array([[1, 1, 0], [2, 0, 0]])
    b = np.array([[1, 0, 0], [2, 2, 0]])
    out = dice_per_label(a, b, [1, 2, 3])
    assert out[1] == pytest.approx(2 / 3) and out[2] == pytest.approx(2 / 3)
    assert np.isnan(out[3])


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.5, 0.8, 2.5)])
def test_hd95_equals_monai_on_random_label_maps(spacing):
    rng = np.random.default_rng(1)
    fixed, warped = blobs(rng, (30, 34, 26), 4), blobs(rng, (30, 34, 26), 4)
    ours = hd95_per_label(fixed, warped, [1, 2, 3, 4], spacing)
    for label, value in ours.items():
        onehot = [torch.from_numpy((x == label)[None, None].astype(np.float32)) for x in (warped, fixed)]
        reference = compute_hausdorff_distance(*onehot, percentile=95, spacing=spacing).item()
        assert value == pytest.approx(reference, abs=1e-4)


def test_hd95_of_shifted_square_is_the_shift_in_mm():
    a = np.zeros((40, 40), np.int16)
    b = np.zeros_like(a)
    a[10:20, 10:20] = 1
    b[13:23, 10:20] = 1
    assert hd95_per_label(a, b, [1], (2.0, 1.0))[1] == pytest.approx(6.0)


def test_hd95_is_nan_when_a_label_is_missing():
    a = np.zeros((10, 10), np.int16)
    a[2:5, 2:5] = 1
    assert np.isnan(hd95_per_label(a, np.zeros_like(a), [1], (1, 1))[1])


def test_jacobian_of_affine_field_and_of_a_fold():
    grid = np.stack(np.meshgrid(np.arange(20.0), np.arange(20.0), indexing="ij"))
    stretch = 0.5 * grid  # x -> 1.5 x along both axes: det = 2.25
    det = jacobian_determinant(stretch)
    assert np.allclose(det, 2.25)
    assert nonpositive_percent(det) == 0 and sdlogj(det) == pytest.approx(0, abs=1e-12)
    fold = np.zeros_like(grid)
    fold[0, 8:12] = -3.0 * (grid[0, 8:12] - 8)  # rows 8..11 run backwards: det < 0 there
    det = jacobian_determinant(fold)
    assert 0 < nonpositive_percent(det) < 100
    assert sdlogj(det) > 1


def test_endpoint_error_in_mm_on_the_mask():
    truth = np.zeros((2, 8, 8), np.float32)
    disp = truth.copy()
    disp[0] += 1.0  # one voxel along axis 0 = 2 mm
    mask = np.ones((8, 8), bool)
    assert endpoint_error(disp, truth, (2.0, 1.0), mask) == pytest.approx(2.0)
    assert np.isnan(endpoint_error(disp, truth, (2.0, 1.0), ~mask))
