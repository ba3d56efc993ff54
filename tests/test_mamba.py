import pytest
import torch

from regbench.models import mamba


def _loop_scan(u, delta, A, B, C, D):
    """The recurrence written out step by step."""
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=u.dtype)
    ys = []
    for t in range(u.shape[-1]):
        h = (
            torch.exp(delta[:, :, t, None] * A) * h
            + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        )
        ys.append((h * C[:, None, :, t]).sum(-1))
    return torch.stack(ys, -1) + D[:, None] * u


def _inputs(length, b=2, d=5, n=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(length)
    u = torch.randn(b, d, length, generator=g, dtype=dtype)
    delta = torch.rand(b, d, length, generator=g, dtype=dtype)
    A = -4 * torch.rand(d, n, generator=g, dtype=dtype)
    B, C = torch.randn(2, b, n, length, generator=g, dtype=dtype)
    return u, delta, A, B, C, torch.randn(d, generator=g, dtype=dtype)


@pytest.mark.parametrize("length", [1, 2, 7, 16, 100, 1025])
def test_chunked_scan_equals_the_recurrence(length):
    args = _inputs(length)
    torch.testing.assert_close(mamba.selective_scan(*args), _loop_scan(*args), rtol=1e-12, atol=1e-12)


def test_parameters_follow_the_mamba_ssm_layout():
    block = mamba.Mamba(32)  # d_inner 64, dt_rank 2, d_state 16
    shapes = {name: tuple(p.shape) for name, p in block.named_parameters()}
    assert shapes == {
        "A_log": (64, 16),
        "D": (64,),
        "in_proj.weight": (128, 32),
        "conv1d.weight": (64, 1, 4),
        "conv1d.bias": (64,),
        "x_proj.weight": (2 + 32, 64),
        "dt_proj.weight": (64, 2),
        "dt_proj.bias": (64,),
        "out_proj.weight": (32, 64),
    }
    dt = torch.nn.functional.softplus(block.dt_proj.bias)
    assert 1e-3 <= dt.min() and dt.max() <= 0.1  # mamba_ssm's time-step initialisation


def test_block_is_causal():
    """A change at token t must not change the outputs before t (one raster-order scan)."""
    torch.manual_seed(0)
    block = mamba.Mamba(8)
    x = torch.randn(1, 50, 8)
    changed = x.clone()
    changed[:, 30] += 1
    with torch.no_grad():
        a, b = block(x), block(changed)
    assert torch.equal(a[:, :30], b[:, :30]) and not torch.allclose(a[:, 30:], b[:, 30:])


@pytest.mark.skipif(
    mamba.selective_scan_fn is None or not torch.cuda.is_available(),
    reason="needs a CUDA GPU with the mamba-ssm package installed",
)
def test_cuda_kernel_matches_pure_pytorch():
    torch.manual_seed(0)
    block = mamba.Mamba(64).cuda()
    x = torch.randn(2, 3000, 64, device="cuda")
    with torch.no_grad():
        fused = block(x)
        kernel, mamba.selective_scan_fn = mamba.selective_scan_fn, None
        try:
            reference = block(x)
        finally:
            mamba.selective_scan_fn = kernel
    torch.testing.assert_close(fused, reference, rtol=1e-3, atol=1e-4)
