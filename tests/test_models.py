import pytest
import torch

from regbench.models.fields import integrate
from regbench.models.zoo import PRESETS, build, canonical, parameter_count
from regbench.names import grid

# rethink-reg-spec §1.4: reference parameter counts, 3D brain and 2D cardiac configurations
REFERENCE = {
    "VXM": (2_640_211, 919_858),
    "Mam-VXM": (2_822_787, 1_356_066),
    "TM": (46_556_115, 30_941_858),
    "Mam-TM": (46_766_163, 31_219_874),
    "LKU": (2_066_966, 545_157),
    "LessNet": (1_809_059, 642_818),
    "Dual": (1_918_819, 679_282),
    "DWP": (1_886_796, 665_976),
    "DWCP": (1_705_356, 553_656),
    "DWCPI": (1_705_356, 553_656),
    "TM-Dual": (27_442_635, 13_000_490),
    "TM-DWP": (11_385_060, 7_687_424),
    "TM-DWCP": (10_821_300, 7_465_808),
    "TM-DWCPI": (10_821_300, 7_465_808),
    "Less-DWP": (1_764_508, 625_192),
    "Less-DWPI": (1_764_508, 625_192),
    "Less-DWCP": (1_982_236, 643_336),
    "Less-DWCPI": (1_982_236, 643_336),
    "VFA": (1_652_996, 551_396),
}


def test_every_preset_has_a_reference_count():
    assert sorted(canonical(alias) for alias in REFERENCE) == sorted(PRESETS)


@pytest.mark.parametrize("alias", REFERENCE)
def test_parameter_counts_match_reference(alias):
    assert parameter_count(build(alias, 3)) == REFERENCE[alias][0]
    assert parameter_count(build(alias, 2)) == REFERENCE[alias][1]


def _small_shape(net, ndim):
    """The smallest shape whose coarsest level still has more than one voxel."""
    base = (32, 48) if ndim == 2 else (32, 32, 16)
    return tuple(n * net.divisor // 16 for n in base)


def _levels(name):
    return 4 if "W" in name or name == "vfa" else 1


@pytest.mark.parametrize("name", PRESETS + ("cnn-DWCPIS", "lk-DWCPI", "mamba-DWCP", "mambatm-D"))
@pytest.mark.parametrize("ndim", [2, 3])
def test_forward_backward_shapes(name, ndim):
    torch.manual_seed(0)
    net = build(name, ndim).eval()  # eval: stochastic depth off, so that every block gets a gradient
    shape = _small_shape(net, ndim)
    source, target = torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)
    forward, backward = net.both_directions(source, target)
    levels = _levels(name)
    assert len(forward) == len(backward) == levels
    half = tuple(n // 2 for n in shape)
    assert forward[-1].shape == (2, ndim, *half)
    if levels == 4:
        assert [f.shape[2:] for f in forward] == [tuple(n // s for n in shape) for s in (16, 8, 4, 2)]
    (forward[-1].square().mean() + backward[-1].square().mean()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert net.predict(source, target).shape == (2, ndim, *shape)


def test_every_grid_cell_builds_and_runs():
    from regbench.registry import BUILTIN_BACKBONES

    names = grid([b.name for b in BUILTIN_BACKBONES])  # (plugins' backbones add their cells to grid())
    assert set(PRESETS) <= set(names) and "less-D" not in names and len(names) == 36
    for name in names:
        net = build(name, 2).eval()
        shape = _small_shape(net, 2)
        with torch.no_grad():
            flows = net(torch.rand(1, 1, *shape), torch.rand(1, 1, *shape))
        assert len(flows) == _levels(name) and flows[-1].shape == (1, 2, shape[0] // 2, shape[1] // 2), name


def test_diffeomorphic_head_integrates_the_same_network():
    source, target = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    plain, svf = build("cnn", 2), build("cnn-S", 2)
    with torch.no_grad():
        plain.decoder.flow.conv.weight.normal_(0, 0.05)  # a flow large enough for integration to matter
        svf.load_state_dict(plain.state_dict())  # no extra parameters: the same network
        velocity, displacement = plain(source, target)[-1], svf(source, target)[-1]
    assert velocity.abs().max() > 1
    torch.testing.assert_close(displacement, integrate(velocity, 7))
    assert not torch.allclose(displacement, velocity, atol=1e-2)


@pytest.mark.parametrize(
    "name,why",
    [
        ("cnn-WP", "needs 'D'"),
        ("cnn-DC", "need 'WP'"),
        ("cnn-DW", "W and P together"),
        ("vit-DWP", "unknown backbone"),
        ("vfa-D", "complete model"),
        ("cnn-SD", "in that order"),
        ("less-D", "use 'less'"),
        ("cnn-PWD", "in that order"),
        ("CNN", "expected"),
    ],
)
def test_unbuildable_names_say_why(name, why):
    with pytest.raises(ValueError, match=why):
        build(name, 2)


def test_aliases_resolve():
    assert canonical("VXM") == "cnn"
    assert canonical("DWCPI") == "cnn-DWCPI"
    assert canonical("LKU") == "lk" and canonical("Less-DWPI") == "less-DWPI"
    assert canonical("TM-DWCPI") == "swin-DWCPI" and canonical("Mam-TM") == "mambatm"


def test_input_size_must_be_divisible():
    with pytest.raises(ValueError, match="divisible by 16"):
        build("cnn", 2)(torch.rand(1, 1, 40, 48), torch.rand(1, 1, 40, 48))
    with pytest.raises(ValueError, match="divisible by 32"):
        build("swin", 2)(torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48))


@pytest.mark.parametrize("name", ["cnn-DWCPI", "less-DWPI", "lk-DWCPI"])
def test_iterative_models_expose_every_iteration(name):
    net = build(name, 2).eval()
    source, target = torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        steps = net.iteration_flows(source, target)
        final = net(source, target)
    assert [f.shape[2:] for f in steps] == [(2, 3), (4, 6), (8, 12), (8, 12), (16, 24), (16, 24)]
    assert torch.equal(steps[-1], final[-1]) and torch.equal(steps[3], final[2])
    assert not torch.equal(steps[4], steps[5])  # the second iteration refines the first


def test_iteration_flows_need_a_pyramid():
    with pytest.raises(ValueError, match="motion-pyramid"):
        build("cnn-D", 2).iteration_flows(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))


def test_vfa_matching_finds_a_known_shift():
    """Target features equal to source features one voxel along the last axis: the expected
    offset is that voxel, in the displacement convention (target grid → source position)."""
    torch.manual_seed(0)
    source = 10 * torch.randn(1, 16, 12, 12)
    target = torch.roll(source, shifts=-1, dims=-1)  # target(p) = source(p + (0, 1))
    decoder = build("vfa", 2).decoder
    disp = decoder._match(target, source)
    interior = disp[..., 1:-1, 1:-2]
    torch.testing.assert_close(interior[:, 0], torch.zeros_like(interior[:, 0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(interior[:, 1], torch.ones_like(interior[:, 1]), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    "alias,count",
    [("TM", 46_510_035), ("TM-Dual", 27_396_555), ("TM-DWP", 11_338_980), ("TM-DWCP", 10_775_220)],
)
def test_swin_window_sets_the_relative_position_tables(alias, count):
    """CT-CT uses window (5, 4, 5); the reference counts differ from the brain ones accordingly."""
    assert parameter_count(build(alias, 3, window=(5, 4, 5))) == count


def test_mind_descriptors_ignore_contrast_changes_and_see_structure():
    from regbench.losses import mind_ssc, similarity_loss

    rng = torch.Generator().manual_seed(0)
    image = torch.nn.functional.avg_pool3d(torch.rand(1, 1, 24, 24, 24, generator=rng), 3, 1, 1)
    loss = similarity_loss("mind", 3)
    # MIND compares local self-similarity: an affine or inverted contrast leaves it unchanged
    assert torch.allclose(mind_ssc(3 * image + 2), mind_ssc(image), atol=1e-4)
    assert loss(1 - image, image) < 1e-6
    assert loss(image.roll(2, dims=2), image) > 1e-3
    assert mind_ssc(image).shape == (1, 12, 24, 24, 24)
    with pytest.raises(ValueError, match="3D images only"):
        similarity_loss("mind", 2)
