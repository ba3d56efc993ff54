"""The equivalence suite's cases: every preset on every task of ``config/paper.yaml``, built as
regbench builds it there, with seeded weights and inputs. Shared by ``tests/test_reference.py``
and by the generator of the reference outputs (``tools/reference/generate.py``), which loads the
same weights into the reference networks of rethink-reg.

Whole networks run on a reduced 3D grid (every decoder and warp behaves the same at any size) and
on the real 2D grid; the Swin encoders, whose windows depend on the size of each stage's map, run
at each 3D task's real size. Outputs are compared on a seeded sample of their entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from regbench.config import training_settings
from regbench.models.blocks import FlowConv
from regbench.models.networks import EarlyFusionNet
from regbench.models.zoo import architecture, build

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reference"
PAPER_CONFIG = ROOT / "config" / "paper.yaml"
#: regbench task -> the reference's task folder (``tasks/<folder>/configs/<preset>_cfg.py``)
TASKS = {
    "brain": "brainmri",
    "lung": "lungct",
    "cardiac": "cardiacmri",
    "abdomen_mrct": "abdomenmrct",
    "abdomen_ctct": "abdomenctct",
}
#: paper name -> the reference's config file
REFERENCE_CONFIGS = {
    "VXM": "vxm_cfg",
    "Mam-VXM": "mam_vxm_cfg",
    "TM": "tm_cfg",
    "Mam-TM": "mam_tm_cfg",
    "LKU": "lku_cfg",
    "LessNet": "lessnet_cfg",
    "Dual": "vxm_dual_cfg",
    "DWP": "vxm_dualpyd_cfg",
    "DWCP": "pwc_cfg",
    "DWCPI": "pwc_iter_cfg",
    "TM-Dual": "tm_dual_cfg",
    "TM-DWP": "tm_dwp_cfg",
    "TM-DWCP": "tm_pwc_cfg",
    "TM-DWCPI": "tm_pwc_iter_cfg",
    "Less-DWP": "less_dualpyd_cfg",
    "Less-DWPI": "less_dwp_iter_cfg",
    "Less-DWCP": "less_pwc_cfg",
    "Less-DWCPI": "less_pwc_iter_cfg",
    "VFA": "vfa_cfg",
}
#: the whole networks' 3D grid: anisotropic, and every Swin stage of a window of 5-7 meets a
#: map larger than, equal to or smaller than it on some axis
REDUCED_GRID = (32, 32, 64)
#: the Swin encoder compared at each 3D task's real size: the dual stream's, which four of the five
#: Swin presets use (TM's is the same stages at twice the width, compared whole at the reduced grid)
SWIN_ENCODERS = ("TM-Dual",)
SEED = 0
SAMPLES = 2048
#: both codes run in float64, where rounding stays far below any real difference (in float32 the
#: networks differ by up to 2e-5 from rounding alone, and a LayerNorm ε of 1e-5 instead of 1e-6
#: moves Mam-VXM by 5e-5)
DTYPE = torch.float64


def paper_config() -> dict:
    return yaml.safe_load(PAPER_CONFIG.read_text())


def task_grid(config: dict, task: str) -> tuple[int, ...]:
    """The task's real image size."""
    return tuple(config["task_settings"][task]["data"]["shape"])


def network_grid(config: dict, task: str) -> tuple[int, ...]:
    """Where the whole networks are compared: the real 2D grid, the reduced 3D one."""
    shape = task_grid(config, task)
    return shape if len(shape) == 2 else REDUCED_GRID


def settings(config: dict, task: str, preset: str) -> dict:
    """The architecture keywords regbench builds ``preset`` with on ``task``."""
    return architecture(training_settings(config, task, preset))


def seeded_network(config: dict, task: str, preset: str) -> torch.nn.Module:
    """The preset as built for the task, with seeded weights, in eval mode and :data:`DTYPE`. The
    flow convolutions (initialised at 1e-5 so that training starts at the identity) get weights of
    1/sqrt(fan-in), so that flows of a few voxels take every warp and correlation off the identity."""
    ndim = len(task_grid(config, task))
    torch.manual_seed(SEED)
    model = build(preset, ndim, **settings(config, task, preset))
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FlowConv):
                weight = module.conv.weight
                fan_in = weight[0].numel()
                weight.copy_(torch.randn(weight.shape, generator=generator) / fan_in**0.5)
    return model.to(DTYPE).eval()


def images(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded smooth random source and target of ``[1, 1, *shape]`` in :data:`DTYPE`, values in
    [0, 1]."""
    generator = torch.Generator().manual_seed(SEED)
    pool = torch.nn.functional.avg_pool3d if len(shape) == 3 else torch.nn.functional.avg_pool2d
    pair = []
    for _ in range(2):
        noise = torch.rand((1, 1, *shape), generator=generator)
        smooth = pool(noise, 5, stride=1, padding=2, count_include_pad=False)
        pair.append(((smooth - smooth.min()) / (smooth.max() - smooth.min())).to(DTYPE))
    return pair[0], pair[1]


def sample(array: torch.Tensor | np.ndarray) -> np.ndarray:
    """A seeded sample of the array's entries (the same positions for the same size)."""
    flat = np.asarray(array, dtype=np.float32).ravel()
    positions = np.random.default_rng(SEED).choice(flat.size, min(SAMPLES, flat.size), replace=False)
    return flat[np.sort(positions)]


def gap(ours, reference) -> float:
    """Largest difference relative to the largest reference value (arrays or tensors)."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def weight_signature(module: torch.nn.Module) -> np.ndarray:
    """One number per parameter tensor (its sum of squares), to tell changed weights from changed
    computation when a fixture no longer matches."""
    return np.array([float(p.detach().double().square().sum()) for p in module.parameters()])


def encoder_input(model: torch.nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    """What the network's encoder reads at ``shape``: the image pair as two channels (early
    fusion) or the source alone (dual stream)."""
    source, target = images(shape)
    return torch.cat([source, target], dim=1) if isinstance(model, EarlyFusionNet) else source


def swin_features(model: torch.nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """The Swin stages' outputs of the network's encoder, fine to coarse (without the conv skip),
    in float32: at the real sizes float64 would double the time, and what this guards against
    (windows, shifts, merging order) moves the stages by 0.1-80 %."""
    return model.encoder.float()(image.float())[1:]


def final_flow(flows) -> torch.Tensor:
    """The finest flow of a network's output (regbench's list, or the reference's tensor, list or
    ``(flow, backward flow)`` pair)."""
    while isinstance(flows, (list, tuple)):
        flows = flows[0] if isinstance(flows, tuple) else flows[-1]
    return flows
