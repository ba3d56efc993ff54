import pytest
import torch

from regbench.models import PRESETS, build, canonical, parameter_count

# rethink-reg-spec §1.4: reference parameter counts, 3D brain and 2D cardiac configurations
REFERENCE = {
    "cnn": (2_640_211, 919_858),
    "cnn-D": (1_918_819, 679_282),
    "cnn-DWP": (1_886_796, 665_976),
    "cnn-DWCP": (1_705_356, 553_656),
    "cnn-DWCPI": (1_705_356, 553_656),
    "lk": (2_066_966, 545_157),
    "less": (1_809_059, 642_818),
    "less-DWP": (1_764_508, 625_192),
    "less-DWPI": (1_764_508, 625_192),
    "less-DWCP": (1_982_236, 643_336),
    "less-DWCPI": (1_982_236, 643_336),
}


@pytest.mark.parametrize("name", REFERENCE)
def test_parameter_counts_match_reference(name):
    assert parameter_count(build(name, 3)) == REFERENCE[name][0]
    assert parameter_count(build(name, 2)) == REFERENCE[name][1]


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("ndim,shape", [(2, (32, 48)), (3, (32, 32, 16))])
def test_forward_backward_shapes(name, ndim, shape):
    torch.manual_seed(0)
    net = build(name, ndim)
    source, target = torch.rand(2, 1, *shape), torch.rand(2, 1, *shape)
    forward, backward = net.both_directions(source, target)
    levels = 4 if "W" in name else 1
    assert len(forward) == len(backward) == levels
    half = tuple(n // 2 for n in shape)
    assert forward[-1].shape == (2, ndim, *half)
    if levels == 4:
        assert [f.shape[2:] for f in forward] == [tuple(n // s for n in shape) for s in (16, 8, 4, 2)]
    (forward[-1].square().mean() + backward[-1].square().mean()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert net.predict(source, target).shape == (2, ndim, *shape)


@pytest.mark.parametrize(
    "name,why",
    [
        ("cnn-WP", "needs 'D'"),
        ("cnn-DC", "need 'WP'"),
        ("cnn-DW", "W and P together"),
        ("swin-DWP", "unknown backbone"),
        ("lk-DWP", "not available for the 'lk' backbone"),
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


def test_input_size_must_be_divisible():
    with pytest.raises(ValueError, match="divisible by 16"):
        build("cnn", 2)(torch.rand(1, 1, 40, 48), torch.rand(1, 1, 40, 48))


@pytest.mark.parametrize("name", ["cnn-DWCPI", "less-DWPI"])
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
