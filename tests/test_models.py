import pytest
import torch

from regbench.models.fields import integrate, resize_flow, warp
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


def test_a_task_sets_the_iterations_per_level():
    """The reference's cardiac DWCPI iterates 1-2-1-1: five iteration flows, the second level twice."""
    net = build("cnn-DWCPI", 2, pyramid_iterations=[1, 2, 1, 1]).eval()
    source, target = torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48)
    with torch.no_grad():
        steps = net.iteration_flows(source, target)
    assert [f.shape[2:] for f in steps] == [(2, 3), (4, 6), (4, 6), (8, 12), (16, 24)]
    assert parameter_count(net) == parameter_count(build("cnn-DWCPI", 2))
    with pytest.raises(ValueError, match=r"iterations \[1, 2\]: need one count per level \(4\)"):
        build("cnn-DWCPI", 2, pyramid_iterations=[1, 2])


def test_normalised_correlation_ignores_the_length_of_the_feature_vectors():
    """With unit-vector correlation (the reference's MR-CT TM-DWCP) scaling the source features
    changes nothing; without it, the correlation and so the flows change."""
    from regbench.models.decoders import PyramidDecoder

    torch.manual_seed(0)
    widths = [8, 8, 8, 8]
    shapes = [(2, 3), (4, 6), (8, 12), (16, 24)]
    source = [torch.randn(1, w, *s) for w, s in zip(widths, shapes)]
    target = [torch.randn(1, w, *s) for w, s in zip(widths, shapes)]
    louder = [3.0 * s for s in source]
    for normalise in (True, False):
        torch.manual_seed(1)
        decoder = PyramidDecoder(
            2, widths, [8, 8, 8, 8], correlation_radius=1, normalise_correlation=normalise
        )
        with torch.no_grad():
            same = torch.allclose(decoder(source, target)[-1], decoder(louder, target)[-1], atol=1e-5)
        assert same == normalise


def test_vfa_warps_the_encoder_feature_before_projecting_it():
    """From level 1 on, VFA's projection conv sees the source feature warped by the upsampled
    flow of the level before (the reference's order), not the raw feature."""
    decoder = build("vfa", 2).decoder
    torch.manual_seed(0)
    source = [torch.randn(1, c.in_channels, 2**i * 2, 2**i * 3) for i, c in enumerate(decoder.projections)]
    target = [torch.randn_like(s) for s in source]
    seen = []  # the input of every projection call: level 0 source, level 0 target, level 1 source, ...
    for conv in decoder.projections:
        conv.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        flows = decoder(source, target)
    torch.testing.assert_close(seen[2], warp(source[1], resize_flow(flows[0], 2.0)))
    torch.testing.assert_close(seen[3], target[1])


def test_lncc_adds_the_epsilon_to_the_variance_product_as_the_reference():
    from monai.losses import LocalNormalizedCrossCorrelationLoss

    from regbench.losses import LNCC_EPS, lncc_loss

    torch.manual_seed(0)
    pred, target = (torch.nn.functional.avg_pool2d(torch.rand(1, 1, 20, 24), 3, 1, 1) for _ in range(2))
    # the windowed sums as one full 5×5 convolution each (the reference's way), then its formula
    ones = torch.ones(1, 1, 5, 5)
    t, p, tt, pp, tp = (
        torch.nn.functional.conv2d(x, ones, padding=2)
        for x in (target, pred, target**2, pred**2, target * pred)
    )
    cross, t_var, p_var = tp - p * t / 25, tt - t * t / 25, pp - p * p / 25
    expected = -(cross**2 / (t_var * p_var + LNCC_EPS)).mean()
    torch.testing.assert_close(lncc_loss(pred, target, 5), expected, rtol=1e-5, atol=1e-7)
    # close to MONAI's clamped form on textured images; a flat region is 0, not NaN
    monai = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=5, kernel_type="rectangular")
    torch.testing.assert_close(lncc_loss(pred, target, 5), monai(pred, target), rtol=1e-3, atol=0)
    flat = torch.zeros(1, 1, 20, 24)
    assert lncc_loss(flat, target, 5) == 0


def test_every_builtin_dual_stream_encoder_has_half_the_widths():
    """The paper's D variants halve their encoders (VXM 16…128 → 8…64, TM E 96 → 48): one rule
    for every built-in backbone, also the grid cells beyond the paper (mamba-D, lk-D)."""
    from regbench import registry

    built_in = [
        b for b in registry.backbones().values() if not (b.plugin or b.separate_streams or b.complete)
    ]
    assert {b.name for b in built_in} == {"cnn", "swin", "mamba", "mambatm", "lk"}
    for backbone in built_in:
        encoder = registry.resolve(backbone.encoder, backbone.name)
        for ndim in (2, 3):
            early, dual = encoder(ndim, 2, None).feature_widths, encoder(ndim, 1, None).feature_widths
            assert list(dual) == [w // 2 for w in early], backbone.name


def test_a_feature_map_of_one_window_is_shifted_behind_the_mask_as_in_transmorph():
    """A map exactly one 8×8 window wide keeps its window and its shift of 4: the shifted block's
    attention then joins only the tokens of one quadrant (the mask's regions), as TransMorph's
    does. (MONAI's stage drops the shift there, so every token would see every other.)"""
    from monai.networks.nets.swin_unetr import compute_mask

    from regbench.models.swin import FixedWindowBlock

    torch.manual_seed(0)
    block = FixedWindowBlock(16, 2, (8, 8), (4, 4), qkv_bias=False).eval()
    mask = compute_mask([8, 8], (8, 8), (4, 4), torch.device("cpu"))
    x = torch.randn(1, 8, 8, 16)
    nudged = x.clone()
    nudged[0, 1, 2, 0] += 5.0  # one channel: a shift of all channels would vanish in the LayerNorm
    with torch.no_grad():
        changed = (block.forward_part1(nudged, mask) - block.forward_part1(x, mask)).abs().sum(-1)[0] > 1e-6
    quadrant = torch.zeros(8, 8, dtype=torch.bool)
    quadrant[:4, :4] = True
    assert torch.equal(changed, quadrant)


def test_swin_stages_equal_monai_where_the_maps_are_larger_than_the_window():
    from monai.networks.nets.swin_unetr import BasicLayer

    from regbench.models.swin import SwinStage

    torch.manual_seed(0)
    for shape, window in (((1, 32, 16, 24), (8, 8)), ((1, 32, 10, 12, 14), (5, 6, 7))):
        monai = BasicLayer(32, 2, 4, window, [0.0, 0.0], qkv_bias=False).eval()
        ours = SwinStage(32, 2, 4, window, [0.0, 0.0]).eval()
        ours.load_state_dict(monai.state_dict())  # the same blocks, parameter for parameter
        x = torch.randn(*shape)
        with torch.no_grad():
            assert torch.equal(ours(x), monai(x))


def test_the_mind_loss_does_not_depend_on_the_channel_order():
    """regbench's MIND-SSC channels are not in the reference's order (losses.mind_ssc): harmless,
    because the loss averages squared differences over the channels."""
    from regbench.losses import mind_ssc

    rng = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 12, 14, 10, generator=rng), torch.rand(1, 1, 12, 14, 10, generator=rng)
    order = torch.randperm(12, generator=rng)
    ours = torch.nn.functional.mse_loss(mind_ssc(a), mind_ssc(b))
    permuted = torch.nn.functional.mse_loss(mind_ssc(a)[:, order], mind_ssc(b)[:, order])
    assert torch.allclose(ours, permuted)
