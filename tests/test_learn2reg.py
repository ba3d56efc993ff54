"""The Learn2Reg protocol's metrics against independent computations from the published
definitions, and the empty-label rule of both protocols."""

import numpy as np
import pytest
import torch
from monai.metrics.utils import get_mask_edges
from scipy import ndimage
from scipy.spatial.distance import cdist

from regbench.data.manifest import Manifest, write, write_subject
from regbench.evaluate import pair_metrics
from regbench.metrics import jacobian_determinant, learn2reg, target_registration_error
from tests.test_metrics import blobs, brute_force_ndv


def brute_force_surface(fixed, warped, spacing, tolerance):
    """HD95, ASSD and NSD over MONAI's area-weighted surface elements, every distance by brute
    force: an implementation independent of the one under test."""
    edges_w, edges_f, areas_w, areas_f = (
        t.numpy() for t in get_mask_edges(torch.from_numpy(warped), torch.from_numpy(fixed), spacing=spacing)
    )
    distances = cdist(np.argwhere(edges_f) * spacing, np.argwhere(edges_w) * spacing)
    to_w, to_f = distances.min(1), distances.min(0)
    areas_f, areas_w = areas_f[edges_f], areas_w[edges_w]

    def area_percentile(d, a):  # the smallest distance whose cumulative area reaches 95 %
        order = np.argsort(d, kind="stable")
        cumulative = np.cumsum(a[order]) / a.sum()
        return d[order][min(np.searchsorted(cumulative, 0.95), len(d) - 1)]

    total = areas_f.sum() + areas_w.sum()
    return {
        "hd95": max(area_percentile(to_w, areas_f), area_percentile(to_f, areas_w)),
        "assd": (np.sum(to_w * areas_f) + np.sum(to_f * areas_w)) / total,
        "nsd": (areas_f[to_w <= tolerance].sum() + areas_w[to_f <= tolerance].sum()) / total,
    }


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.5, 0.8, 2.5)])
def test_surface_metrics_equal_a_brute_force_over_area_weighted_surface_elements(spacing):
    rng = np.random.default_rng(1)
    fixed, warped = blobs(rng, (20, 22, 18), 3), blobs(rng, (20, 22, 18), 3)
    ours = learn2reg.surface_metrics_per_label(fixed, warped, [1, 2, 3], spacing, tolerance_mm=2.0)
    for label in (1, 2, 3):
        f, w = fixed == label, warped == label
        in_mm = brute_force_surface(f, w, np.array(spacing), 2.0)
        in_voxels = brute_force_surface(f, w, np.ones(3), 2.0)
        assert ours["hd95_voxels"][label] == pytest.approx(in_voxels["hd95"], abs=1e-6)  # unit spacing
        assert ours["assd"][label] == pytest.approx(in_mm["assd"], rel=1e-5)
        assert ours["nsd"][label] == pytest.approx(in_mm["nsd"], rel=1e-5)


def test_surface_metrics_of_a_shifted_box_by_hand():
    """A 6×6×6 cube shifted by 2 voxels along axis 0: the two end faces (36 area each, per
    surface) are 2 voxels from the other surface, more than 5 % of the area, so HD95 is 2; with a
    tolerance of 1 the shared side faces count and the end faces do not."""
    fixed = np.zeros((16, 12, 12), np.int16)
    fixed[3:9, 3:9, 3:9] = 1
    warped = np.roll(fixed, 2, axis=0)
    out = learn2reg.surface_metrics_per_label(fixed, warped, [1], (1.0, 1.0, 1.0), tolerance_mm=1.0)
    assert out["hd95_voxels"][1] == pytest.approx(2.0)
    assert 0.3 < out["nsd"][1] < 0.85
    same = learn2reg.surface_metrics_per_label(fixed, fixed, [1], (2.0, 1.0, 1.0), tolerance_mm=0.0)
    assert same["hd95_voxels"][1] == same["assd"][1] == 0 and same["nsd"][1] == 1


def test_lost_structure_penalties_are_in_each_metrics_units():
    fixed = np.zeros((10, 12, 14), np.int16)
    fixed[2:5, 2:5, 2:5] = 1
    out = learn2reg.surface_metrics_per_label(fixed, np.zeros_like(fixed), [1, 2], (2.0, 1.0, 1.0), 1.0)
    assert out["hd95_voxels"][1] == pytest.approx(np.linalg.norm([9, 11, 13]))
    assert out["assd"][1] == pytest.approx(np.linalg.norm([18, 11, 13])) and out["nsd"][1] == 0
    assert np.isnan(out["hd95_voxels"][2]) and np.isnan(out["nsd"][2])


def learn2reg_jacobian_by_definition(disp):
    """det(∇u + I) with the [-0.5, 0, 0.5] kernel and zero padding, cropped by 2 (the challenges'
    description), through numpy's determinant."""
    ndim = disp.shape[0]
    kernel = np.array([-0.5, 0.0, 0.5])
    gradient = np.empty((*disp.shape[1:], ndim, ndim))
    for i in range(ndim):
        for k in range(ndim):
            shape = [1] * ndim
            shape[k] = 3
            gradient[..., i, k] = ndimage.correlate(disp[i], kernel.reshape(shape), mode="constant")
    det = np.linalg.det(gradient + np.eye(ndim))
    return det[(slice(2, -2),) * ndim]


def test_sdlogj_and_folding_follow_the_challenge_definition():
    rng = np.random.default_rng(0)
    disp = ndimage.gaussian_filter(rng.normal(0, 6, (3, 14, 15, 16)), (0, 1.2, 1.2, 1.2))
    mask = np.zeros(disp.shape[1:], bool)
    mask[4:10, 3:12, 5:13] = True
    det = learn2reg_jacobian_by_definition(disp)
    for region, kept in ((None, det), (mask, det[mask[2:-2, 2:-2, 2:-2]])):
        stats = learn2reg.jacobian_statistics(jacobian_determinant(disp), region)
        assert stats["sdlogj"] == pytest.approx(np.std(np.log(np.clip(kept + 3, 1e-9, 1e9))), rel=1e-9)
        assert stats["nonpositive_jacobian_pct"] == pytest.approx(100 * np.mean(kept <= 0))
    assert (det <= 0).any()  # counted on the raw determinant, where the challenges count 0


def test_border_folds_are_cropped_away():
    disp = np.zeros((2, 20, 20))
    disp[0, 0] = 3.0  # row 0 jumps past rows 1 to 3: det J ≤ 0 at rows 0 and 1 only
    det = jacobian_determinant(disp)
    assert (det <= 0).any()
    assert learn2reg.jacobian_statistics(det, None) == {"sdlogj": 0.0, "nonpositive_jacobian_pct": 0.0}


def test_tre_interpolates_cubically():
    """A quadratic displacement: cubic splines reproduce it between the voxels, linear
    interpolation does not."""
    x = np.arange(24.0)
    disp = np.zeros((3, 24, 20, 20))
    disp[0] = (0.02 * (x - 12) ** 2)[:, None, None]
    fixed = np.array([[10.5, 9.0, 10.0], [13.25, 10.0, 9.5]])
    moving = fixed + np.stack([0.02 * (fixed[:, 0] - 12) ** 2, 0 * fixed[:, 0], 0 * fixed[:, 0]], axis=1)
    spacing = (2.0, 1.0, 1.0)
    np.testing.assert_allclose(
        learn2reg.target_registration_error(disp, fixed, moving, spacing), 0, atol=1e-4
    )
    assert target_registration_error(disp, fixed, moving, spacing).max() > 1e-3


@pytest.mark.parametrize("shape", [(12, 10, 11), (20, 4, 5)])
def test_ndv_counts_lumir_simplices_on_the_moving_foreground(shape):
    rng = np.random.default_rng(5)
    disp = rng.normal(0, 0.6, (3, *shape))
    moving = rng.random(shape) - 0.4  # foreground: intensity > 0
    interior = np.zeros(shape, bool)
    interior[1:-1, 1:-1, 1:-1] = True
    expected = brute_force_ndv(disp, interior & (moving > 0), odd_owner=(1, 1, 1))
    assert learn2reg.non_diffeomorphic_volume_lumir(disp, moving) == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(brute_force_ndv(disp, interior & (moving > 0)), rel=1e-6)


@pytest.fixture
def three_label_manifest(tmp_path):
    """Fixed has labels 1 and 2; moving has 1 and 3 (label 1 the same square)."""
    fixed, moving = np.zeros((2, 24, 24), np.int16)
    fixed[4:10, 4:10] = moving[4:10, 4:10] = 1
    fixed[14:20, 14:20] = 2
    moving[14:20, 2:8] = 3
    image = np.ones((24, 24), np.float32)
    subjects = {
        s: write_subject(tmp_path, s, image, labels, (1.0, 1.0))
        for s, labels in (("f", fixed), ("m", moving))
    }
    pairs = [{"id": "pair-000", "fixed": "f", "moving": "m"}]
    path = write(
        tmp_path, "t", (1.0, 1.0), {1: "one", 2: "two", 3: "three"}, subjects, {}, pairs, "test", (24, 24)
    )
    return Manifest.load(path)


@pytest.mark.parametrize("protocol", ["regbench", "learn2reg"])
def test_labels_absent_from_either_image_are_unscored_and_lost_ones_fail(three_label_manifest, protocol):
    settings = {
        "protocol": protocol,
        "masked": False,
        "nsd_tolerance_mm": 1.0,
        "sdlogj": "textbook",
        "jacobian_mask": "grid",
        "intensity_metrics": [],
    }
    pair = three_label_manifest.pairs[0]
    hd95 = "hd95_voxels" if protocol == "learn2reg" else "hd95"
    kept = {
        (lab, m): v
        for lab, m, v in pair_metrics(three_label_manifest, pair, np.zeros((2, 24, 24), np.float32), settings)
    }
    assert kept[("one", "dice")] == 1 and kept[("", "lost_labels")] == 0
    assert all(np.isnan(kept[(lab, m)]) for lab in ("two", "three") for m in ("dice", hd95, "nsd"))
    away = np.zeros((2, 24, 24), np.float32)
    away[0] = 30.0  # samples outside the moving image: every label vanishes
    lost = {(lab, m): v for lab, m, v in pair_metrics(three_label_manifest, pair, away, settings)}
    assert lost[("one", "dice")] == 0 and lost[("one", "nsd")] == 0
    assert lost[("one", hd95)] == pytest.approx(np.hypot(23, 23)) and lost[("", "lost_labels")] == 1
    assert np.isnan(lost[("two", "dice")])


def test_the_evaluators_surface_library_is_the_pinned_one_and_never_sees_an_empty_surface(monkeypatch):
    """surface-distance 0.1 is pinned (pyproject): it writes np.Inf, which NumPy 2 removed, where a
    surface is empty; regbench scores such labels before calling it, so the call never happens."""
    from importlib.metadata import version

    import surface_distance

    assert version("surface-distance") == "0.1"
    calls = []
    real = surface_distance.compute_surface_distances
    monkeypatch.setattr(
        surface_distance,
        "compute_surface_distances",
        lambda a, b, s: calls.append((a.any(), b.any())) or real(a, b, s),
    )
    fixed = np.zeros((24, 24, 24), np.int16)
    fixed[4:10, 4:10, 4:10], fixed[14:20, 14:20, 14:20] = 1, 2
    warped = np.where(fixed == 2, 0, fixed)  # label 2 lost
    learn2reg.surface_metrics_per_label(fixed, warped, [1, 2], (1.0, 1.0, 1.0), 1.0)
    assert calls and all(a and b for a, b in calls)
