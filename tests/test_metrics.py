import numpy as np
import pytest
import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

from regbench.metrics import (
    dice_per_label,
    endpoint_errors,
    intensity_metrics,
    jacobian_determinant,
    non_diffeomorphic_volume,
    nonpositive_percent,
    sdlogj,
    surface_metrics_per_label,
    target_registration_error,
)


def hd95_per_label(fixed, warped, labels, spacing):
    return surface_metrics_per_label(fixed, warped, labels, spacing, tolerance_mm=1.0)["hd95"]


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
def test_surface_metrics_equal_monai_on_random_label_maps(spacing):
    rng = np.random.default_rng(1)
    fixed, warped = blobs(rng, (30, 34, 26), 4), blobs(rng, (30, 34, 26), 4)
    ours = surface_metrics_per_label(fixed, warped, [1, 2, 3, 4], spacing, tolerance_mm=2.0)
    for label in (1, 2, 3, 4):
        onehot = [torch.from_numpy((x == label)[None, None].astype(np.float32)) for x in (warped, fixed)]
        hd95 = compute_hausdorff_distance(*onehot, percentile=95, spacing=spacing).item()
        assd = compute_average_surface_distance(*onehot, symmetric=True, spacing=spacing).item()
        with_background = [torch.cat([1 - x, x], dim=1) for x in onehot]
        nsd = compute_surface_dice(*with_background, class_thresholds=[2.0], spacing=spacing).item()
        assert ours["hd95"][label] == pytest.approx(hd95, abs=1e-4)
        assert ours["assd"][label] == pytest.approx(assd, abs=1e-4)
        assert ours["nsd"][label] == pytest.approx(nsd, abs=1e-4)


def test_assd_and_nsd_of_a_shifted_square_by_hand():
    """A 10×10 square shifted 3 rows (2 mm each). Boundary-to-boundary distances of the 36
    boundary pixels, the same both ways: the leading row 6 mm (×10); the trailing row 0, 1, 2, 3,
    4, 4, 3, 2, 1, 0 mm (columns, 1 mm each); the side columns 4, 2, then 0 (×6) mm on each side."""
    a = np.zeros((40, 40), np.int16)
    b = np.zeros_like(a)
    a[10:20, 10:20] = 1
    b[13:23, 10:20] = 1
    out = surface_metrics_per_label(a, b, [1], (2.0, 1.0), tolerance_mm=1.0)
    assert out["assd"][1] == pytest.approx((60 + 20 + 2 * 6) / 36)
    assert out["nsd"][1] == pytest.approx((4 + 2 * 6) / 36)
    assert surface_metrics_per_label(a, b, [1], (2.0, 1.0), tolerance_mm=6.0)["nsd"][1] == 1.0


def test_hd95_of_shifted_square_is_the_shift_in_mm():
    a = np.zeros((40, 40), np.int16)
    b = np.zeros_like(a)
    a[10:20, 10:20] = 1
    b[13:23, 10:20] = 1
    assert hd95_per_label(a, b, [1], (2.0, 1.0))[1] == pytest.approx(6.0)


def test_a_lost_label_is_a_failure_and_a_label_in_neither_map_is_nan():
    a = np.zeros((10, 13), np.int16)
    a[2:5, 2:5] = 1
    lost = surface_metrics_per_label(a, np.zeros_like(a), [1, 2], (2.0, 1.0), tolerance_mm=1.0)
    diagonal = np.hypot(9 * 2.0, 12 * 1.0)  # between the centres of opposite corner voxels, mm
    assert lost["hd95"][1] == lost["assd"][1] == pytest.approx(diagonal) and lost["nsd"][1] == 0
    made_up = surface_metrics_per_label(np.zeros_like(a), a, [1], (2.0, 1.0), tolerance_mm=1.0)
    assert made_up["hd95"][1] == pytest.approx(diagonal) and made_up["nsd"][1] == 0
    assert all(np.isnan(lost[metric][2]) for metric in ("hd95", "assd", "nsd"))
    assert dice_per_label(a, np.zeros_like(a), [1])[1] == 0


def test_jacobian_of_affine_field_and_of_a_fold():
    grid = np.stack(np.meshgrid(np.arange(20.0), np.arange(20.0), indexing="ij"))
    stretch = 0.5 * grid  # x -> 1.5 x along both axes: det = 2.25
    det = jacobian_determinant(stretch)
    assert np.allclose(det, 2.25)
    assert nonpositive_percent(det) == 0 and sdlogj(det) == pytest.approx(0, abs=1e-12)
    assert sdlogj(det, "learn2reg") == pytest.approx(0, abs=1e-12)
    fold = np.zeros_like(grid)
    fold[0, 8:12] = -3.0 * (grid[0, 8:12] - 8)  # rows 8..11 run backwards: det < 0 there
    det = jacobian_determinant(fold)
    assert 0 < nonpositive_percent(det) < 100
    assert sdlogj(det) > 1 and 0 < sdlogj(det, "learn2reg") < sdlogj(det)
    rows = np.zeros((20, 20), bool)
    rows[8:12] = True
    assert nonpositive_percent(det, rows) > nonpositive_percent(det) and nonpositive_percent(det, ~rows) == 0
    assert np.isnan(nonpositive_percent(det, np.zeros_like(rows)))
    with pytest.raises(ValueError, match="variant"):
        sdlogj(det, "plus3")


def test_endpoint_error_in_mm_on_the_mask():
    truth = np.zeros((2, 8, 8), np.float32)
    disp = truth.copy()
    disp[0] += 1.0  # one voxel along axis 0 = 2 mm
    disp[1, :2] += 4.0  # rows 0-1 also 4 voxels along axis 1: sqrt(4 + 16) mm
    mask = np.zeros((8, 8), bool)
    mask[2:] = True
    errors = endpoint_errors(disp, truth, (2.0, 1.0), mask)
    assert errors["epe_mm"] == pytest.approx(2.0) and errors["epe_p95_mm"] == pytest.approx(2.0)
    assert errors["epe_all_mm"] == pytest.approx((48 * 2 + 16 * np.sqrt(20)) / 64)
    assert errors["epe_all_p95_mm"] == pytest.approx(np.sqrt(20))
    assert np.isnan(endpoint_errors(disp, truth, (2.0, 1.0), np.zeros_like(mask))["epe_mm"])


def test_tre_samples_the_displacement_at_fixed_landmarks():
    disp = np.zeros((3, 10, 12, 14), np.float32)
    disp[1] = np.arange(12, dtype=np.float32)[None, :, None] * 0.5  # u_1(x) = x_1 / 2
    fixed = np.array([[2.0, 4.0, 6.0], [5.0, 3.5, 1.0]])
    moving = fixed + np.array([0.0, 1.0, 0.0]) * fixed[:, 1:2] * 0.5  # exactly where u points
    spacing = (1.0, 2.0, 3.0)
    np.testing.assert_allclose(target_registration_error(disp, fixed, moving, spacing), 0, atol=1e-6)
    initial = target_registration_error(np.zeros_like(disp), fixed, moving, spacing)
    np.testing.assert_allclose(initial, fixed[:, 1] * 0.5 * 2.0)  # the landmark offset in mm
    with pytest.raises(ValueError, match="landmarks"):
        target_registration_error(disp, fixed[:, :2], moving[:, :2], spacing)


@pytest.mark.parametrize("shape", [(2, 30, 31), (3, 12, 14, 16)])
def test_jacobian_determinant_equals_linalg_det(shape):
    disp = np.random.default_rng(0).normal(size=shape)
    ndim = shape[0]
    grads = np.stack([np.stack(np.gradient(disp[i]), axis=0) for i in range(ndim)])
    matrices = np.moveaxis(grads + np.eye(ndim).reshape(ndim, ndim, *[1] * ndim), (0, 1), (-2, -1))
    np.testing.assert_allclose(jacobian_determinant(disp), np.linalg.det(matrices), atol=1e-10)


def brute_force_ndv(disp, mask, odd_owner=(0, 0, 0)):
    """NDV by looping over cells and listing every simplex's vertices; orientation from the
    undeformed simplex, so no sign convention is shared with the implementation. The odd central
    tetrahedron is charged to the cell's corner ``odd_owner``."""
    ndim, shape = disp.shape[0], disp.shape[1:]
    phi = disp + np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"))
    if ndim == 2:
        divisions = [
            [(0, 0), (1, 0), (0, 1)],
            [(1, 1), (0, 1), (1, 0)],
            [(1, 0), (1, 1), (0, 0)],
            [(0, 1), (0, 0), (1, 1)],
        ]  # corner first: 2 triangles per division
        charged = [s[0] for s in divisions]
    else:
        even, odd = [(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)], [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]
        divisions, charged = [even, odd], [(0, 0, 0), odd_owner]
        for corner in np.ndindex(2, 2, 2):
            neighbours = [tuple(c ^ (axis == k) for k, c in enumerate(corner)) for axis in range(3)]
            divisions.append([corner, *neighbours])
            charged.append(corner)
    negative = np.zeros(shape)
    for cell in np.ndindex(*(n - 1 for n in shape)):
        for simplex, owner in zip(divisions, charged):
            points = [np.add(cell, v) for v in simplex]
            undeformed = np.linalg.det(np.array([p - points[0] for p in points[1:]], float))
            deformed = np.linalg.det(
                np.array([phi[(slice(None), *p)] - phi[(slice(None), *points[0])] for p in points[1:]])
            )
            volume = np.sign(undeformed) * deformed / (2 if ndim == 2 else 6)
            negative[tuple(np.add(cell, owner))] += max(-volume, 0) / 2
    return 100 * negative[mask].sum() / mask.sum()


@pytest.mark.parametrize("shape", [(6, 7), (19, 4, 5)])  # 19: several slabs
def test_ndv_equals_a_brute_force_count_of_inverted_simplices(shape):
    rng = np.random.default_rng(3)
    disp = rng.normal(0, 0.6, (len(shape), *shape))  # rough enough to fold
    everywhere = np.ones(shape, bool)
    mask = rng.random(shape) < 0.5
    ndv = non_diffeomorphic_volume(disp)
    assert ndv > 0
    assert ndv == pytest.approx(brute_force_ndv(disp, everywhere), rel=1e-9)
    assert non_diffeomorphic_volume(disp, mask) == pytest.approx(brute_force_ndv(disp, mask), rel=1e-9)
    assert np.isnan(non_diffeomorphic_volume(disp, np.zeros(shape, bool)))


@pytest.mark.parametrize("ndim", [2, 3])
def test_ndv_sees_a_fold_that_central_differences_miss(ndim):
    shape = (9,) * ndim
    grid = np.stack(np.meshgrid(*[np.arange(9.0)] * ndim, indexing="ij"))
    assert non_diffeomorphic_volume(np.zeros((ndim, *shape))) == 0
    assert non_diffeomorphic_volume(0.3 * grid) == 0  # affine, no fold
    disp = np.zeros((ndim, *shape))
    disp[(0, *(4,) * ndim)] = 1.5  # one voxel jumps past its right neighbour
    assert nonpositive_percent(jacobian_determinant(disp)) == 0  # central differences skip it
    assert non_diffeomorphic_volume(disp) > 0


def test_intensity_metrics_by_hand_and_ssim_of_an_image_with_itself():
    rng = np.random.default_rng(0)
    fixed = rng.random((30, 40)).astype(np.float32) * 2  # intensity range ~2
    warped = fixed + rng.normal(0, 0.05, fixed.shape).astype(np.float32)
    values = intensity_metrics(fixed, warped, ["psnr", "ssim", "mae"])
    data_range = fixed.max() - fixed.min()
    assert values["psnr"] == pytest.approx(
        10 * np.log10(data_range**2 / np.mean((warped - fixed) ** 2)), rel=1e-5
    )
    assert values["mae"] == pytest.approx(np.mean(np.abs(warped - fixed)), rel=1e-6)
    assert 0 < values["ssim"] < 1
    assert intensity_metrics(fixed, fixed, ["ssim"]) == {"ssim": pytest.approx(1.0)}
    volume = rng.random((12, 14, 16)).astype(np.float32)
    assert intensity_metrics(volume, volume, ["ssim"])["ssim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ncc"):
        intensity_metrics(fixed, warped, ["ncc"])
