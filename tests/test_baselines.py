"""The classical baselines beyond ANTs register a known shift, with regbench's sign and units,
reproducibly; a missing package is an error naming the method."""

import sys

import numpy as np
import pytest

from tests.shifts import mean_inside, shifted_pair

ELASTIX = {"similarity": "ncc", "resolutions": 2, "grid_spacing_mm": 8, "iterations": 150, "samples": 2048}


@pytest.mark.parametrize(("shape", "spacing"), [((48, 64), (1.0, 2.0)), ((24, 32, 20), (1.5, 1.0, 1.0))])
def test_elastix_registers_a_known_shift_in_voxels_reproducibly(shape, spacing, tmp_path, monkeypatch):
    pytest.importorskip("itk", reason="itk-elastix is not installed (`pip install 'regbench[baselines]'`)")
    from regbench.baselines.elastix import register_pair

    shift = [1.5, -2.0, 1.0][: len(shape)]
    fixed, moving = shifted_pair(shape, shift)
    monkeypatch.chdir(tmp_path)
    disp = register_pair(fixed, moving, spacing, ELASTIX, seed=3)
    assert not list(tmp_path.iterdir()), "elastix left files in the working directory"
    assert disp.shape == (len(shape), *shape) and disp.dtype == np.float32
    np.testing.assert_allclose(mean_inside(disp), shift, atol=0.15)
    assert np.array_equal(disp, register_pair(fixed, moving, spacing, ELASTIX, seed=3))


def test_a_missing_package_is_named_with_its_method(monkeypatch):
    from regbench.baselines import elastix

    monkeypatch.setitem(sys.modules, "itk", None)  # import itk now fails as if not installed
    with pytest.raises(RuntimeError, match=r"method 'elastix' needs itk-elastix: pip install"):
        elastix.register_pair(*shifted_pair((32, 32), [1, 0]), (1.0, 1.0), ELASTIX, 0)


CONVEXADAM = {
    "device": "cpu",
    "grid_spacing": 2,
    "search_radius": 3,
    "coupling": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
    "iterations": 50,
    "lr": 0.5,
    "diffusion": 1.0,
}


@pytest.mark.parametrize("shape", [(48, 64), (32, 40, 32)])
def test_convexadam_registers_a_known_shift_deterministically(shape):
    from regbench.baselines.convexadam import register_pair

    shift = [1.5, -2.0, 1.0][: len(shape)]
    fixed, moving = shifted_pair(shape, shift)
    disp = register_pair(fixed, moving, (1.0,) * len(shape), CONVEXADAM, seed=0)
    assert disp.shape == (len(shape), *shape) and disp.dtype == np.float32
    np.testing.assert_allclose(mean_inside(disp), shift, atol=0.15)
    assert np.array_equal(disp, register_pair(fixed, moving, (1.0,) * len(shape), CONVEXADAM, seed=0))


def test_convexadam_names_a_grid_it_cannot_divide():
    from regbench.baselines.convexadam import register_pair

    with pytest.raises(
        ValueError, match=r"convexadam: grid_spacing 4 and 2 must divide the image shape \(30, 32\)"
    ):
        register_pair(*shifted_pair((30, 32), [1, 0]), (1.0, 1.0), dict(CONVEXADAM, grid_spacing=4), 0)
