"""Apply a method to every evaluation pair of a manifest and save the displacement fields.

Methods: ``identity`` (zero displacement), ``ants`` (SyN, :mod:`regbench.baselines.ants`) and any
trained model file. Each field is the displacement on the fixed grid, in voxels, that warps the
moving image onto the fixed one. Runtime and peak memory are measured per pair
(:func:`regbench.device.measure`; network: forward pass and upsampling, GPU-synchronised; ANTs:
registration plus field composition, on the CPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from regbench import device as devices
from regbench.baselines import ants
from regbench.data.manifest import Manifest
from regbench.io import save_fields
from regbench.train import load_model


def part_of(pairs: list, part: tuple[int, int]) -> list:
    """Part ``k`` of ``n`` (1-based) of the pairs: contiguous, sizes differing by at most one."""
    k, n = part
    if not 1 <= k <= n:
        raise ValueError(f"part {k}/{n}: expected 1 <= k <= n")
    start, stop = ((len(pairs) * i) // n for i in (k - 1, k))
    return pairs[start:stop]


def _each_pair(manifest: Manifest, desc: str, part: tuple[int, int] = (1, 1)):
    pairs = part_of(manifest.pairs, part)
    if part != (1, 1):
        desc = f"{desc} part {part[0]}/{part[1]}"
    for pair in tqdm(pairs, desc=desc, unit="pair", mininterval=2.0):
        yield pair, manifest.image(pair["fixed"]), manifest.image(pair["moving"])


def register_identity(manifest_path: str | Path, out: str | Path) -> None:
    manifest = Manifest.load(manifest_path)
    shape = [manifest.ndim, *manifest.data["shape"]]
    fields = {p["id"]: np.zeros(shape, np.float32) for p in manifest.pairs}
    save_fields(out, fields, {p["id"]: {"runtime_s": 0.0, "peak_memory_mb": 0.0} for p in manifest.pairs})


def register_ants(
    manifest_path: str | Path, settings: dict, seed: int, out: str | Path, part: tuple[int, int] = (1, 1)
) -> None:
    manifest = Manifest.load(manifest_path)
    fields, costs = {}, {}
    for pair, fixed, moving in _each_pair(manifest, "ANTs", part):
        with devices.measure(torch.device("cpu")) as costs[pair["id"]]:
            fields[pair["id"]] = ants.register_pair(fixed, moving, manifest.spacing, settings, seed)
    save_fields(out, fields, costs)


@torch.no_grad()
def register_model(
    manifest_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: str = "auto",
    threads: int | None = None,
    part: tuple[int, int] = (1, 1),
) -> None:
    manifest = Manifest.load(manifest_path)
    dev = devices.select(device, threads)
    model = load_model(model_path, dev)
    fields, costs = {}, {}
    for pair, fixed, moving in _each_pair(manifest, "register", part):
        f = torch.from_numpy(fixed)[None, None].to(dev)
        m = torch.from_numpy(moving)[None, None].to(dev)
        with devices.measure(dev) as costs[pair["id"]]:
            disp = model.predict(m, f)
        fields[pair["id"]] = disp[0].cpu().numpy()
    save_fields(out, fields, costs)
