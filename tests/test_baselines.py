"""The classical baselines beyond ANTs register a known shift, with regbench's sign and units,
reproducibly; a missing package is an error naming the method."""

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.shifts import mean_inside, shifted_pair

ELASTIX = {
    "similarity": "ncc",
    "resolutions": 2,
    "grid_spacing_mm": 8,
    "iterations": 150,
    "samples": 2048,
    "bending_energy": 1.0,
}


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


def test_elastix_bending_energy_smooths_the_field():
    """Two unrelated images: the similarity alone bends the field to fit noise; the penalty
    (elastix's default map has it) must keep it smoother."""
    pytest.importorskip("itk", reason="itk-elastix is not installed (`pip install 'regbench[baselines]'`)")
    from regbench.baselines.elastix import register_pair

    fixed, moving = shifted_pair((48, 64), [0, 0], seed=0)[0], shifted_pair((48, 64), [0, 0], seed=5)[0]

    def roughness(weight):
        disp = register_pair(fixed, moving, (1.0, 2.0), ELASTIX | {"bending_energy": weight}, seed=3)
        return np.mean([np.abs(np.gradient(component)).mean() for component in disp])

    assert roughness(10.0) < 0.8 * roughness(0.0)


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


def test_convexadam_names_a_grid_it_cannot_divide(tiny_manifest, tmp_path):
    """Checked when a study starts (config.check) and again by a registration job started by hand."""
    from regbench.baselines import limits
    from regbench.register import register_method

    grid = {"shape": [30, 32], "spacing": [1.0, 1.0], "mem_mb": 4000}
    with pytest.raises(ValueError, match=r"grid_spacing 4: it and 2 must divide the task's shape \[30, 32\]"):
        limits.convexadam(dict(CONVEXADAM, grid_spacing=4), grid)
    with pytest.raises(ValueError, match=r"method 'convexadam': grid_spacing 5: it and 2 must divide"):
        register_method(tiny_manifest, "convexadam", dict(CONVEXADAM, grid_spacing=5), 0, tmp_path / "f.npz")
    assert not (tmp_path / "f.npz").exists()


# uniGradICON's smallest grid: its coarsest U-Net sees a quarter of it and halves that six times
UNIGRADICON_GRID = 132
NO_UNIGRADICON = "unigradicon is not installed (`pip install 'regbench[baselines]'`)"


def unigradicon_settings(weights, **changes):
    settings = {
        "weights": str(weights),
        "model": "unigradicon",
        "grid": UNIGRADICON_GRID,
        "upper_quantile": 0.99,
        "io_iterations": 0,
        "io_lr": 2e-5,
        "io_similarity": "lncc",
        "device": "cpu",
    }
    return settings | changes


@pytest.mark.slow
def test_unigradicon_loads_its_weights_file_and_returns_the_networks_field_in_voxels(tmp_path):
    """Weights the test makes, for the published architecture: every step outputs zero except the
    last, whose output is a constant vector. The network then moves every point by that vector
    (the package scales its output by 1/10, in coordinates spanning [0, 1] over the grid), so
    the field must be that shift, in voxels, with regbench's sign."""
    pytest.importorskip("unigradicon", reason=NO_UNIGRADICON)
    import torch
    import unigradicon

    from regbench.baselines import unigradicon as method
    from regbench.models.fields import warp

    shape, shift, grid = (24, 32, 20), np.array([1.5, -2.0, 1.0]), UNIGRADICON_GRID
    state = unigradicon.make_network([1, 1, grid, grid, grid], include_last_step=True).regis_net.state_dict()
    state["netPsi.net.lastConv.bias"] = torch.tensor(10 * shift * grid / ((grid - 1) * np.array(shape)))
    torch.save(state, tmp_path / "weights.trch")
    fixed, moving = shifted_pair(shape, shift)
    settings = unigradicon_settings(tmp_path / "weights.trch")
    disp = method.register_pair(fixed, moving, (1.5, 1.0, 2.0), settings, 0)
    assert disp.shape == (3, *shape) and disp.dtype == np.float32
    np.testing.assert_allclose(mean_inside(disp), shift, atol=0.01)
    warped = warp(torch.from_numpy(moving)[None, None], torch.from_numpy(disp)[None])[0, 0].numpy()
    assert np.abs(warped - fixed)[6:-6, 6:-6, 6:-6].max() < 0.02  # the field brings moving onto fixed


def test_unigradicon_refuses_a_weights_file_that_is_not_its_network_naming_it(tmp_path):
    pytest.importorskip("unigradicon", reason=NO_UNIGRADICON)
    import torch

    from regbench.baselines import unigradicon as method

    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.trch")
    (tmp_path / "garbage.trch").write_bytes(b"not a checkpoint")
    for name in ("other.trch", "garbage.trch"):
        with pytest.raises(RuntimeError, match=rf"unigradicon.*{name} is not a unigradicon state dict"):
            method.network(str(tmp_path / name), "unigradicon", UNIGRADICON_GRID, "lncc", "cpu")


def test_unigradicon_missing_weights_are_downloaded_or_named_with_their_url(tmp_path, monkeypatch, server):
    import hashlib

    from regbench.baselines import unigradicon as method

    server.files["weights.trch"] = b"published weights"
    monkeypatch.setitem(method.URLS, "unigradicon", server.url("weights.trch"))
    target = tmp_path / "weights" / "unigradicon.trch"
    assert method.weights_file(unigradicon_settings(target)) == target
    assert target.read_bytes() == b"published weights"
    # no pinned checksum: the first download's is recorded, and a changed file is refused by it
    sha256 = hashlib.sha256(b"published weights").hexdigest()
    assert method.expected_sha256(unigradicon_settings(target), target) == sha256
    target.write_bytes(b"published weights, altered")
    with pytest.raises(RuntimeError, match=rf"unigradicon.trch has sha256 \w+, expected {sha256}"):
        method.network(str(target), "unigradicon", UNIGRADICON_GRID, "lncc", "cpu", sha256)
    # a pinned checksum that the download does not match: nothing is kept under the weights' name
    pinned = tmp_path / "pinned.trch"
    with pytest.raises(RuntimeError, match=r"pinned.trch are missing .*sha256 \w+, expected 0{64}"):
        method.weights_file(unigradicon_settings(pinned, weights_sha256="0" * 64))
    assert not pinned.exists()

    monkeypatch.setitem(method.URLS, "unigradicon", server.url("missing.trch"))
    elsewhere = tmp_path / "elsewhere.trch"
    with pytest.raises(
        RuntimeError, match=r"weights .*elsewhere.trch are missing .*fetch http://.*missing.trch"
    ):
        method.weights_file(unigradicon_settings(elsewhere))
    assert not elsewhere.exists()


def test_unigradicon_weights_default_to_one_file_per_model(tmp_path, monkeypatch, server):
    """Switching ``model`` without naming ``weights`` must not load the other model's file."""
    from regbench.baselines import unigradicon as method

    monkeypatch.chdir(tmp_path)
    for model in ("unigradicon", "multigradicon"):
        server.files[f"{model}.trch"] = model.encode()
        monkeypatch.setitem(method.URLS, model, server.url(f"{model}.trch"))
    settings = {key: value for key, value in unigradicon_settings("").items() if key != "weights"}
    for model in ("unigradicon", "multigradicon"):
        path = method.weights_file(settings | {"model": model})
        assert path == Path(f"resources/weights/{model}-1.0.trch") and path.read_bytes() == model.encode()


def test_unigradicon_names_a_2d_task_and_a_missing_package(monkeypatch):
    from regbench.baselines import unigradicon as method

    fixed, moving = shifted_pair((32, 32), [1, 0])
    with pytest.raises(ValueError, match=r"'unigradicon' registers 3D volumes; this task's images are 2D"):
        method.register_pair(fixed, moving, (1.0, 1.0), unigradicon_settings("w.trch"), 0)
    monkeypatch.setitem(sys.modules, "unigradicon", None)
    with pytest.raises(RuntimeError, match=r"method 'unigradicon' needs the unigradicon package"):
        method.register_pair(fixed[None], moving[None], (1.0,) * 3, unigradicon_settings("w.trch"), 0)


FIREANTS = {
    "algorithm": "greedy",
    "similarity": "cc",
    "scales": [4, 2, 1],
    "iterations": [100, 50, 25],
    "lr": 0.5,
    "cc_kernel": 5,
    "smooth_warp_sigma": 0.5,
    "smooth_grad_sigma": 1.0,
    "device": "cpu",
}


@pytest.mark.parametrize(("shape", "spacing"), [((48, 64), (1.0, 2.0)), ((32, 40, 36), (1.5, 1.0, 1.0))])
def test_fireants_registers_a_known_shift_in_voxels_reproducibly(shape, spacing):
    pytest.importorskip("fireants", reason="fireants is not installed (`pip install 'regbench[baselines]'`)")
    from regbench.baselines.fireants import register_pair

    shift = [1.5, -2.0, 1.0][: len(shape)]
    fixed, moving = shifted_pair(shape, shift)
    disp = register_pair(fixed, moving, spacing, FIREANTS, seed=0)
    assert disp.shape == (len(shape), *shape) and disp.dtype == np.float32
    np.testing.assert_allclose(mean_inside(disp), shift, atol=0.15)
    assert np.array_equal(disp, register_pair(fixed, moving, spacing, FIREANTS, seed=0))


def test_fireants_names_a_grid_it_cannot_register_and_a_missing_package(monkeypatch):
    from regbench.baselines import fireants, limits

    grid = {"shape": [24, 40, 36], "spacing": [1.0] * 3, "mem_mb": 4000}
    with pytest.raises(ValueError, match=r"needs at least 32 voxels .* grid is 24×40×36"):
        limits.fireants(FIREANTS, grid)
    with pytest.raises(
        ValueError, match=r"scales \[2, 1\] and iterations \[100, 50, 25\]: one iteration count"
    ):
        limits.fireants(FIREANTS | {"scales": [2, 1]}, grid | {"shape": [32, 32, 32]})
    monkeypatch.setitem(sys.modules, "fireants.io.image", None)
    with pytest.raises(RuntimeError, match=r"method 'fireants' needs the fireants package"):
        fireants.register_pair(*shifted_pair((32, 32), [1, 0]), (1.0,) * 2, FIREANTS, 0)
