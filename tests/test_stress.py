"""The stress-test field generator and stressed sets: seeded, calibrated, invertible."""

import numpy as np
import pandas as pd
import pytest
import torch

from regbench.analysis.stress import breakdown
from regbench.data import stress
from regbench.data.manifest import Manifest
from regbench.models.fields import compose

SVF = {"lattice": 5, "lattice_sigma": 0.0, "fg_sigma": 5, "integration_steps": 5, "calibration_iterations": 3}
SETTINGS = {"cases": 2, "translation_mm": [0, 8], "svf_mm": [0, 6], "seed": 2023, "svf": SVF}


def svf_fields(shape, magnitude, spacing, seed=0, svf=SVF):
    mask = np.zeros(shape, bool)
    mask[tuple(slice(n // 5, n - n // 5) for n in shape)] = True
    rng = np.random.default_rng([seed, 0])
    velocity = stress.random_velocity(shape, stress.foreground_gate(mask, svf["fg_sigma"]), rng, svf)
    return stress.svf_pair(velocity, magnitude, np.asarray(spacing), mask, svf), mask


@pytest.mark.parametrize("shape, spacing", [((64, 80), (2.0, 2.0)), ((32, 40, 36), (1.5, 1.0, 2.0))])
def test_svf_is_calibrated_invertible_and_zero_at_magnitude_zero(shape, spacing):
    (forward, inverse), mask = svf_fields(shape, 6.0, spacing)
    assert stress.p95_mm(forward, spacing, mask) == pytest.approx(6.0, rel=0.05)
    residual = compose(torch.from_numpy(forward)[None], torch.from_numpy(inverse)[None])[0].numpy()
    inner = tuple(slice(4, -4) for _ in shape)  # away from the zero-padded border
    size = np.abs(forward).max()
    assert np.abs(residual[(slice(None), *inner)]).max() < 0.05 * size
    (zero_forward, zero_inverse), _ = svf_fields(shape, 0.0, spacing)
    assert not zero_forward.any() and not zero_inverse.any()


def test_svf_is_identical_on_repeated_runs_and_differs_by_seed():
    (first, _), _ = svf_fields((48, 56), 4.0, (2.0, 2.0))
    (again, _), _ = svf_fields((48, 56), 4.0, (2.0, 2.0))
    (other, _), _ = svf_fields((48, 56), 4.0, (2.0, 2.0), seed=1)
    assert np.array_equal(first, again) and not np.allclose(first, other)


def test_translation_set_moves_the_moving_image_and_its_known_displacement(tiny_manifest, tmp_path):
    path = stress.prepare(tiny_manifest, "translation", SETTINGS, tmp_path, "tiny/stress/translation")
    stressed, source = Manifest.load(path), Manifest.load(tiny_manifest)
    assert [p["id"] for p in stressed.pairs] == [
        "pair-000@0mm",
        "pair-000@8mm",
        "pair-001@0mm",
        "pair-001@8mm",
    ]
    original = source.pairs[0]
    still, moved = stressed.pairs[:2]
    np.testing.assert_allclose(stressed.image(still["moving"]), source.image(original["moving"]), atol=1e-5)
    shift = stressed.true_displacement(moved) - source.true_displacement(original)
    length_mm = np.sqrt(sum((shift[k] * s) ** 2 for k, s in enumerate(source.spacing)))
    np.testing.assert_allclose(length_mm, 8.0, rtol=1e-5)  # the same shift everywhere, 8 mm long
    np.testing.assert_allclose(shift.std(axis=(1, 2)), 0, atol=1e-5)


def test_svf_set_is_intra_subject_with_the_forward_field_as_truth(tiny_manifest, tmp_path):
    path = stress.prepare(tiny_manifest, "svf", SETTINGS, tmp_path, "tiny/stress/svf")
    stressed = Manifest.load(path)
    pair = stressed.pairs[1]
    assert pair["magnitude_mm"] == 6 and pair["case"] == "pair-000"
    fixed_labels = stressed.label_map(pair["fixed"])
    truth = stressed.true_displacement(pair)
    assert stress.p95_mm(truth, stressed.spacing, fixed_labels > 0) == pytest.approx(6.0, rel=0.05)
    # warping the moving image back with the true field recovers the fixed image inside
    from regbench.evaluate import warp_array

    back = warp_array(stressed.image(pair["moving"]), truth, "bilinear")
    fixed = stressed.image(pair["fixed"])
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(back - fixed)[inner].mean() < 0.1 * np.abs(fixed[inner]).mean()
    with pytest.raises(ValueError, match="5 stress cases"):
        stress.prepare(tiny_manifest, "svf", SETTINGS | {"cases": 5}, tmp_path / "x", "x")


def test_breakdown_is_the_first_magnitude_below_the_fraction():
    dice = pd.Series({0: 0.80, 4: 0.78, 8: 0.70, 12: 0.75})
    assert breakdown(dice, +1, 0.9) == 8  # 0.70 < 0.72
    assert np.isnan(breakdown(dice, +1, 0.5))
    error = pd.Series({0: 1.0, 5: 1.05, 10: 1.2})
    assert breakdown(error, -1, 0.9) == 10  # 1.2 > 1 / 0.9


def with_landmarks(manifest_path, count=6):
    """A copy of the manifest (same folder) whose first pairs have landmarks: random fixed points
    inside the grid, moving points carried by the known displacement."""
    import json

    from scipy import ndimage

    source = Manifest.load(manifest_path)
    data = json.loads(manifest_path.read_text())
    rng = np.random.default_rng(0)
    for pair in data["pairs"][:2]:
        fixed = rng.uniform(8, np.array(source.data["shape"]) - 8, (count, source.ndim))
        truth = source.true_displacement(pair)
        moving = fixed + np.stack([ndimage.map_coordinates(c, fixed.T, order=1) for c in truth], axis=1)
        for key, points in (("fixed_landmarks", fixed), ("moving_landmarks", moving)):
            pair[key] = f"pairs/{pair['id']}_{key}.csv"
            np.savetxt(manifest_path.parent / pair[key], points, delimiter=",")
    path = manifest_path.with_name("manifest_landmarks.json")
    path.write_text(json.dumps(data))
    return path


def test_landmarks_are_scored_and_follow_the_stress(tiny_manifest, tmp_path):
    from regbench.evaluate import pair_metrics

    path = with_landmarks(tiny_manifest)
    manifest = Manifest.load(path)
    settings = {
        "protocol": "regbench",
        "nsd_tolerance_mm": 2.0,
        "sdlogj": "textbook",
        "jacobian_mask": "grid",
        "intensity_metrics": [],
    }
    pair = manifest.pairs[0]
    scored = {m: v for _, m, v in pair_metrics(manifest, pair, manifest.true_displacement(pair), settings)}
    assert scored["tre_mm"] < 1e-6  # the true field maps the landmarks exactly
    zero = {
        m: v
        for _, m, v in pair_metrics(manifest, pair, np.zeros_like(manifest.true_displacement(pair)), settings)
    }
    assert zero["tre_mm"] > 1 and zero["tre_p95_mm"] >= zero["tre_mm"]

    translated = Manifest.load(stress.prepare(path, "translation", SETTINGS, tmp_path / "t", "t"))
    still, moved = translated.pairs[:2]
    shift = translated.true_displacement(moved) - translated.true_displacement(still)
    np.testing.assert_allclose(
        translated.landmarks(moved)[1] - translated.landmarks(still)[1],
        shift[:, 0, 0][None].repeat(6, 0),
        atol=1e-4,
    )
    np.testing.assert_allclose(translated.landmarks(moved)[0], manifest.landmarks(pair)[0], atol=1e-4)
    deformed = Manifest.load(stress.prepare(path, "svf", SETTINGS, tmp_path / "s", "s"))
    fixed, moving = deformed.landmarks(deformed.pairs[1])
    truth = deformed.true_displacement(deformed.pairs[1])
    scored = {m: v for _, m, v in pair_metrics(deformed, deformed.pairs[1], truth, settings)}
    assert scored["tre_mm"] < 1e-3 and np.abs(moving - fixed).max() > 0.5
    assert not any("landmarks" in p for p in Manifest.load(tiny_manifest).pairs)
