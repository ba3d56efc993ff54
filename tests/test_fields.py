import numpy as np
import pytest
import torch

from regbench.models.correlation import local_correlation
from regbench.models.fields import compose, integrate, resize_flow, warp


def constant(shape, vector):
    return torch.tensor(vector, dtype=torch.float32).reshape(1, -1, *[1] * len(shape)).expand(1, -1, *shape)


def test_warp_by_integer_shift_samples_moving_at_x_plus_u():
    image = torch.rand(1, 1, 12, 10)
    warped = warp(image, constant((12, 10), [2.0, -1.0]).contiguous())
    # warped(x) = image(x + u): rows shift up by 2, columns right by 1; zeros outside
    assert torch.allclose(warped[0, 0, :10, 1:], image[0, 0, 2:, :-1], atol=1e-6)
    assert torch.all(warped[0, 0, 10:] == 0)


def test_compose_of_translations_adds_them():
    a, b = constant((16, 16), [1.5, 0.0]).contiguous(), constant((16, 16), [0.0, -2.0]).contiguous()
    composed = compose(a, b)[..., 4:12, 4:12]
    assert torch.allclose(composed, constant((8, 8), [1.5, -2.0]), atol=1e-5)


def test_resize_flow_doubles_space_and_magnitude():
    flow = constant((8, 8), [1.0, 2.0]).contiguous()
    assert torch.allclose(resize_flow(flow, 2.0), constant((16, 16), [2.0, 4.0]))


def test_integration_of_opposite_velocities_gives_inverse_fields():
    grid = torch.stack(torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij"))
    velocity = 2.0 * torch.sin(grid[[1, 0]] / 32 * 2 * np.pi)[None]
    forward, inverse = integrate(velocity), integrate(-velocity)
    residual = compose(inverse, forward)[..., 6:-6, 6:-6]
    assert residual.abs().max() < 0.05
    assert forward.abs().max() > 1.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_correlation_matches_direct_definition(ndim):
    torch.manual_seed(0)
    shape = (5, 6, 4)[:ndim]
    target, source = torch.randn(1, 3, *shape), torch.randn(1, 3, *shape)
    volume = local_correlation(target, source, radius=1)
    assert volume.shape == (1, 3**ndim, *shape)
    padded = np.pad(source[0].numpy(), [(0, 0)] + [(1, 1)] * ndim)
    offsets = np.stack(np.meshgrid(*[[-1, 0, 1]] * ndim, indexing="ij"), -1).reshape(-1, ndim)
    for k, offset in enumerate(offsets):
        for p in np.ndindex(*shape):
            q = tuple(np.add(p, offset) + 1)
            expected = (target[0][(slice(None), *p)].numpy() * padded[(slice(None), *q)]).sum() / np.sqrt(3)
            assert abs(volume[0, k][p].item() - expected) < 1e-5


def test_correlation_with_and_without_autograd_agree():
    target = torch.randn(2, 5, 6, 7, 8, requires_grad=True)
    source = torch.randn(2, 5, 6, 7, 8, requires_grad=True)
    with_grad = local_correlation(target, source)
    with torch.no_grad():
        without = local_correlation(target, source)
    assert torch.equal(with_grad.detach(), without)
    with_grad.sum().backward()
    assert target.grad.abs().sum() > 0 and source.grad.abs().sum() > 0
