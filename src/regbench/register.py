"""Apply a method to every evaluation pair of a manifest and save the displacement fields.

Methods: a trained model file, or any method of the registry (``identity``, ``ants``, a plugin's).
Each field is the displacement on the fixed grid, in voxels, that warps the moving image onto the
fixed one. Runtime and peak memory are measured per pair (:func:`regbench.device.measure`;
network: forward pass and upsampling, GPU-synchronised; other methods: the whole registration,
on their device, after the job's one-time start-up, the method's ``prepare``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from regbench import device as devices
from regbench import registry, snapshots
from regbench.data.manifest import Manifest, part_of
from regbench.io import save_fields


def _each_pair(manifest: Manifest, desc: str, part: tuple[int, int] = (1, 1)):
    pairs = part_of(manifest.pairs, part)
    if part != (1, 1):
        desc = f"{desc} part {part[0]}/{part[1]}"
    for pair in tqdm(pairs, desc=desc, unit="pair", mininterval=2.0):
        yield pair, manifest.image(pair["fixed"]), manifest.image(pair["moving"])


def register_method(
    manifest_path: str | Path,
    name: str,
    settings: dict,
    seed: int,
    out: str | Path,
    part: tuple[int, int] = (1, 1),
) -> None:
    """Register every pair (of ``part``) with the registry's method ``name``."""
    record = registry.method(name)
    owner = f"method {name!r}" + (f" of plugin {record.plugin}" if record.plugin else "")
    register_pair = registry.resolve(record.register, owner)
    manifest = Manifest.load(manifest_path)
    expected = (manifest.ndim, *manifest.data["shape"])
    if record.check:  # the start's checks of the grid, again for a job started by hand
        grid = {"shape": expected[1:], "spacing": manifest.spacing, "mem_mb": math.inf}
        try:
            registry.resolve(record.check, owner)(settings, grid)
        except ValueError as err:
            raise ValueError(f"{owner}: {err}") from None
    where = torch.device("cpu")
    if "device" in settings:  # on a GPU, the peak memory measured is the GPU's
        where = devices.select(settings["device"], announce=False)
    if record.prepare:  # the job's start-up, not the first pair's cost
        registry.resolve(record.prepare, owner)(settings)
    fields, costs = {}, {}
    for pair, fixed, moving in _each_pair(manifest, name, part):
        with devices.measure(where) as costs[pair["id"]]:
            disp = np.asarray(register_pair(fixed, moving, manifest.spacing, settings, seed), np.float32)
        if disp.shape != expected:
            raise ValueError(
                f"{owner}: returned a field of shape {disp.shape} for pair {pair['id']}; expected "
                f"{expected} (channels first, on the fixed grid)"
            )
        fields[pair["id"]] = disp
    save_fields(out, fields, costs, manifest.pairs)


@torch.no_grad()
def register_model(
    manifest_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: str = "auto",
    threads: int | None = None,
    part: tuple[int, int] = (1, 1),
    iteration: int | None = None,
) -> None:
    """Register every pair (of ``part``) with a trained network, or with its snapshot at
    ``iteration``."""
    manifest = Manifest.load(manifest_path)
    dev = devices.select(device, threads)
    model = snapshots.load(model_path, dev, iteration)
    fields, costs = {}, {}
    for pair, fixed, moving in _each_pair(manifest, "register", part):
        f = torch.from_numpy(fixed)[None, None].to(dev)
        m = torch.from_numpy(moving)[None, None].to(dev)
        with devices.measure(dev) as costs[pair["id"]]:
            disp = model.predict(m, f)
        fields[pair["id"]] = disp[0].cpu().numpy()
    save_fields(out, fields, costs, manifest.pairs)
