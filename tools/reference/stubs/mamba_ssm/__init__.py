"""mamba-ssm's own ``Mamba`` module, from a source checkout (``MAMBA_SSM_SOURCE``), on the CPU:
its CUDA and Triton kernels are not built, so the selective scan is the package's pure-PyTorch
``selective_scan_ref`` and the causal convolution its ``nn.Conv1d`` path."""

import os
import sys
import types
from pathlib import Path

_source = os.environ.get("MAMBA_SSM_SOURCE")
if not _source or not (Path(_source) / "mamba_ssm" / "modules" / "mamba_simple.py").is_file():
    raise ImportError("set MAMBA_SSM_SOURCE to a checkout of state-spaces/mamba (the folder with mamba_ssm/)")
__path__ = [str(Path(_source) / "mamba_ssm")]  # submodules load from the checkout, not its __init__

# the Triton layer norm is imported at module level but used only by the fused path
_layer_norm = types.ModuleType("mamba_ssm.ops.triton.layer_norm")
_layer_norm._layer_norm_fwd = None
_layer_norm.RMSNorm = _layer_norm.layer_norm_fn = _layer_norm.rms_norm_fn = None
sys.modules["mamba_ssm.ops.triton.layer_norm"] = _layer_norm

from mamba_ssm.modules import mamba_simple  # noqa: E402
from mamba_ssm.ops.selective_scan_interface import selective_scan_ref  # noqa: E402

mamba_simple.selective_scan_fn = selective_scan_ref
Mamba = mamba_simple.Mamba
